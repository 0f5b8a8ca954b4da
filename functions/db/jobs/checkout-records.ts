import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { type Actor, UNKNOWN_PACKAGE } from '../../core/job.js';
import { secondsAfter } from '../../core/rules.js';
import type { SqlExecutor } from '../executor.js';
import {
  RECONCILER_QUIET_SINCE,
  RECONCILER_WOKEN,
  reconcilerQuietSince,
} from '../reconciler-state-repository.js';
import { defineStatement, runStatementForOne, type StatementValues } from '../statement.js';
import {
  STRIPE_EVENT_GATE,
  STRIPE_EVENT_MARK,
  STRIPE_EVENT_OUTCOME,
  STRIPE_EVENT_PARAMS,
  type StripeEventRef,
  stripeEventOutcome,
  stripeEventValues,
} from '../stripe-events-repository.js';
import { type JobRow, jobRow } from './job-row.js';

/**
 * Recording checkouts: a settled one becomes a job with its first hand-off attempt,
 * a delayed payment keeps the account waiting or marks it failed. Each is one
 * statement with its Stripe event's check and mark (see `stripe-events-repository.ts`).
 */

/** The account a checkout records or updates: its own id, so a replay recognises its row. */
const ACCOUNT_PARAMS = {
  accountId: 'uuid',
  sessionId: 'text',
  customerId: 'text',
  customerAccountId: 'text',
  email: 'text',
  packageSlug: 'text',
} as const;

function accountValues(checkout: UnsettledCheckout): StatementValues<typeof ACCOUNT_PARAMS> {
  return {
    accountId: randomUUID(),
    sessionId: checkout.stripeSessionId,
    customerId: checkout.stripeCustomerId,
    customerAccountId: checkout.stripeCustomerAccountId ?? null,
    email: checkout.customerEmail,
    packageSlug: checkout.packageSlug,
  };
}

const recordSettledCheckoutStatement = defineStatement({
  name: 'record settled checkout',
  // A replay is recognised by its job id (and its event mark) and answered as the first call.
  replay: 'safe',
  sql: `
WITH ${STRIPE_EVENT_GATE}, package AS (
  SELECT slug, tier, tokens_quota FROM packages WHERE slug = :packageSlug
), account AS (
  INSERT INTO customer_accounts AS a
    (id, stripe_session_id, stripe_customer_id, stripe_customer_account_id, email, package_slug, tier, tokens_quota, status, created_at, updated_at)
  SELECT :accountId, :sessionId, :customerId, :customerAccountId, :email, :packageSlug,
    (SELECT tier FROM package), coalesce((SELECT tokens_quota FROM package), 0), 'pending', :now, :now
  FROM event_gate WHERE event_gate.go
  ON CONFLICT (stripe_session_id) DO UPDATE SET
    status = CASE WHEN a.status IN ('active', 'cancelled') THEN a.status ELSE 'pending' END,
    stripe_customer_id = coalesce(a.stripe_customer_id, excluded.stripe_customer_id),
    stripe_customer_account_id = coalesce(a.stripe_customer_account_id, excluded.stripe_customer_account_id),
    email = coalesce(a.email, excluded.email),
    package_slug = coalesce(a.package_slug, excluded.package_slug),
    tier = coalesce(a.tier, excluded.tier),
    tokens_quota = CASE WHEN a.tokens_quota > 0 THEN a.tokens_quota ELSE excluded.tokens_quota END,
    updated_at = excluded.updated_at
  RETURNING a.id
), job AS (
  INSERT INTO provisioning_jobs AS j
    (id, account_id, stripe_session_id, status, attempts, last_error, package_slug, tokens_quota,
     trigger_payload, last_attempt_at, lease_expires_at, created_at, updated_at)
  SELECT :jobId, account.id, :sessionId, 'enqueued',
    CASE WHEN package.slug IS NULL THEN 0 ELSE 1 END,
    CASE WHEN package.slug IS NULL THEN '${UNKNOWN_PACKAGE}' END,
    :packageSlug, package.tokens_quota,
    CASE WHEN package.slug IS NOT NULL THEN jsonb_build_object(
      'job_id', CAST(:jobId AS uuid),
      'stripe_session_id', CAST(:sessionId AS text),
      'account_id', account.id,
      'package_slug', package.slug,
      'tokens_quota', package.tokens_quota,
      'customer_email', CAST(:email AS text),
      'callback_url', CAST(:callbackUrl AS text)) END,
    -- Attempt 1 is claimed with the record: in flight until the consumer reports on it.
    CASE WHEN package.slug IS NOT NULL THEN CAST(:now AS timestamptz) END,
    CASE WHEN package.slug IS NOT NULL THEN CAST(:leaseUntil AS timestamptz) END,
    :now, :now
  FROM account LEFT JOIN package ON true
  -- A repeat delivery returns the existing row untouched (whatever its status).
  ON CONFLICT (stripe_session_id) DO UPDATE SET stripe_session_id = j.stripe_session_id
  RETURNING j.*
), history AS (
  -- The job id is this call's own: a replay of it (an ambiguous Data API fault) answers
  -- created again and writes no second history row.
  INSERT INTO provisioning_job_events
    (job_id, occurred_at, kind, to_status, actor, reason, detail, request_token)
  SELECT job.id, :now, 'recorded', job.status, :actor, coalesce(job.last_error, CAST(:reason AS text)),
    jsonb_build_object('package_slug', CAST(:packageSlug AS text), 'attempt', job.attempts), job.id
  FROM job WHERE job.id = CAST(:jobId AS uuid)
  ON CONFLICT (request_token, job_id, kind) WHERE request_token IS NOT NULL DO NOTHING
), ${STRIPE_EVENT_MARK}, ${RECONCILER_WOKEN}
SELECT job.*, job.id = CAST(:jobId AS uuid) AS created, ${STRIPE_EVENT_OUTCOME}, ${RECONCILER_QUIET_SINCE}
FROM event_gate LEFT JOIN job ON true`,
  params: {
    ...STRIPE_EVENT_PARAMS,
    ...ACCOUNT_PARAMS,
    jobId: 'uuid',
    callbackUrl: 'text',
    actor: 'text',
    reason: 'text',
    leaseUntil: 'timestamp',
    now: 'timestamp',
  },
  // A duplicate event answers no job: its columns are NULL.
  row: z.union([
    jobRow
      .extend({ created: z.boolean() })
      .extend(stripeEventOutcome.shape)
      .extend(reconcilerQuietSince.shape),
    z
      .object({ duplicate: z.literal(true), marked: z.literal(false) })
      .extend(reconcilerQuietSince.shape),
  ]),
});

