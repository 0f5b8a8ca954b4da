import { randomBytes } from 'node:crypto';
import type { HandoffMessage, HandoffQueue } from '../functions/adapters/handoff-queue.js';
import { InMemoryQuietMarker } from '../functions/adapters/quiet-marker.js';
import { EnvironmentSecretSource } from '../functions/adapters/secrets.js';
import { TelemetryRegistry } from '../functions/adapters/telemetry.js';
import type { CallbackBody } from '../functions/core/callback-body.js';
import { dispatchLeaseSeconds } from '../functions/core/handoff-timing.js';
import { RECONCILE_TIMEOUT_SECONDS } from '../functions/core/reconcile-timing.js';
import { DEFAULT_RULES } from '../functions/core/rules.js';
import { WATCHDOG_TIMEOUT_SECONDS } from '../functions/core/scheduled-timeouts.js';
import { upsertPackage } from '../functions/db/catalogue-repository.js';
import { DataApiExecutor } from '../functions/db/data-api-executor.js';
import { createCallbackHandler } from '../functions/handlers/callback.js';
import { createReconcileHandler } from '../functions/handlers/reconcile.js';
import { createStatusHandler } from '../functions/handlers/status.js';
import { createStripeWebhookHandler } from '../functions/handlers/stripe-webhook.js';
import { createWatchdogHandler } from '../functions/handlers/watchdog.js';
import { handOff } from '../functions/services/handoff.js';
import { lambdaContext, silentLog } from '../local/handler-stand-ins.js';
import { DataApiBridge } from '../test/support/data-api-bridge.js';
import { TEST_DATA_API_TARGET } from '../test/support/executors.js';
import { httpEvent } from '../test/support/http-events.js';
import {
  checkoutEvent,
  signedCallback,
  signedStripeDelivery,
} from '../test/support/signed-requests.js';
import { virtualClock } from '../test/support/virtual-clock.js';
import type { BenchDatabase } from './database.js';

/**
 * Round trips counted as the Data API sees them: the production handlers and executor
 * over the bridge that serves the RDS Data client from PostgreSQL, which records every
 * call. One checkout's whole journey is counted per function (the cost model's input),
 * and an idle hour of ticks with and without the quiet marker.
 */

const WEBHOOK_SECRET = 'whsec_bench_0123456789abcdef';
const CALLBACK_SECRET = 'callback-bench-secret';
const CALLBACK_URL = 'https://bench.example.com/api/internal/provisioning/callback';

/** The handlers of the stack over one bridged database, a clock the bench moves. */
function world(database: BenchDatabase) {
  const bridge = new DataApiBridge({ pool: database.pool });
  const db = new DataApiExecutor(bridge.client(), TEST_DATA_API_TARGET, {
    retry: { baseDelayMs: 5, maxDelayMs: 50, budgetMs: 2_000 },
  });
  let now = new Date('2030-01-01T09:00:00.000Z');
  const sent: HandoffMessage[] = [];
  const queue: HandoffQueue = { send: async (message) => void sent.push(message) };
  const quiet = new InMemoryQuietMarker();
  const deps = {
    db,
    clock: () => now,
    rules: DEFAULT_RULES,
    telemetry: new TelemetryRegistry(),
    events: { publish: async () => {} },
    log: silentLog,
  };
  const secrets = new EnvironmentSecretSource({
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    PROVISIONING_CALLBACK_SECRET: CALLBACK_SECRET,
    PROVISIONING_TRIGGER_SECRET: 'trigger-bench-secret',
  });
  const webhook = createStripeWebhookHandler({
    ...deps,
    queue,
    secrets,
    quiet,
    callbackUrl: CALLBACK_URL,
    stripeMode: 'test',
  });
  const callback = createCallbackHandler({ ...deps, secrets, quiet });
  const status = createStatusHandler(deps);
  const calls = () => bridge.calls.length;
  return {
    bridge,
    deps,
    sent,
    quiet,
    queue,
    calls,
    advance: (seconds: number) => {
      now = new Date(now.getTime() + seconds * 1000);
    },
    /** Data API calls one piece of work made. */
    async count(work: () => Promise<unknown>): Promise<number> {
      const before = calls();
      await work();
      return calls() - before;
    },
    /** Delivers a checkout event (the same one again when given); answers the event. */
    async deliver(sessionId: string, payment = 'paid', again?: object) {
      const event = again ?? checkoutEvent(now, sessionId, 'checkout.session.completed', payment);
      await webhook(
        signedStripeDelivery(event, WEBHOOK_SECRET, now),
        lambdaContext('stripe-webhook', 29_000),
      );
      return event;
    },
    report(body: CallbackBody) {
      return callback(
        signedCallback(body, CALLBACK_SECRET, now),
        lambdaContext('callback', 29_000),
      );
    },
    poll(sessionId: string) {
      return status(
        httpEvent({ method: 'GET', path: `/api/provisioning/status?session_id=${sessionId}` }),
        lambdaContext('status', 29_000),
      );
    },
    reconciler(withMarker: boolean) {
      return createReconcileHandler({
        ...deps,
        queue,
        timer: virtualClock(),
        ...(withMarker ? { quiet } : {}),
        settings: { batchSize: 25, maxRedrivesPerSecond: 20 },
      });
    },
    watchdog(withMarker: boolean) {
      return createWatchdogHandler({ ...deps, ...(withMarker ? { quiet } : {}) });
    },
  };
}

