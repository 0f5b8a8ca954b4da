import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { type Actor, UNKNOWN_PACKAGE } from '../../core/job.js';
import { secondsAfter } from '../../core/rules.js';
import type { SqlExecutor } from '../executor.js';
import { defineStatement, runStatement, runStatementForOne } from '../statement.js';
import { type JobRow, jobRow } from './job-row.js';

/**
 * Recording checkouts: a settled one becomes a job with its first hand-off attempt,
 * a delayed payment keeps the account waiting or marks it failed.
 */

const recordSettledCheckoutStatement = defineStatement({
  name: 'record settled checkout',
  // A replay is recognised by its request token and answered as the first call.
  replay: 'safe',
  sql: `
WITH package AS (
  SELECT slug, tier, tokens_quota FROM packages WHERE slug = :packageSlug
), account AS (
  INSERT INTO customer_accounts AS a
    (id, stripe_session_id, stripe_customer_id, stripe_customer_account_id, email, package_slug, tier, tokens_quota, status, created_at, updated_at)
  VALUES (:accountId, :sessionId, :customerId, :customerAccountId, :email, :packageSlug,
    (SELECT tier FROM package), coalesce((SELECT tokens_quota FROM package), 0), 'pending', :now, :now)
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
)
SELECT job.*, job.id = CAST(:jobId AS uuid) AS created FROM job`,
  params: {
    jobId: 'uuid',
    accountId: 'uuid',
    sessionId: 'text',
    customerId: 'text',
    customerAccountId: 'text',
    email: 'text',
    packageSlug: 'text',
    callbackUrl: 'text',
    actor: 'text',
    reason: 'text',
    leaseUntil: 'timestamp',
    now: 'timestamp',
  },
  row: jobRow.extend({ created: z.boolean() }),
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

export interface RecordedJob {
  readonly job: JobRow;
  /** False when this session was recorded before (a repeat delivery): nothing changed. */
  readonly created: boolean;
}

/**
 * Records the job for a settled checkout and claims its first hand-off attempt (in
 * flight for `leaseSeconds`, the queue wait): exactly one job per session whatever the
 * number of deliveries. An unknown package is recorded with no payload and
 * `last_error = unknown_package`, never handed off.
 */
export async function recordSettledCheckout(
  db: SqlExecutor,
  checkout: SettledCheckout,
  now: Date,
  leaseSeconds: number,
  actor: Actor = 'stripe',
): Promise<RecordedJob> {
  const { created, ...job } = await runStatementForOne(db, recordSettledCheckoutStatement, {
    jobId: randomUUID(),
    accountId: randomUUID(),
    sessionId: checkout.stripeSessionId,
    customerId: checkout.stripeCustomerId,
    customerAccountId: checkout.stripeCustomerAccountId ?? null,
    email: checkout.customerEmail,
    packageSlug: checkout.packageSlug,
    callbackUrl: checkout.callbackUrl,
    actor,
    reason: checkout.reason ?? null,
    leaseUntil: secondsAfter(now, leaseSeconds),
    now,
  });
  return { job, created };
}

// ---------------------------------------------------------------------------------
// Delayed payment methods

const recordAwaitingPaymentStatement = defineStatement({
  name: 'record checkout awaiting payment',
  sql: `
INSERT INTO customer_accounts AS a
  (id, stripe_session_id, stripe_customer_id, stripe_customer_account_id, email, package_slug, status, created_at, updated_at)
VALUES (:accountId, :sessionId, :customerId, :customerAccountId, :email, :packageSlug, 'awaiting_payment', :now, :now)
-- A later state (settled, failed, active) is never moved back to awaiting payment.
ON CONFLICT (stripe_session_id) DO NOTHING
RETURNING a.id`,
  params: {
    accountId: 'uuid',
    sessionId: 'text',
    customerId: 'text',
    customerAccountId: 'text',
    email: 'text',
    packageSlug: 'text',
    now: 'timestamp',
  },
  row: z.object({ id: z.string() }),
});

type UnsettledCheckout = Omit<SettledCheckout, 'callbackUrl'>;

/** Runs one of the delayed-payment account upserts; `recorded` is false when it changed nothing. */
async function upsertUnsettledAccount(
  db: SqlExecutor,
  statement: typeof recordAwaitingPaymentStatement,
  checkout: UnsettledCheckout,
  now: Date,
): Promise<{ recorded: boolean }> {
  const rows = await runStatement(db, statement, {
    accountId: randomUUID(),
    sessionId: checkout.stripeSessionId,
    customerId: checkout.stripeCustomerId,
    customerAccountId: checkout.stripeCustomerAccountId ?? null,
    email: checkout.customerEmail,
    packageSlug: checkout.packageSlug,
    now,
  });
  return { recorded: rows.length > 0 };
}

/** A completed checkout whose delayed payment has not settled: the account waits, no job yet. */
export function recordAwaitingPayment(db: SqlExecutor, checkout: UnsettledCheckout, now: Date) {
  return upsertUnsettledAccount(db, recordAwaitingPaymentStatement, checkout, now);
}

const recordPaymentFailedStatement = defineStatement({
  name: 'record delayed payment failed',
  sql: `
INSERT INTO customer_accounts AS a
  (id, stripe_session_id, stripe_customer_id, stripe_customer_account_id, email, package_slug, status, created_at, updated_at)
VALUES (:accountId, :sessionId, :customerId, :customerAccountId, :email, :packageSlug, 'failed', :now, :now)
ON CONFLICT (stripe_session_id) DO UPDATE SET status = 'failed', updated_at = excluded.updated_at
  WHERE a.status = 'awaiting_payment'
RETURNING a.id`,
  params: recordAwaitingPaymentStatement.params,
  row: z.object({ id: z.string() }),
});

/** The delayed payment failed: the waiting account is marked failed (a settled one is left alone). */
export function recordPaymentFailed(db: SqlExecutor, checkout: UnsettledCheckout, now: Date) {
  return upsertUnsettledAccount(db, recordPaymentFailedStatement, checkout, now);
}
