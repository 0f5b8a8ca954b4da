import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { type OnboardingInput, onboardingInput } from '../functions/core/onboarding-input.js';
import { checkProvisioningSignature, signTrigger } from '../functions/core/signatures.js';
import { readBody } from './read-body.js';

/**
 * How the sandbox answers a trigger, one mode for every branch of the runbook:
 * - ok: accepts and provisions; fail: accepts and reports a failed saga;
 * - down: 503; silent: accepts and never calls back;
 * - slow: accepts only after the delay (a trigger that takes long to be accepted);
 * - saga: accepts and runs long, reporting progress (heartbeats) before it provisions;
 * - reject: 422, a permanent refusal; unauthorized: 401, as for a wrong trigger secret;
 * - throttle: 429 with a Retry-After.
 */
export const SANDBOX_MODES = [
  'ok',
  'fail',
  'down',
  'silent',
  'slow',
  'saga',
  'reject',
  'unauthorized',
  'throttle',
] as const;
export type SandboxMode = (typeof SANDBOX_MODES)[number];

export interface SandboxOptions {
  mode: SandboxMode;
  readonly triggerSecret: string;
  readonly callbackSecret: string;
  /** Pause before each callback (and before a slow acceptance), so a person can watch. */
  readonly delayMs: number;
  /** Progress reports a `saga` sends before it provisions. */
  readonly sagaHeartbeats: number;
  /** The Retry-After a `throttle` answers with. */
  readonly retryAfterSeconds: number;
  readonly log: (message: string, extra?: object) => void;
}

/** The refusals the sandbox answers with, by mode. */
const REFUSALS: Partial<Record<SandboxMode, { status: number; text: string }>> = {
  down: { status: 503, text: 'orchestrator down' },
  reject: { status: 422, text: 'sandbox: this onboarding is refused' },
  unauthorized: { status: 401, text: 'sandbox: unknown signing key' },
  throttle: { status: 429, text: 'sandbox: too many triggers' },
};

/**
 * A stand-in for the external orchestrator: verifies each trigger's signature like the
 * real one must, answers according to its mode, and reports back signed through the
 * product's real callback route, with phases and a database report. Keyed by the
 * Idempotency-Key, a re-driven job gets the same deployment, never a second tenant.
 * `PUT /mode` with `{"mode": …}` switches the mode while it runs.
 */
export class SandboxOrchestrator {
  private server: Server | undefined;
  private readonly deployments = new Map<string, string>();
  private readonly pending = new Set<Promise<void>>();
  private stopping = false;
  triggersReceived = 0;
  /** Where it listens, once started. */
  url: string | undefined;

  constructor(private readonly options: SandboxOptions) {}

  get mode(): SandboxMode {
    return this.options.mode;
  }

  async start(): Promise<string> {
    this.server = createServer((request, response) => {
      this.route(request, response).catch((error: unknown) => {
        this.options.log('sandbox orchestrator failed a request', { error: String(error) });
        if (!response.headersSent) response.writeHead(500).end();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return this.url;
  }

  /** Stops accepting triggers and waits for callbacks already under way. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.pending]);
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }

  private async route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = (await readBody(request)).toString('utf8');
    if (request.method === 'PUT' && request.url === '/mode') {
      const mode = z.object({ mode: z.enum(SANDBOX_MODES) }).safeParse(safeJson(body));
      if (!mode.success)
        return void response.writeHead(400).end(`mode must be one of ${SANDBOX_MODES.join(', ')}`);
      this.options.mode = mode.data.mode;
      this.options.log('sandbox orchestrator mode changed', { mode: mode.data.mode });
      return void response.writeHead(204).end();
    }
    if (request.method !== 'POST' || request.url !== '/trigger/onboarding')
      return void response.writeHead(404).end();
    this.triggersReceived += 1;
    const signature = checkProvisioningSignature({
      rawBody: body,
      signature: headerOf(request, 'x-provisioning-signature'),
      timestamp: headerOf(request, 'x-provisioning-timestamp'),
      secrets: [this.options.triggerSecret],
      now: new Date(),
    });
    if (signature !== 'valid') return void response.writeHead(401).end(`signature ${signature}`);
    const mode = this.options.mode;
    const refusal = this.stopping ? REFUSALS.down : REFUSALS[mode];
    if (refusal) {
      const headers =
        mode === 'throttle' ? { 'retry-after': String(this.options.retryAfterSeconds) } : {};
      return void response.writeHead(refusal.status, headers).end(refusal.text);
    }
    const input = onboardingInput.safeParse(safeJson(body));
    if (!input.success) return void response.writeHead(422).end('not an OnboardingInput');
    if (mode === 'slow') await pause(this.options.delayMs);
    response
      .writeHead(202, { 'content-type': 'application/json' })
      .end(JSON.stringify({ accepted: true }));
    if (mode === 'silent') return;
    const saga = this.runSaga(input.data, mode).finally(() => this.pending.delete(saga));
    this.pending.add(saga);
  }

  private async runSaga(input: OnboardingInput, mode: SandboxMode): Promise<void> {
    const deploymentId =
      this.deployments.get(input.job_id) ?? `dpl_sandbox_${randomBytes(6).toString('hex')}`;
    this.deployments.set(input.job_id, deploymentId);
    const databaseId = `db_${input.account_id.slice(0, 8)}`;
    const report = (extra: Record<string, unknown>) =>
      this.callback(input.callback_url, { stripe_session_id: input.stripe_session_id, ...extra });
    await report({
      status: 'provisioning',
      phase: 'cell',
      database: { id: databaseId, status: 'provisioning' },
    });
    await report({
      status: 'provisioning',
      phase: 'database',
      database: { id: databaseId, status: 'migrating' },
    });
    if (mode === 'saga') {
      for (let beat = 1; beat <= this.options.sagaHeartbeats; beat += 1) {
        await report({
          status: 'provisioning',
          phase: `workloads ${beat}/${this.options.sagaHeartbeats}`,
        });
      }
    }
    if (mode === 'fail') {
      await report({
        status: 'failed',
        phase: 'database',
        error: 'sandbox: simulated saga failure',
        database: { id: databaseId, status: 'failed' },
      });
      return;
    }
    await report({
      status: 'provisioned',
      deployment_id: deploymentId,
      cell_id: 'cell-local-1',
      tokens_quota: input.tokens_quota,
      database: { id: databaseId, status: 'ready' },
    });
  }

  private async callback(url: string, body: Record<string, unknown>): Promise<void> {
    await pause(this.options.delayMs);
    const raw = JSON.stringify(body);
    const { timestamp, signature } = signTrigger(raw, this.options.callbackSecret, new Date());
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-provisioning-timestamp': timestamp,
          'x-provisioning-signature': signature,
        },
        body: raw,
        signal: AbortSignal.timeout(10_000),
      });
      this.options.log('sandbox orchestrator called back', {
        status: body.status,
        answer: response.status,
      });
    } catch (error) {
      this.options.log('sandbox orchestrator could not call back', { error: String(error) });
    }
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function headerOf(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