export interface RoundTrips {
  readonly newCheckout: number;
  readonly newCheckoutSends: number;
  readonly duplicate: number;
  readonly delayedPayment: number;
  readonly callbackWithDatabase: number;
  /** The hand-off consumer per attempt: dispatch, then the outcome. */
  readonly handoffAttempt: number;
}

/** Data API calls of one checkout's journey, per function: the cost model's input. */
export interface Journey {
  readonly webhook: number;
  readonly handoff: number;
  /** Each callback (progress reports and the final one). */
  readonly callback: number;
  /** Each status poll of the success page. */
  readonly status: number;
}

export async function countRoundTrips(database: BenchDatabase): Promise<{
  readonly trips: RoundTrips;
  readonly journey: Journey;
}> {
  const w = world(database);
  await upsertPackage(w.deps.db, { slug: 'growth', tier: 'growth', tokensQuota: 1_100_000 });
  const session = `cs_bench_${randomBytes(6).toString('hex')}`;
  let event: object = {};
  const newCheckout = await w.count(async () => {
    event = await w.deliver(session);
  });
  const newCheckoutSends = w.sent.length;
  const duplicate = await w.count(() => w.deliver(session, 'paid', event));
  const waiting = `cs_bench_${randomBytes(6).toString('hex')}`;
  const delayedPayment = await w.count(() => w.deliver(waiting, 'unpaid'));
  const [message] = w.sent;
  if (!message) throw new Error('the checkout was not handed off');
  const orchestrator = { trigger: async () => ({ outcome: 'accepted' as const, httpStatus: 202 }) };
  const handoffAttempt = await w.count(() =>
    handOff(
      {
        ...w.deps,
        orchestrator,
        callbackUrl: CALLBACK_URL,
        dispatchLeaseSeconds: dispatchLeaseSeconds(10_000),
      },
      { messageId: 'm-1', body: JSON.stringify(message) },
    ),
  );
  const progress = await w.count(() =>
    w.report({ stripe_session_id: session, status: 'provisioning', phase: 'database' }),
  );
  const callbackWithDatabase = await w.count(() =>
    w.report({
      stripe_session_id: session,
      status: 'provisioned',
      deployment_id: 'dpl_bench',
      cell_id: 'cell-1',
      database: { id: `db_${session}`, status: 'ready' },
    }),
  );
  const status = await w.count(() => w.poll(session));
  await w.bridge.close();
  return {
    trips: {
      newCheckout,
      newCheckoutSends,
      duplicate,
      delayedPayment,
      callbackWithDatabase,
      handoffAttempt,
    },
    journey: {
      webhook: newCheckout,
      handoff: handoffAttempt,
      callback: Math.max(progress, callbackWithDatabase),
      status,
    },
  };
}

export interface IdleHour {
  /** Data API calls of six ticks and one watchdog run with nothing in flight. */
  readonly withoutMarker: number;
  readonly withMarker: number;
  /** Of those with the marker: the first tick's (it arms, waits, confirms). */
  readonly firstTick: number;
}

/** An hour with nothing in flight: six reconcile ticks and the hourly watchdog. */
export async function idleHour(database: BenchDatabase): Promise<IdleHour> {
  const hour = async (withMarker: boolean) => {
    const w = world(database);
    const reconcile = w.reconciler(withMarker);
    const watchdog = w.watchdog(withMarker);
    const perTick: number[] = [];
    for (let tick = 0; tick < 6; tick += 1) {
      perTick.push(
        await w.count(() =>
          reconcile({}, lambdaContext('reconcile', RECONCILE_TIMEOUT_SECONDS * 1000)),
        ),
      );
      w.advance(600);
    }
    perTick.push(
      await w.count(() => watchdog({}, lambdaContext('watchdog', WATCHDOG_TIMEOUT_SECONDS * 1000))),
    );
    await w.bridge.close();
    return perTick;
  };
  const without = await hour(false);
  const withMarker = await hour(true);
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  return {
    withoutMarker: sum(without),
    withMarker: sum(withMarker),
    firstTick: withMarker[0] ?? 0,
  };
}
