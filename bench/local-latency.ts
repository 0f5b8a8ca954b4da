import Stripe from 'stripe';
import { silentLog } from '../local/handler-stand-ins.js';
import { startLocalRuntime } from '../local/runtime.js';
import { checkoutEvent, uniqueId } from '../test/support/signed-requests.js';
import type { BenchDatabase } from './database.js';
import { median } from './stats.js';

/**
 * The local runtime (`npm start`) on the bench's PostgreSQL with an instant sandbox
 * orchestrator: a signed checkout through the real webhook route until the status route
 * answers `ready` (the hand-off consumer, the sandbox's trigger and its three signed
 * callbacks in between), one checkout at a time. For each, the webhook's own answer is
 * timed against one status read that follows it, so the pair shares the machine's mood.
 */

const SECRET = 'whsec_bench_local_latency';
const POLL_MS = 1;

export interface LocalLatency {
  readonly checkouts: number;
  /** Checkout sent → status `ready`, median. */
  readonly readyP50Ms: number;
  readonly webhookP50Ms: number;
  readonly statusP50Ms: number;
  /** Median of the per-checkout ratios webhook / status read. */
  readonly webhookToStatus: number;
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await work();
  return [value, performance.now() - started];
}

export async function measureLocalLatency(
  database: BenchDatabase,
  checkouts: number,
): Promise<LocalLatency> {
  const runtime = await startLocalRuntime(
    {
      DATABASE_URL: database.connectionString,
      PORT: '0',
      STRIPE_WEBHOOK_SECRET: SECRET,
      SANDBOX_ORCHESTRATOR: 'ok',
      SANDBOX_DELAY_MS: '0',
      RECONCILE_EVERY_SECONDS: '3600',
      WATCHDOG_EVERY_SECONDS: '3600',
    },
    silentLog,
  );
  try {
    const ready: number[] = [];
    const webhook: number[] = [];
    const status: number[] = [];
    const ratios: number[] = [];
    for (let i = 0; i <= checkouts; i += 1) {
      // Signed before the clock starts: Stripe signs, the webhook's answer is what is timed.
      const sessionId = uniqueId('cs_test_bench');
      const body = JSON.stringify(checkoutEvent(new Date(), sessionId));
      const signature = Stripe.webhooks.generateTestHeaderString({ payload: body, secret: SECRET });
      const statusUrl = `${runtime.url}/api/provisioning/status?session_id=${sessionId}`;
      const started = performance.now();
      const [sent, webhookMs] = await timed(async () => {
        const response = await fetch(`${runtime.url}/api/webhooks/stripe`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'stripe-signature': signature },
          body,
        });
        return { status: response.status, body: await response.text() };
      });
      if (sent.status !== 200) throw new Error(`the webhook answered ${sent.status}: ${sent.body}`);
      for (;;) {
        const answer = (await (await fetch(statusUrl)).json()) as { state: string };
        if (answer.state === 'ready') break;
        if (performance.now() - started > 10_000) throw new Error('no ready in 10 s');
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      const readyMs = performance.now() - started;
      const [, statusMs] = await timed(async () => (await fetch(statusUrl)).text());
      // The first checkout warms the runtime up; it is not counted.
      if (i === 0) continue;
      ready.push(readyMs);
      webhook.push(webhookMs);
      status.push(statusMs);
      ratios.push(webhookMs / statusMs);
    }
    return {
      checkouts,
      readyP50Ms: median(ready),
      webhookP50Ms: median(webhook),
      statusP50Ms: median(status),
      webhookToStatus: median(ratios),
    };
  } finally {
    await runtime.stop();
  }
}
