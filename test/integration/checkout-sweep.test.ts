import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type CheckoutSessionSource,
  StripeCheckoutSessions,
  StripeKeyRefusedError,
  stripeClient,
} from '../../functions/adapters/stripe-checkout-sessions.js';
import { readSweepMark } from '../../functions/db/checkout-sweep-repository.js';
import {
  type SweepDependencies,
  type SweepSettings,
  sweepCheckouts,
} from '../../functions/services/checkout-sweep.js';
import { type StandInSession, StripeStandIn } from '../../local/stripe-stand-in.js';
import { CALLBACK_URL } from '../support/handler-harness.js';
import { freshEvent, paidCheckoutFile } from '../support/stripe-fixtures.js';
import {
  type StripeWebhookHarness,
  stripeWebhookHarness,
} from '../support/stripe-webhook-harness.js';
import { type VirtualClock, virtualClock } from '../support/virtual-clock.js';

/**
 * The missed-checkout sweep against a local server in Stripe's list API shape, read by
 * the real `stripe` library: sessions in every state Stripe holds them, pages with
 * `has_more`/`starting_after`, a 429 with `Retry-After`; and the hand-off's own
 * database, through the Data API bridge.
 */

const KEY = 'rk_test_sweep_read_checkout_sessions';
const WEBHOOK_SECRET = 'whsec_sweep_race';
const HOUR = 3600;

let w: StripeWebhookHarness;
let stripe: StripeStandIn;
let timer: VirtualClock;

beforeEach(async () => {
  w = await stripeWebhookHarness({ secret: WEBHOOK_SECRET, stripeMode: 'test' });
  stripe = new StripeStandIn({ apiKey: KEY });
  await stripe.start();
  timer = virtualClock(() => 0.5);
});
afterEach(async () => {
  await stripe.stop();
  await w.close();
});

function sessions(apiKey = KEY): CheckoutSessionSource {
  return new StripeCheckoutSessions(
    stripeClient(apiKey, { apiUrl: stripe.url, maxNetworkRetries: 0 }),
  );
}

function deps(overrides: Partial<SweepDependencies> = {}): SweepDependencies {
  return {
    ...w.h.deps,
    queue: w.h.queue,
    callbackUrl: CALLBACK_URL,
    sessions: sessions(),
    stripeMode: 'test',
    timer,
    random: () => 0.5,
    ...overrides,
  };
}

function settings(overrides: Partial<SweepSettings> = {}): SweepSettings {
  return {
    lookbackSeconds: 72 * HOUR,
    deadline: timer.now() + 600_000,
    leaseSeconds: 360,
    pageSize: 2,
    ...overrides,
  };
}

/** A session of Stripe's published shape, created `hoursAgo` before the harness's now. */
function session(hoursAgo: number, changes: Record<string, unknown> = {}): StandInSession {
  const created = Math.floor(w.h.now().getTime() / 1000) - Math.round(hoursAgo * HOUR);
  const object = freshEvent(paidCheckoutFile('2026-07-29.dahlia'), w.h.now(), {
    session: { created, ...changes },
  }).data.object;
  return stripe.addSession({ ...object, created });
}

async function jobsBySession(): Promise<Map<string, { actor: string; jobs: number }>> {
  const { rows } = await w.h.db.pool.query(
    `SELECT j.stripe_session_id, e.actor, count(*) OVER (PARTITION BY j.stripe_session_id) AS jobs
     FROM provisioning_jobs j JOIN provisioning_job_events e ON e.job_id = j.id AND e.kind = 'recorded'`,
  );
  return new Map(
    rows.map((row) => [row.stripe_session_id, { actor: row.actor, jobs: Number(row.jobs) }]),
  );
}

function handoffsFor(sessionId: string): number {
  return w.h.sqs
    .commandCalls(SendMessageCommand)
    .filter((call) => call.args[0].input.MessageBody?.includes(sessionId)).length;
}

