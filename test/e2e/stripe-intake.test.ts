import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RuntimeProcess, startRuntimeProcess } from '../support/local-runtime-process.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';
import {
  freshEvent,
  freshThinEvent,
  paidCheckoutFile,
  type SnapshotEvent,
  sessionOf,
  stripeSignature,
} from '../support/stripe-fixtures.js';

/**
 * What `npm start` does with Stripe payloads that must never become tenants, sent over
 * HTTP as Stripe sends them (the published shapes of test/fixtures/stripe): nothing is
 * recorded, and the STUCK gauge stays at 0 past its window, so nobody is paged.
 */
const WEBHOOK_SECRET = 'whsec_e2e_intake_secret';
const STUCK_AFTER_SECONDS = 2;

let runtime: RuntimeProcess;
let db: TestDatabase;

beforeAll(async () => {
  db = await freshDatabase({ migrated: false });
  runtime = await startRuntimeProcess({
    DATABASE_URL: db.connectionString,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    RECONCILE_EVERY_SECONDS: '1',
    STALE_AFTER_SECONDS: '1',
    STUCK_AFTER_SECONDS: String(STUCK_AFTER_SECONDS),
    SANDBOX_DELAY_MS: '10',
  });
}, 90_000);

afterAll(async () => {
  // A clean stop: SIGKILL would orphan an embedded PostgreSQL.
  await runtime?.stop('SIGTERM');
  await db?.close();
});

async function deliver(event: object): Promise<Response> {
  const payload = JSON.stringify(event);
  return fetch(`${runtime.url}/api/webhooks/stripe`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'stripe-signature': stripeSignature(payload, WEBHOOK_SECRET),
    },
    body: payload,
  });
}

const checkout = (session: Record<string, unknown>, event: Record<string, unknown> = {}) =>
  freshEvent(paidCheckoutFile('2026-07-29.dahlia'), new Date(), { session, event });

async function metrics(): Promise<string> {
  return (await fetch(`${runtime.url}/api/metrics`)).text();
}

function metric(text: string, name: string): number {
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}

/** Every row the intake could write, across the tables it writes. */
interface StoredRows {
  readonly accounts: number;
  readonly jobs: number;
  readonly processed_events: number;
  readonly rejected_inputs: number;
}

async function storedRows(): Promise<StoredRows> {
  const { rows } = await db.pool.query<StoredRows>(`SELECT
    (SELECT count(*)::int FROM customer_accounts) AS accounts,
    (SELECT count(*)::int FROM provisioning_jobs) AS jobs,
    (SELECT count(*)::int FROM stripe_events) AS processed_events,
    (SELECT count(*)::int FROM rejected_inputs) AS rejected_inputs`);
  const [counts] = rows;
  if (!counts) throw new Error('no counts');
  return counts;
}

const jobStatus = async (event: SnapshotEvent) =>
  (await fetch(`${runtime.url}/api/internal/provisioning/jobs/${sessionOf(event)}`)).status;

describe('the local runtime’s Stripe intake', () => {
  it('answers 200 to a setup-mode session and to another product’s, makes no job, and the gauge stays 0 past the STUCK window', async () => {
    const before = await storedRows();
    const setup = checkout({ mode: 'setup', payment_status: 'no_payment_required' });
    const notOurs = checkout({ metadata: {} });

    const answers = [await deliver(setup), await deliver(notOurs)];
    const bodies = await Promise.all(answers.map((answer) => answer.json()));
    await new Promise((resolve) => setTimeout(resolve, (STUCK_AFTER_SECONDS + 1.5) * 1000));
    const text = await metrics();

    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
    expect(bodies).toEqual([
      { received: true, outcome: 'ignored' },
      { received: true, outcome: 'ignored' },
    ]);
    expect([await jobStatus(setup), await jobStatus(notOurs)]).toEqual([404, 404]);
    expect(await storedRows()).toEqual(before);
    expect(metric(text, 'provisioning_jobs_stuck')).toBe(0);
    expect(metric(text, 'provisioning_stripe_session_not_provisioned_total')).toBe(1);
    expect(metric(text, 'provisioning_stripe_session_not_ours_total')).toBe(1);
  });

  it('answers 200 to thin events, the destination’s ping included, without a write', async () => {
    const before = await storedRows();

    const answers = [
      await deliver(freshThinEvent('stripe-node/v2.core.event_destination.ping.json')),
      await deliver(freshThinEvent('stripe-node/v1.billing.meter.error_report_triggered.json')),
    ];

    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
    expect(await storedRows()).toEqual(before);
    expect(metric(await metrics(), 'provisioning_stripe_thin_event_ignored_total')).toBe(2);
  });

  it('serves Stripe test mode by default: a live-mode event is refused 400 and recorded', async () => {
    const before = await storedRows();
    const live = checkout({ livemode: true }, { livemode: true });

    const answer = await deliver(live);

    expect(answer.status).toBe(400);
    expect(await answer.json()).toEqual({
      error: `event ${live.id}: livemode: true, but this deployment serves Stripe test mode`,
    });
    expect(await storedRows()).toEqual({
      ...before,
      rejected_inputs: before.rejected_inputs + 1,
    });
    expect(await jobStatus(live)).toBe(404);
  });

  it('still shows one of our sessions with a package missing from the catalogue on the gauge', async () => {
    const misconfigured = checkout({ metadata: { package_slug: 'platinum' } });

    const answer = await deliver(misconfigured);
    await new Promise((resolve) => setTimeout(resolve, (STUCK_AFTER_SECONDS + 1.5) * 1000));

    expect(answer.status).toBe(200);
    expect(await jobStatus(misconfigured)).toBe(200);
    expect(metric(await metrics(), 'provisioning_jobs_stuck')).toBe(1);
  });
});
