import { type SandboxMode, switchSandboxMode } from '../../local/sandbox-orchestrator.js';
import type { RuntimeProcess } from './local-runtime-process.js';
import { freshEvent, paidCheckoutFile, sessionOf, stripeSignature } from './stripe-fixtures.js';

/**
 * What a user of `npm start` reaches over HTTP: Stripe's webhook, the status page, the
 * operator's job read, the metrics, and the sandbox orchestrator's mode switch.
 */
export interface JobRead {
  readonly job: Record<string, unknown> & { readonly status: string; readonly attempts: number };
  readonly account: Record<string, unknown>;
  readonly history: (Record<string, unknown> & { readonly kind: string })[];
}

export class RuntimeClient {
  constructor(
    private readonly runtime: RuntimeProcess,
    private readonly webhookSecret: string,
  ) {}

  /** A paid checkout of our product, delivered signed as Stripe does; its session id. */
  async checkout(): Promise<string> {
    const event = freshEvent(paidCheckoutFile('2026-07-29.dahlia'), new Date());
    const body = JSON.stringify(event);
    const answer = await fetch(`${this.runtime.url}/api/webhooks/stripe`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'stripe-signature': stripeSignature(body, this.webhookSecret),
      },
      body,
    });
    if (answer.status !== 200) throw new Error(`the webhook answered ${answer.status}`);
    return sessionOf(event);
  }

  /** The success page's coarse state. */
  async state(sessionId: string): Promise<{ state: string; phase?: string }> {
    const answer = await fetch(
      `${this.runtime.url}/api/provisioning/status?session_id=${sessionId}`,
    );
    return (await answer.json()) as { state: string; phase?: string };
  }

  async job(sessionId: string): Promise<JobRead> {
    const answer = await fetch(`${this.runtime.url}/api/internal/provisioning/jobs/${sessionId}`);
    if (answer.status !== 200) throw new Error(`no job for ${sessionId}: ${answer.status}`);
    return (await answer.json()) as JobRead;
  }

  /** `provisioning_jobs_stuck` of /api/metrics: the gauge the alarm reads. */
  async stuckGauge(): Promise<number> {
    const text = await (await fetch(`${this.runtime.url}/api/metrics`)).text();
    const value = /^provisioning_jobs_stuck (\d+)$/m.exec(text)?.[1];
    if (value === undefined) throw new Error('no provisioning_jobs_stuck in /api/metrics');
    return Number(value);
  }

  /** Switches the sandbox orchestrator's mode while it runs (`PUT /mode`). */
  async sandboxMode(mode: SandboxMode): Promise<void> {
    if (!this.runtime.sandboxUrl) throw new Error('the runtime printed no sandbox control URL');
    await switchSandboxMode(this.runtime.sandboxUrl, mode);
  }
}