describe('the missed-checkout sweep', () => {
  it('records each paid session of ours that has no job, once, and leaves every other session alone', async () => {
    const paid = session(1);
    const nothingToPay = session(2, { payment_status: 'no_payment_required', amount_total: 0 });
    const subscription = session(3, { mode: 'subscription' });
    const alreadyRecorded = session(4);
    await w.send(
      freshEvent(paidCheckoutFile('2026-07-29.dahlia'), w.h.now(), {
        session: { id: alreadyRecorded.id },
      }),
    );
    const unpaid = session(5, { payment_status: 'unpaid' });
    const expired = session(6, { status: 'expired', payment_status: 'unpaid' });
    const open = session(7, { status: 'open', payment_status: 'unpaid' });
    const anotherProducts = session(8, { metadata: {} });
    const setup = session(9, { mode: 'setup', payment_status: 'no_payment_required' });
    const beyondWindow = session(80);
    w.h.sqs.resetHistory();

    const summary = await sweepCheckouts(deps(), settings());

    const jobs = await jobsBySession();
    for (const missed of [paid, nothingToPay, subscription]) {
      expect(jobs.get(missed.id), missed.id).toEqual({ actor: 'sweep', jobs: 1 });
      expect(handoffsFor(missed.id), missed.id).toBe(1);
    }
    expect(jobs.get(alreadyRecorded.id)).toEqual({ actor: 'stripe', jobs: 1 });
    expect(handoffsFor(alreadyRecorded.id)).toBe(0);
    for (const left of [unpaid, expired, open, anotherProducts, setup, beyondWindow]) {
      expect(jobs.has(left.id), left.id).toBe(false);
    }
    expect(summary).toMatchObject({
      event: 'provisioning.sweep.run',
      outcome: 'finished',
      resumed: false,
      listed: 7,
      recorded: 3,
      already_recorded: 1,
      not_ours: 2,
      not_paid: 1,
      unreadable: 0,
      pages: 4,
    });
    expect([...summary.missed_sessions].sort()).toEqual(
      [paid.id, nothingToPay.id, subscription.id].sort(),
    );
    expect(w.h.telemetry.counters.get('MissedCheckouts')).toBe(3);
    // Stripe filtered on completed sessions of the window, a page at a time after a cursor.
    const lists = stripe.requests.filter((r) => r.path === '/v1/checkout/sessions');
    expect(lists.map((r) => r.query.status)).toEqual([
      'complete',
      'complete',
      'complete',
      'complete',
    ]);
    expect(lists[0]?.query.starting_after).toBeUndefined();
    expect(lists.slice(1).every((r) => r.query.starting_after?.startsWith('cs_test_'))).toBe(true);
    expect(Number(lists[0]?.query['created[gte]'])).toBe(
      Math.floor(w.h.now().getTime() / 1000) - 72 * HOUR,
    );
  });

  it('records nothing more on the next pass: a missed checkout becomes exactly one job', async () => {
    const paid = session(1);
    await sweepCheckouts(deps(), settings());
    w.h.advance(HOUR);

    const second = await sweepCheckouts(deps(), settings());

    expect(second).toMatchObject({ outcome: 'finished', recorded: 0, already_recorded: 1 });
    expect((await jobsBySession()).get(paid.id)).toEqual({ actor: 'sweep', jobs: 1 });
    expect(handoffsFor(paid.id)).toBe(1);
  });

  it('makes one job when a late webhook delivery races the sweep for the same session', async () => {
    const racing = Array.from({ length: 6 }, (_, i) => session(i + 1));
    const events = racing.map((s) =>
      freshEvent(paidCheckoutFile('2026-07-29.dahlia'), w.h.now(), { session: { id: s.id } }),
    );

    const [summary, ...answers] = await Promise.all([
      sweepCheckouts(deps(), settings({ pageSize: 1 })),
      ...events.map((event) => w.send(event)),
    ]);

    expect(answers.every((answer) => answer.statusCode === 200)).toBe(true);
    const jobs = await jobsBySession();
    for (const s of racing) {
      expect(jobs.get(s.id)?.jobs, s.id).toBe(1);
      expect(handoffsFor(s.id), s.id).toBe(1);
    }
    const bySweep = racing.filter((s) => jobs.get(s.id)?.actor === 'sweep').length;
    expect(summary.recorded).toBe(bySweep);
    expect(summary.recorded + summary.already_recorded).toBe(racing.length);
  });

  it('waits out a 429 for at least its Retry-After, then goes on', async () => {
    const paid = session(1);
    stripe.throttleNext(2, 7);

    const summary = await sweepCheckouts(deps(), settings());

    expect(summary).toMatchObject({ outcome: 'finished', recorded: 1, throttled: 2 });
    // Each wait: the Retry-After, plus a jittered share of the backoff (1 s, then 2 s).
    expect(timer.slept()).toBe(7000 + 500 + 7000 + 1000);
    expect(stripe.requests.map((r) => r.status)).toEqual([429, 429, 200]);
    expect((await jobsBySession()).get(paid.id)?.jobs).toBe(1);
  });

  it('stops before its deadline rather than wait out a 429 past it, and the next run resumes the page', async () => {
    const paid = session(1);
    stripe.throttleNext(1, 120);

    const first = await sweepCheckouts(deps(), settings({ deadline: timer.now() + 60_000 }));
    const second = await sweepCheckouts(deps(), settings());

    expect(first).toMatchObject({ outcome: 'stopped', listed: 0, throttled: 1 });
    expect(timer.slept()).toBe(0);
    expect(second).toMatchObject({ outcome: 'finished', resumed: true, recorded: 1 });
    expect((await jobsBySession()).get(paid.id)?.jobs).toBe(1);
  });

  it('resumes a run cut off half-way from its mark, without listing the pages it finished', async () => {
    const all = [1, 2, 3, 4, 5, 6].map((hoursAgo) => session(hoursAgo));
    const cutOff = cutAfterPages(sessions(), 1);

    await expect(sweepCheckouts(deps({ sessions: cutOff }), settings())).rejects.toThrow(
      /connection reset/,
    );
    const mark = await readSweepMark(w.h.deps.db);
    const firstPage = all.slice(0, 2);
    expect(mark).toMatchObject({ resumeAfter: firstPage[1]?.id, listed: 2, recorded: 2 });
    expect(mark?.finishedAt).toBeNull();
    stripe.requests.length = 0;

    const resumed = await sweepCheckouts(deps(), settings());

    expect(resumed).toMatchObject({ outcome: 'finished', resumed: true, listed: 4, recorded: 4 });
    expect(stripe.requests[0]?.query.starting_after).toBe(firstPage[1]?.id);
    const jobs = await jobsBySession();
    expect(all.every((s) => jobs.get(s.id)?.jobs === 1)).toBe(true);
    expect(await readSweepMark(w.h.deps.db)).toMatchObject({ listed: 6, recorded: 6 });
  });

  it('waits for the lease of a run that died holding the pass, then resumes it', async () => {
    session(1);
    session(2);
    session(3);
    // A run that dies between two pages (the process ends: nothing releases its pass).
    const dying = cutAfterPages(sessions(), 1, () => new Promise<never>(() => {}));
    void sweepCheckouts(deps({ sessions: dying }), settings());
    await expect.poll(async () => (await readSweepMark(w.h.deps.db))?.listed).toBe(2);

    const meanwhile = await sweepCheckouts(deps(), settings());
    w.h.advance(361);
    const after = await sweepCheckouts(deps(), settings());

    expect(meanwhile).toMatchObject({ outcome: 'busy', listed: 0 });
    expect(after).toMatchObject({ outcome: 'finished', resumed: true, listed: 1, recorded: 1 });
  });

  it('lists and tells on a dry run, and records nothing nor moves the mark', async () => {
    const paid = session(1);

    const dry = await sweepCheckouts(deps(), settings({ dryRun: true }));

    expect(dry).toMatchObject({ dry_run: true, recorded: 0, missed_sessions: [paid.id] });
    expect((await jobsBySession()).has(paid.id)).toBe(false);
    expect(await readSweepMark(w.h.deps.db)).toBeUndefined();
  });

  it('fails on a key Stripe refuses, and leaves the pass for the next run', async () => {
    session(1);

    await expect(
      sweepCheckouts(deps({ sessions: sessions('rk_test_revoked') }), settings()),
    ).rejects.toThrow(StripeKeyRefusedError);

    const mark = await readSweepMark(w.h.deps.db);
    expect(mark?.finishedAt).toBeNull();
    expect(mark?.leaseUntil.getTime()).toBeLessThanOrEqual(w.h.now().getTime());
  });

  it('skips sessions of the other Stripe mode, which the key should never list', async () => {
    const live = session(1, { livemode: true });

    const summary = await sweepCheckouts(deps(), settings());

    expect(summary).toMatchObject({ listed: 1, recorded: 0, not_ours: 1 });
    expect((await jobsBySession()).has(live.id)).toBe(false);
  });
});

/** Lists `pages` pages, then fails every later call (a connection reset, or `failure`). */
function cutAfterPages(
  source: CheckoutSessionSource,
  pages: number,
  failure: () => Promise<never> = () =>
    Promise.reject(new Error('read ECONNRESET: connection reset')),
): CheckoutSessionSource {
  let listed = 0;
  return {
    listCompleted: (query) => {
      listed += 1;
      return listed > pages ? failure() : source.listCompleted(query);
    },
  };
}
