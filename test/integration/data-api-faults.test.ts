import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TelemetryRegistry } from '../../functions/adapters/telemetry.js';
import { DATA_API_RETRY_BUDGET_SECONDS } from '../../functions/core/resume-budget.js';
import { DataApiExecutor, DEFAULT_DATA_API_RETRY } from '../../functions/db/data-api-executor.js';
import { reportDataApiRetry } from '../../functions/db/data-api-faults.js';
import { recordSettledCheckout } from '../../functions/db/jobs/checkout-records.js';
import { claimStaleJobs } from '../../functions/db/jobs/reconcile-claims.js';
import { recordRejectedInput } from '../../functions/db/rejected-inputs-repository.js';
import { createStatusHandler } from '../../functions/handlers/status.js';
import { createStripeWebhookHandler } from '../../functions/handlers/stripe-webhook.js';
import { reconcile } from '../../functions/services/reconcile.js';
import { DataApiBridge } from '../support/data-api-bridge.js';
import { TEST_DATA_API_TARGET } from '../support/executors.js';
import {
  CALLBACK_URL,
  type Harness,
  handlerHarness,
  lambdaContext,
} from '../support/handler-harness.js';
import { httpEvent } from '../support/http-events.js';
import { checkoutEvent, signedStripeDelivery, uniqueId } from '../support/signed-requests.js';
import { type VirtualClock, virtualClock } from '../support/virtual-clock.js';

/**
 * One test per class of Data API fault, through the production executor and the
 * strict bridge, with the functions' own retry budgets on a virtual clock: what the
 * customer and the operator see (one job, one hand-off, one job.recorded, no lost
 * batch), not only what the executor does.
 */

const SECRET = 'whsec_test_faults_0123456789abcdef';

let h: Harness;
beforeAll(async () => {
  h = await handlerHarness();
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  h.setSecret('stripeWebhookSecrets', SECRET);
  h.sqs.reset();
  h.sqs.resolves({});
  h.eventBridge.reset();
  h.eventBridge.resolves({ FailedEntryCount: 0, Entries: [] });
  h.telemetry.counters.clear();
});

interface DataApi {
  readonly bridge: DataApiBridge;
  readonly db: DataApiExecutor;
  readonly clock: VirtualClock;
  /** What the executor's onRetry reported, as in Lambda. */
  readonly waits: TelemetryRegistry;
}

const opened: DataApiBridge[] = [];
afterAll(async () => {
  for (const bridge of opened) await bridge.close();
});

/** The production executor as a function of this kind builds it, on a virtual clock. */
function dataApi(kind: keyof typeof DATA_API_RETRY_BUDGET_SECONDS): DataApi {
  const clock = virtualClock();
  const bridge = new DataApiBridge({ pool: h.db.pool }, { clock: clock.now });
  opened.push(bridge);
  const waits = new TelemetryRegistry();
  const db = new DataApiExecutor(bridge.client(), TEST_DATA_API_TARGET, {
    retry: { ...DEFAULT_DATA_API_RETRY, budgetMs: DATA_API_RETRY_BUDGET_SECONDS[kind] * 1000 },
    retryDeps: clock,
    onRetry: reportDataApiRetry(waits, h.log),
  });
  return { bridge, db, clock, waits };
}

/** Stripe's delivery of one event to the webhook running on `db`. */
async function deliver(db: DataApiExecutor, event: object) {
  const webhook = createStripeWebhookHandler({
    ...h.deps,
    db,
    queue: h.queue,
    secrets: h.secrets,
    callbackUrl: CALLBACK_URL,
    stripeMode: 'test',
  });
  const response = await webhook(signedStripeDelivery(event, SECRET, h.now()), lambdaContext());
  return {
    statusCode: response.statusCode,
    headers: response.headers ?? {},
    body: JSON.parse(response.body ?? '{}'),
  };
}

/** What a checkout left behind: jobs, hand-offs sent, job.recorded published, history. */
async function traces(sessionId: string) {
  const { rows } = await h.db.pool.query<{ jobs: number; recorded: number }>(
    `SELECT count(DISTINCT j.id)::int AS jobs, count(e.id)::int AS recorded
       FROM provisioning_jobs j
       LEFT JOIN provisioning_job_events e ON e.job_id = j.id AND e.kind = 'recorded'
      WHERE j.stripe_session_id = $1`,
    [sessionId],
  );
  const handOffs = h.sqs
    .commandCalls(SendMessageCommand)
    .filter((call) => call.args[0].input.MessageBody?.includes(sessionId)).length;
  const published = h.eventBridge
    .commandCalls(PutEventsCommand)
    .flatMap((call) => call.args[0].input.Entries ?? [])
    .filter(
      (entry) => entry.DetailType === 'job.recorded' && entry.Detail?.includes(sessionId),
    ).length;
  return { ...rows[0], handOffs, published };
}

