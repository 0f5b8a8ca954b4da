import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RULES } from '../../functions/core/rules.js';
import { upsertPackage, upsertUser } from '../../functions/db/catalogue-repository.js';
import { applyCallback } from '../../functions/db/jobs/callbacks.js';
import {
  recordAwaitingPayment,
  recordSettledCheckoutEvent,
} from '../../functions/db/jobs/checkout-records.js';
import { dispatchAttempt, recordAttemptOutcome } from '../../functions/db/jobs/handoff-attempts.js';
import { rearmJob } from '../../functions/db/jobs/operator-actions.js';
import { recordRejectedInput } from '../../functions/db/rejected-inputs-repository.js';
import { notifyStalls } from '../../functions/db/watchdog-repository.js';
import { CALLBACK_URL, PACKAGES } from '../support/handler-harness.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';
import { localEnv, opsRunner } from './ops-harness.js';

let db: TestDatabase;
let now = new Date('2026-11-23T10:00:00.000Z');
let ops: ReturnType<typeof opsRunner>;
const advance = (seconds: number) => {
  now = new Date(now.getTime() + seconds * 1000);
};

beforeAll(async () => {
  db = await freshDatabase();
  for (const pkg of PACKAGES) await upsertPackage(db.executor, pkg);
  await upsertUser(db.executor, { email: 'admin@example.com', role: 'admin' });
  ops = opsRunner({
    env: localEnv(db.connectionString),
    collaborators: { clock: () => now, osUser: () => 'alice' },
  });
});
afterAll(async () => {
  await db.close();
});

const checkout = {
  stripeSessionId: 'cs_test_timeline',
  stripeCustomerId: 'cus_timeline',
  customerEmail: 'buyer@example.com',
  packageSlug: 'growth',
};

/** A delayed payment that settles, a saga that fails once and stalls, an operator who steps in. */
async function livedSession(): Promise<void> {
  const db0 = db.executor;
  await recordAwaitingPayment(db0, checkout, now, {
    id: 'evt_completed',
    type: 'checkout.session.completed',
  });
  advance(3600);
  const recorded = await recordSettledCheckoutEvent(
    db0,
    { ...checkout, callbackUrl: CALLBACK_URL },
    { id: 'evt_succeeded', type: 'checkout.session.async_payment_succeeded' },
    now,
    DEFAULT_RULES.handoffLeaseSeconds,
  );
  if ('duplicate' in recorded) throw new Error('the settling event was seen before');
  const { job } = recorded;
  advance(1);
  await dispatchAttempt(db0, { jobId: job.id, attempt: 1 }, now, DEFAULT_RULES.handoffLeaseSeconds);
  advance(2);
  await recordAttemptOutcome(
    db0,
    { jobId: job.id, attempt: 1, outcome: 'transient', failure: 'http_5xx', httpStatus: 503 },
    now,
    DEFAULT_RULES,
    () => 0.5,
  );
  advance(60);
  await applyCallback(
    db0,
    { stripeSessionId: checkout.stripeSessionId, status: 'provisioning', phase: 'database' },
    now,
    DEFAULT_RULES,
    Math.random,
    'orchestrator',
    { id: 'db_timeline', status: 'provisioning' },
  );
  advance(30);
  await recordRejectedInput(
    db0,
    {
      source: 'callback',
      reference: checkout.stripeSessionId,
      reason: 'phase: must not contain control characters',
    },
    now,
  );
  advance(DEFAULT_RULES.stallAfterSeconds + 60);
  await notifyStalls(db0, now, DEFAULT_RULES);
  advance(60);
  await rearmJob(
    db0,
    { jobId: job.id, actor: 'operator:alice', reason: 'orchestrator fixed, INC-9' },
    now,
  );
}

interface Timeline {
  timeline: {
    at: string;
    source: string;
    what: string;
    actor: string | null;
    detail: Record<string, unknown>;
  }[];
}