export interface SettledCheckout {
  readonly stripeSessionId: string;
  readonly stripeCustomerId: string | null;
  /** Accounts v2: the customer as an Account (acct_…), kept beside `stripeCustomerId`. */
  readonly stripeCustomerAccountId?: string | null | undefined;
  readonly customerEmail: string | null;
  readonly packageSlug: string | null;
  /** Where the orchestrator reports back; stored in the trigger payload. */
  readonly callbackUrl: string;
  /** Why it was recorded, when someone said (an operator's note); kept in the history. */
  readonly reason?: string | undefined;
}

/** When a run of the reconciler last found nothing in flight: the caller must wake it. */
interface QuietAnswer {
  readonly reconcilerQuietSince: Date | null;
}

export interface RecordedJob extends QuietAnswer {
  readonly job: JobRow;
  /** False when this session was recorded before (a repeat delivery): nothing changed. */
  readonly created: boolean;
  /** False when a concurrent delivery of the same Stripe event marked it first (or no event). */
  readonly marked: boolean;
}

type RecordedEvent = RecordedJob | ({ readonly duplicate: true } & QuietAnswer);

/**
 * Records the job for a settled checkout and claims its first hand-off attempt (in
 * flight for `leaseSeconds`, the queue wait): exactly one job per session whatever the
 * number of deliveries. An unknown package is recorded with no payload and
 * `last_error = unknown_package`, never handed off. With a Stripe event, the event is
 * checked and marked in the same statement: an event processed before answers
 * `duplicate` and writes nothing.
 */
export async function recordSettledCheckoutEvent(
  db: SqlExecutor,
  checkout: SettledCheckout,
  event: StripeEventRef | undefined,
  now: Date,
  leaseSeconds: number,
  actor: Actor = 'stripe',
): Promise<RecordedEvent> {
  const row = await runStatementForOne(db, recordSettledCheckoutStatement, {
    ...stripeEventValues(event),
    ...accountValues(checkout),
    jobId: randomUUID(),
    callbackUrl: checkout.callbackUrl,
    actor,
    reason: checkout.reason ?? null,
    leaseUntil: secondsAfter(now, leaseSeconds),
    now,
  });
  const reconcilerQuietSince = row.reconciler_quiet_since;
  if (!('id' in row)) return { duplicate: true, reconcilerQuietSince };
  const { created, duplicate: _duplicate, marked, reconciler_quiet_since: _quiet, ...job } = row;
  return { job, created, marked, reconcilerQuietSince };
}