const ONCE = { jobs: 1, recorded: 1, handOffs: 1, published: 1 };
const NOTHING = { jobs: 0, recorded: 0, handOffs: 0, published: 0 };

const lost = () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
const throttled = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
const sqlOf = (fragment: string) => (call: { sql?: string }) =>
  call.sql?.includes(fragment) ?? false;

describe('a fault before the statement ran', () => {
  it('is retried, even for a write not declared replay-safe: one job, one hand-off, one job.recorded', async () => {
    const { bridge, db } = dataApi('http');
    const sessionId = uniqueId('cs_before');
    bridge.injectFault({
      error: throttled(),
      at: 'before',
      times: 2,
      when: sqlOf('INSERT INTO customer_accounts'),
    });

    const answer = await deliver(db, checkoutEvent(h.now(), sessionId));

    expect(answer.body).toEqual({ received: true, outcome: 'recorded' });
    expect(await traces(sessionId)).toEqual(ONCE);
  });
});

describe('a fault after the statement ran and committed (the answer lost)', () => {
  it('replays a statement declared replay-safe, which answers as the first run did', async () => {
    const { bridge, db, waits } = dataApi('http');
    const sessionId = uniqueId('cs_after');
    bridge.injectFault({ error: lost(), at: 'after', when: sqlOf('INSERT INTO stripe_events') });

    const answer = await deliver(db, checkoutEvent(h.now(), sessionId));

    expect(answer.body).toEqual({ received: true, outcome: 'recorded' });
    expect(await traces(sessionId)).toEqual(ONCE);
    expect(waits.counters.get('DataApiReplayed')).toBe(1);
    // The replay found its own mark, not another delivery's.
    expect(h.telemetry.counters.get('StripeEventDuplicate')).toBeUndefined();
  });

  it.each([
    ['recording the checkout', 'INSERT INTO provisioning_jobs'],
    ['the event-id mark', 'INSERT INTO stripe_events'],
  ])(
    'replays %s, answered from its request token: one job, one hand-off, one job.recorded',
    async (_what, fragment) => {
      const { bridge, db } = dataApi('http');
      const sessionId = uniqueId('cs_replayed');
      bridge.injectFault({ error: lost(), at: 'after', when: sqlOf(fragment) });

      const answer = await deliver(db, checkoutEvent(h.now(), sessionId));

      expect(answer.body).toEqual({ received: true, outcome: 'recorded' });
      expect(bridge.calls.filter(sqlOf(fragment))).toHaveLength(2);
      expect(await traces(sessionId)).toEqual(ONCE);
    },
  );

  it('replays a reconciler claim: the replay answers the batch the first call claimed, so none is lost', async () => {
    const { bridge, db } = dataApi('background');
    const sessions = [uniqueId('cs_claimed'), uniqueId('cs_claimed')];
    for (const stripeSessionId of sessions) {
      await recordSettledCheckout(
        h.db.executor,
        {
          stripeSessionId,
          stripeCustomerId: null,
          customerEmail: null,
          packageSlug: 'growth',
          callbackUrl: CALLBACK_URL,
        },
        h.now(),
        h.deps.rules.handoffLeaseSeconds,
      );
    }
    await h.db.pool.query(
      'UPDATE provisioning_jobs SET lease_expires_at = $2 WHERE stripe_session_id = ANY($1)',
      [sessions, h.now()],
    );
    bridge.injectFault({ error: lost(), at: 'after', when: sqlOf('claimable AS') });

    const claim = await claimStaleJobs(db, 25, h.now(), h.deps.rules);

    expect(claim.jobs.map((job) => job.stripeSessionId).sort()).toEqual([...sessions].sort());
    expect(claim.jobs.every((job) => job.attempt === 2)).toBe(true);
  });

  it('is surfaced as AmbiguousFaultError by the executor, naming the statement, which ran once', async () => {
    const { bridge, db } = dataApi('background');
    const reference = uniqueId('evt_refused');
    bridge.injectFault({ error: lost(), at: 'after', when: sqlOf('INSERT INTO rejected_inputs') });

    const recording = recordRejectedInput(
      db,
      { source: 'stripe_webhook', reference, reason: 'unreadable event' },
      h.now(),
    );

    await expect(recording).rejects.toMatchObject({
      name: 'AmbiguousFaultError',
      message: expect.stringMatching(/^statement "record rejected input" may have run/),
    });
    const { rows } = await h.db.pool.query(
      'SELECT count(*)::int AS n FROM rejected_inputs WHERE reference = $1',
      [reference],
    );
    expect(rows).toEqual([{ n: 1 }]);
  });
});