describe('ops show: one timeline of everything known about a session', () => {
  it('lists Stripe events, the delayed payment, each attempt and its outcome, callbacks, the watchdog, refusals and operator actions, in time order', async () => {
    await livedSession();

    const result = await ops(['show', checkout.stripeSessionId, '--json']);

    expect(result.code).toBe(0);
    const { timeline } = result.json() as Timeline;
    expect(timeline.map((entry) => [entry.source, entry.what])).toEqual([
      ['stripe', 'checkout.session.completed'],
      ['account', 'account recorded'],
      ['stripe', 'checkout.session.async_payment_succeeded'],
      ['job', 'recorded'],
      ['job', 'handoff'],
      ['job', 'callback'],
      ['database', 'database reported'],
      ['refused', 'callback'],
      ['watchdog', 'database_stalled'],
      ['job', 'rearmed'],
    ]);
    const times = timeline.map((entry) => Date.parse(entry.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    // The event's id: its type and time are the entry's own; its request token is internal.
    expect(timeline[0]?.detail).toEqual({ id: 'evt_completed' });
    expect(timeline[4]).toMatchObject({
      actor: 'handoff',
      detail: { attempt: 1, outcome: 'transient', http_status: 503 },
    });
    expect(timeline[7]?.detail).toEqual({ reason: 'phase: must not contain control characters' });
    expect(timeline[8]).toMatchObject({ actor: 'watchdog', detail: { to: 'admin@example.com' } });
    expect(timeline[9]).toMatchObject({
      actor: 'operator:alice',
      detail: { reason: 'orchestrator fixed, INC-9' },
    });
    // The record the operator read route answers is still there, unchanged.
    expect(result.json()).toMatchObject({
      job: { stripe_session_id: checkout.stripeSessionId },
      account: { status: 'pending' },
      history: [
        { kind: 'recorded' },
        { kind: 'handoff' },
        { kind: 'callback' },
        { kind: 'rearmed' },
      ],
    });
  });

  it('prints the timeline for people, one line per entry', async () => {
    const result = await ops(['show', checkout.stripeSessionId]);

    expect(result.code).toBe(0);
    const timeline = result.stdout.slice(result.stdout.indexOf('TIMELINE'));
    expect(timeline).toMatch(/^TIMELINE\nWHEN +FROM +WHAT +WHO +DETAIL\n/);
    expect(timeline).toContain('checkout.session.async_payment_succeeded');
    expect(timeline.split('\n').filter((line) => /^\d{4}-/.test(line))).toHaveLength(10);
  });

  it('shows a session still waiting for its delayed payment, which has no job yet', async () => {
    await recordAwaitingPayment(
      db.executor,
      { ...checkout, stripeSessionId: 'cs_test_waiting' },
      now,
      { id: 'evt_waiting', type: 'checkout.session.completed' },
    );

    const result = await ops(['show', 'cs_test_waiting', '--json']);

    expect(result.code).toBe(0);
    expect(result.json()).toMatchObject({
      job: null,
      timeline: [
        { source: 'stripe', what: 'checkout.session.completed' },
        { source: 'account', what: 'account recorded', detail: { status_now: 'awaiting_payment' } },
      ],
    });
  });
});

describe('ops rejected: the refused inputs', () => {
  it('lists them newest first, by source and look-back', async () => {
    await recordRejectedInput(
      db.executor,
      {
        source: 'stripe_webhook',
        reference: 'evt_bad',
        reason: 'data.object.customer_email: must not contain control characters',
      },
      now,
    );
    advance(7200);
    await recordRejectedInput(
      db.executor,
      { source: 'operator_api', reference: 'key-1', reason: 'Idempotency-Key: header is required' },
      now,
    );

    const all = await ops(['rejected', '--json']);
    const stripe = await ops(['rejected', '--source', 'stripe_webhook', '--json']);
    const recent = await ops(['rejected', '--since', '1h', '--json']);
    const human = await ops(['rejected', '--source', 'stripe_webhook']);

    const references = (result: typeof all) =>
      (result.json() as { rejected: { reference: string }[] }).rejected.map((r) => r.reference);
    expect(references(all).slice(0, 2)).toEqual(['key-1', 'evt_bad']);
    expect(references(stripe)).toEqual(['evt_bad']);
    expect(references(recent)).toEqual(['key-1']);
    expect(human.stdout).toMatch(/^WHEN +SOURCE +ABOUT +WHY\n/);
    expect(human.stdout).toContain(
      'data.object.customer_email: must not contain control characters',
    );
  });

  it('refuses an unknown source with a usage error that lists the sources', async () => {
    const result = await ops(['rejected', '--source', 'email']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      '--source must be one of stripe_webhook, stripe_eventbridge, callback, operator_api, handoff_queue',
    );
  });
});