/** `recordSettledCheckoutEvent` without a Stripe event: an operator's job, or a test's. */
export async function recordSettledCheckout(
  db: SqlExecutor,
  checkout: SettledCheckout,
  now: Date,
  leaseSeconds: number,
  actor: Actor = 'stripe',
): Promise<RecordedJob> {
  const recorded = await recordSettledCheckoutEvent(
    db,
    checkout,
    undefined,
    now,
    leaseSeconds,
    actor,
  );
  if ('duplicate' in recorded) throw new Error('a checkout without an event is never a duplicate');
  return recorded;
}

// ---------------------------------------------------------------------------------
// Delayed payment methods

/**
 * A delayed-payment event's account upsert, with its Stripe event's check and mark. The
 * account id is the call's own, so a replay (an ambiguous Data API fault) recognises
 * the row it wrote and answers `recorded` again.
 */
function unsettledAccountStatement(
  name: string,
  status: 'awaiting_payment' | 'failed',
  onConflict: string,
) {
  return {
    name,
    replay: 'safe' as const,
    sql: `
WITH ${STRIPE_EVENT_GATE}, account AS (
  INSERT INTO customer_accounts AS a
    (id, stripe_session_id, stripe_customer_id, stripe_customer_account_id, email, package_slug, status, created_at, updated_at)
  SELECT :accountId, :sessionId, :customerId, :customerAccountId, :email, :packageSlug, '${status}', :now, :now
  FROM event_gate WHERE event_gate.go
  ${onConflict}
  RETURNING a.id
), ${STRIPE_EVENT_MARK}
SELECT EXISTS (SELECT 1 FROM account) AS recorded, ${STRIPE_EVENT_OUTCOME}`,
    params: {
      ...STRIPE_EVENT_PARAMS,
      ...ACCOUNT_PARAMS,
      now: 'timestamp',
    } as const,
    row: stripeEventOutcome.extend({ recorded: z.boolean() }),
  };
}

const recordAwaitingPaymentStatement = defineStatement(
  unsettledAccountStatement(
    'record checkout awaiting payment',
    'awaiting_payment',
    // A later state (settled, failed, active) is never moved back to awaiting payment.
    'ON CONFLICT (stripe_session_id) DO UPDATE SET id = a.id WHERE a.id = excluded.id',
  ),
);

const recordPaymentFailedStatement = defineStatement(
  unsettledAccountStatement(
    'record delayed payment failed',
    'failed',
    // Only a waiting account fails (a settled one is left alone); this call's own update
    // (same time) is recognised on a replay.
    `ON CONFLICT (stripe_session_id) DO UPDATE SET status = 'failed', updated_at = excluded.updated_at
    WHERE a.status = 'awaiting_payment' OR (a.status = 'failed' AND a.updated_at = excluded.updated_at)`,
  ),
);

type UnsettledCheckout = Omit<SettledCheckout, 'callbackUrl'>;

interface UnsettledRecord {
  /** False when the account was not changed (already settled, failed or waiting). */
  readonly recorded: boolean;
  /** The event was processed before: nothing was written. */
  readonly duplicate: boolean;
  readonly marked: boolean;
}

async function upsertUnsettledAccount(
  db: SqlExecutor,
  statement: typeof recordAwaitingPaymentStatement,
  checkout: UnsettledCheckout,
  event: StripeEventRef | undefined,
  now: Date,
): Promise<UnsettledRecord> {
  return runStatementForOne(db, statement, {
    ...stripeEventValues(event),
    ...accountValues(checkout),
    now,
  });
}

/** A completed checkout whose delayed payment has not settled: the account waits, no job yet. */
export function recordAwaitingPayment(
  db: SqlExecutor,
  checkout: UnsettledCheckout,
  now: Date,
  event?: StripeEventRef,
) {
  return upsertUnsettledAccount(db, recordAwaitingPaymentStatement, checkout, event, now);
}

/** The delayed payment failed: the waiting account is marked failed (a settled one is left alone). */
export function recordPaymentFailed(
  db: SqlExecutor,
  checkout: UnsettledCheckout,
  now: Date,
  event?: StripeEventRef,
) {
  return upsertUnsettledAccount(db, recordPaymentFailedStatement, checkout, event, now);
}