describe('Aurora resuming from a pause', () => {
  it.each([31, 45])(
    "for %i s: the webhook answers 503 with Retry-After, writes nothing, and Stripe's redelivery records one job, one hand-off, one job.recorded",
    async (seconds) => {
      const { bridge, db, clock, waits } = dataApi('http');
      const sessionId = uniqueId('cs_resume');
      const event = checkoutEvent(h.now(), sessionId);
      bridge.resumeFor(seconds * 1000);

      const during = await deliver(db, event);
      const afterDuring = await traces(sessionId);
      await clock.sleep(seconds * 1000);
      const redelivered = await deliver(db, event);

      expect(during.statusCode).toBe(503);
      expect(during.headers).toMatchObject({ 'retry-after': '30' });
      expect(during.body).toEqual({
        error: 'the database is resuming from a pause; retry shortly',
      });
      expect(afterDuring).toEqual(NOTHING);
      expect(redelivered.body).toEqual({ received: true, outcome: 'recorded' });
      expect(await traces(sessionId)).toEqual(ONCE);
      expect(waits.counters.get('DataApiRetryWaitMs')).toBe(
        DATA_API_RETRY_BUDGET_SECONDS.http * 1000,
      );
      expect(waits.counters.get('DatabaseResuming')).toBeGreaterThan(1);
    },
  );

  it('the status route answers 503 with Retry-After too, never a timeout with nothing said', async () => {
    const { bridge, db } = dataApi('http');
    bridge.resumeFor(31_000);
    const telemetry = new TelemetryRegistry();
    const status = createStatusHandler({ db, telemetry });

    const answer = await status(
      httpEvent({
        method: 'GET',
        path: `/api/provisioning/status?session_id=${uniqueId('cs_status')}`,
      }),
      lambdaContext(),
    );

    expect(answer.statusCode).toBe(503);
    expect(answer.headers).toMatchObject({ 'retry-after': '30' });
    // Counted where the 5xx alarm reads it, with the route that answered it.
    expect(telemetry.countedFor('HttpServerError', { route: 'status' })).toBe(1);
  });

  it.each([31, 45])(
    'for %i s: a reconcile run waits it out and hands off every stale job exactly once (no lost batch)',
    async (seconds) => {
      const { bridge, db, clock, waits } = dataApi('background');
      const sessions = [uniqueId('cs_stale'), uniqueId('cs_stale'), uniqueId('cs_stale')];
      for (const stripeSessionId of sessions) {
        const checkout = { stripeSessionId, stripeCustomerId: null, customerEmail: null };
        await recordSettledCheckout(
          h.db.executor,
          { ...checkout, packageSlug: 'growth', callbackUrl: CALLBACK_URL },
          h.now(),
          h.deps.rules.handoffLeaseSeconds,
        );
      }
      await h.db.pool.query(
        `UPDATE provisioning_jobs SET lease_expires_at = $2 WHERE stripe_session_id = ANY($1)`,
        [sessions, new Date(h.now().getTime() - 600_000)],
      );
      bridge.resumeFor(seconds * 1000);

      const summary = await reconcile(
        { ...h.deps, db, queue: h.queue, timer: clock },
        { batchSize: 25, maxRedrivesPerSecond: 20, deadline: clock.now() + 280_000 },
      );

      const { rows } = await h.db.pool.query<{ attempts: number }>(
        'SELECT attempts FROM provisioning_jobs WHERE stripe_session_id = ANY($1)',
        [sessions],
      );
      expect(summary.redriven).toBeGreaterThanOrEqual(sessions.length);
      expect(rows.map((row) => row.attempts)).toEqual([2, 2, 2]);
      for (const sessionId of sessions) {
        const handOffs = h.sqs
          .commandCalls(SendMessageCommand)
          .filter((call) => call.args[0].input.MessageBody?.includes(sessionId));
        expect(handOffs, sessionId).toHaveLength(1);
      }
      expect(waits.counters.get('DataApiRetryWaitMs')).toBeGreaterThanOrEqual(seconds * 1000);
      expect(waits.counters.get('DataApiRetryWaitMs')).toBeLessThan(
        DATA_API_RETRY_BUDGET_SECONDS.background * 1000,
      );
    },
  );
});
