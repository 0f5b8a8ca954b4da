import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  type Actor,
  type CallbackReport,
  type HandoffOutcome,
  JOB_STATUSES,
  type JobStatus,
  ORCHESTRATOR_FAILED,
  UNKNOWN_PACKAGE,
} from '../core/job.js';
import { type ProvisioningRules, secondsBefore } from '../core/rules.js';
import type { SqlExecutor } from './executor.js';
import { defineStatement, runStatement, runStatementForOne } from './statement.js';

/**
 * Every state transition of a provisioning job, each one SQL statement (one Data API
 * round trip) that is atomic and safe when callers race. Transitions that must tell
 * "not found" from "refused" lock the row first (`prior … FOR UPDATE`), so they judge
 * the latest committed state, not the statement's snapshot.
 */

const jobStatus = z.enum(JOB_STATUSES);

export const jobRow = z.object({
  id: z.string(),
  account_id: z.string(),
  stripe_session_id: z.string(),
  status: jobStatus,
  phase: z.string().nullable(),
  attempts: z.number().int(),
  last_error: z.string().nullable(),
  deployment_id: z.string().nullable(),
  cell_id: z.string().nullable(),
  package_slug: z.string().nullable(),
  tokens_quota: z.number().int().nullable(),
  trigger_payload: z.record(z.string(), z.unknown()).nullable(),
  last_attempt_at: z.date().nullable(),
  heartbeat_at: z.date().nullable(),
  provisioned_at: z.date().nullable(),
  created_at: z.date(),
  updated_at: z.date(),
});
export type JobRow = z.infer<typeof jobRow>;

// ---------------------------------------------------------------------------------
// Recording a settled checkout

const recordSettledCheckoutStatement = defineStatement({
  name: 'record settled checkout',
  sql: `
WITH package AS (
  SELECT slug, tier, tokens_quota FROM packages WHERE slug = :packageSlug
), account AS (
  INSERT INTO customer_accounts AS a
    (id, stripe_session_id, stripe_customer_id, email, package_slug, tier, tokens_quota, status, created_at, updated_at)
  VALUES (:accountId, :sessionId, :customerId, :email, :packageSlug,
    (SELECT tier FROM package), coalesce((SELECT tokens_quota FROM package), 0), 'pending', :now, :now)
  ON CONFLICT (stripe_session_id) DO UPDATE SET
    status = CASE WHEN a.status = 'active' THEN a.status ELSE 'pending' END,
    stripe_customer_id = coalesce(a.stripe_customer_id, excluded.stripe_customer_id),
    email = coalesce(a.email, excluded.email),
    package_slug = coalesce(a.package_slug, excluded.package_slug),
    tier = coalesce(a.tier, excluded.tier),
    tokens_quota = CASE WHEN a.tokens_quota > 0 THEN a.tokens_quota ELSE excluded.tokens_quota END,
    updated_at = excluded.updated_at
  RETURNING a.id
), job AS (
  INSERT INTO provisioning_jobs AS j
    (id, account_id, stripe_session_id, status, attempts, last_error, package_slug, tokens_quota,
     trigger_payload, last_attempt_at, created_at, updated_at)
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
    CASE WHEN package.slug IS NOT NULL THEN CAST(:now AS timestamptz) END,
    :now, :now
  FROM account LEFT JOIN package ON true
  -- A repeat delivery returns the existing row untouched (whatever its status).
  ON CONFLICT (stripe_session_id) DO UPDATE SET stripe_session_id = j.stripe_session_id
  RETURNING j.*
), history AS (
  INSERT INTO provisioning_job_events (job_id, occurred_at, kind, to_status, actor, reason, detail)
  SELECT job.id, :now, 'recorded', job.status, :actor, coalesce(job.last_error, CAST(:reason AS text)),
    jsonb_build_object('package_slug', CAST(:packageSlug AS text), 'attempt', job.attempts)
  FROM job WHERE job.id = CAST(:jobId AS uuid)
)
SELECT job.*, job.id = CAST(:jobId AS uuid) AS created FROM job`,
  params: {
    jobId: 'uuid',
    accountId: 'uuid',
    sessionId: 'text',
    customerId: 'text',
    email: 'text',
    packageSlug: 'text',
    callbackUrl: 'text',
    actor: 'text',
    reason: 'text',
    now: 'timestamp',
  },
  row: jobRow.extend({ created: z.boolean() }),
});

export interface SettledCheckout {
  readonly stripeSessionId: string;
  readonly stripeCustomerId: string | null;
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
 * Records the job for a settled checkout and counts its first hand-off attempt:
 * exactly one job per session whatever the number of deliveries. An unknown package
 * is recorded with no payload and `last_error = unknown_package`, never handed off.
 */
export async function recordSettledCheckout(
  db: SqlExecutor,
  checkout: SettledCheckout,
  now: Date,
  actor: Actor = 'stripe',
): Promise<RecordedJob> {
  const { created, ...job } = await runStatementForOne(db, recordSettledCheckoutStatement, {
    jobId: randomUUID(),
    accountId: randomUUID(),
    sessionId: checkout.stripeSessionId,
    customerId: checkout.stripeCustomerId,
    email: checkout.customerEmail,
    packageSlug: checkout.packageSlug,
    callbackUrl: checkout.callbackUrl,
    actor,
    reason: checkout.reason ?? null,
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
  (id, stripe_session_id, stripe_customer_id, email, package_slug, status, created_at, updated_at)
VALUES (:accountId, :sessionId, :customerId, :email, :packageSlug, 'awaiting_payment', :now, :now)
-- A later state (settled, failed, active) is never moved back to awaiting payment.
ON CONFLICT (stripe_session_id) DO NOTHING
RETURNING a.id`,
  params: {
    accountId: 'uuid',
    sessionId: 'text',
    customerId: 'text',
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
  (id, stripe_session_id, stripe_customer_id, email, package_slug, status, created_at, updated_at)
VALUES (:accountId, :sessionId, :customerId, :email, :packageSlug, 'failed', :now, :now)
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

// ---------------------------------------------------------------------------------
// Hand-off outcomes

const recordHandoffOutcomeStatement = defineStatement({
  name: 'record hand-off outcome',
  sql: `
WITH job AS (
  UPDATE provisioning_jobs j SET
    -- Once the orchestrator has reported since this attempt was dispatched (a callback
    -- moves updated_at), its word stands: the hand-off outcome does not overwrite it.
    last_error = CASE WHEN j.updated_at <= j.last_attempt_at THEN CAST(:failure AS text) ELSE j.last_error END,
    -- An accepted re-drive of a job that failed before it was dispatched awaits the orchestrator again.
    status = CASE WHEN :failure IS NULL AND j.status = 'failed' AND j.updated_at <= j.last_attempt_at
      THEN 'enqueued' ELSE j.status END
  WHERE j.id = :jobId AND j.attempts = :attempt AND j.status <> 'provisioned'
  RETURNING j.id, j.status
)
INSERT INTO provisioning_job_events (job_id, occurred_at, kind, to_status, actor, reason, detail)
SELECT job.id, :now, 'handoff', job.status, :actor, :failure, jsonb_build_object('attempt', CAST(:attempt AS int8))
FROM job
RETURNING job_id`,
  params: { jobId: 'uuid', attempt: 'int', failure: 'text', actor: 'text', now: 'timestamp' },
  row: z.object({ job_id: z.string() }),
});

/**
 * Records how hand-off attempt `attempt` went. Keyed by the attempt, so a repeat is
 * harmless and the outcome of an attempt that a newer re-drive superseded is ignored
 * (`recorded: false`), as is any outcome for a provisioned job.
 */
export async function recordHandoffOutcome(
  db: SqlExecutor,
  handoff: { readonly jobId: string; readonly attempt: number; readonly outcome: HandoffOutcome },
  now: Date,
  actor: Actor = 'handoff',
): Promise<{ recorded: boolean }> {
  const rows = await runStatement(db, recordHandoffOutcomeStatement, {
    jobId: handoff.jobId,
    attempt: handoff.attempt,
    failure: handoff.outcome === 'accepted' ? null : handoff.outcome,
    actor,
    now,
  });
  return { recorded: rows.length > 0 };
}

// ---------------------------------------------------------------------------------
// Callbacks from the orchestrator

const applyCallbackStatement = defineStatement({
  name: 'apply orchestrator callback',
  sql: `
WITH prior AS (
  SELECT id, account_id, status, phase, deployment_id, cell_id FROM provisioning_jobs
  WHERE stripe_session_id = :sessionId
  FOR UPDATE
), job AS (
  UPDATE provisioning_jobs j SET
    status = :status,
    phase = coalesce(CAST(:phase AS text), j.phase),
    last_error = CASE WHEN :status = 'failed' THEN coalesce(CAST(:error AS text), '${ORCHESTRATOR_FAILED}') END,
    deployment_id = coalesce(CAST(:deploymentId AS text), j.deployment_id),
    cell_id = coalesce(CAST(:cellId AS text), j.cell_id),
    tokens_quota = CASE WHEN CAST(:tokensQuota AS int8) > 0 THEN CAST(:tokensQuota AS int8) ELSE j.tokens_quota END,
    heartbeat_at = :now,
    provisioned_at = CASE WHEN :status = 'provisioned' THEN CAST(:now AS timestamptz) END,
    updated_at = :now
  FROM prior
  WHERE j.id = prior.id AND prior.status <> 'provisioned'
  RETURNING j.id, j.account_id, j.status, j.phase, j.deployment_id, j.cell_id
), account AS (
  UPDATE customer_accounts a SET
    status = 'active',
    deployment_id = CAST(:deploymentId AS text),
    cell_id = CAST(:cellId AS text),
    tokens_quota = CASE WHEN CAST(:tokensQuota AS int8) > 0 THEN CAST(:tokensQuota AS int8) ELSE a.tokens_quota END,
    updated_at = :now
  FROM job
  WHERE a.id = job.account_id AND job.status = 'provisioned'
  RETURNING a.id
), history AS (
  -- Heartbeats that change nothing are not history.
  INSERT INTO provisioning_job_events (job_id, occurred_at, kind, from_status, to_status, actor, reason, detail)
  SELECT job.id, :now, 'callback', prior.status, job.status, :actor, CAST(:error AS text),
    jsonb_strip_nulls(jsonb_build_object('phase', job.phase, 'deployment_id', CAST(:deploymentId AS text),
      'cell_id', CAST(:cellId AS text), 'tokens_quota', CAST(:tokensQuota AS int8)))
  FROM job JOIN prior ON prior.id = job.id
  WHERE prior.status IS DISTINCT FROM job.status OR prior.phase IS DISTINCT FROM job.phase
)
SELECT prior.id AS job_id, prior.account_id, prior.status AS prior_status,
  coalesce(job.status, prior.status) AS status,
  job.id IS NOT NULL AS applied, (SELECT count(*) FROM account) AS accounts_activated,
  -- The coordinates the job holds after this call (frozen once provisioned).
  CASE WHEN job.id IS NULL THEN prior.deployment_id ELSE job.deployment_id END AS deployment_id,
  CASE WHEN job.id IS NULL THEN prior.cell_id ELSE job.cell_id END AS cell_id
FROM prior LEFT JOIN job ON true`,
  params: {
    sessionId: 'text',
    status: 'text',
    phase: 'text',
    error: 'text',
    deploymentId: 'text',
    cellId: 'text',
    tokensQuota: 'int',
    actor: 'text',
    now: 'timestamp',
  },
  row: z.object({
    job_id: z.string(),
    account_id: z.string(),
    prior_status: jobStatus,
    status: jobStatus,
    applied: z.boolean(),
    accounts_activated: z.number().int(),
    deployment_id: z.string().nullable(),
    cell_id: z.string().nullable(),
  }),
});

export type CallbackResult =
  | { readonly kind: 'unknown_session' }
  /** `applied` is false when the job was already provisioned: it never moves again. */
  | {
      readonly kind: 'known';
      readonly jobId: string;
      readonly accountId: string;
      readonly applied: boolean;
      readonly priorStatus: JobStatus;
      readonly status: JobStatus;
      /** The job's coordinates after the call: a provisioned job's are never replaced. */
      readonly deploymentId: string | null;
      readonly cellId: string | null;
    };

/**
 * Applies an orchestrator callback in one statement: progress (phase, heartbeat),
 * provisioned (job and account together, quota only when positive) or failed.
 */
export async function applyCallback(
  db: SqlExecutor,
  report: CallbackReport,
  now: Date,
  actor: Actor = 'orchestrator',
): Promise<CallbackResult> {
  const rows = await runStatement(db, applyCallbackStatement, {
    sessionId: report.stripeSessionId,
    status: report.status,
    phase: report.phase ?? null,
    error: report.error ?? null,
    deploymentId: report.deploymentId ?? null,
    cellId: report.cellId ?? null,
    tokensQuota: report.tokensQuota ?? null,
    actor,
    now,
  });
  const row = rows[0];
  if (!row) return { kind: 'unknown_session' };
  return {
    kind: 'known',
    jobId: row.job_id,
    accountId: row.account_id,
    applied: row.applied,
    priorStatus: row.prior_status,
    status: row.status,
    deploymentId: row.deployment_id,
    cellId: row.cell_id,
  };
}

// ---------------------------------------------------------------------------------
// The reconciler's claim and the gauge

const claimStaleJobsStatement = defineStatement({
  name: 'claim stale jobs',
  sql: `
WITH claimable AS (
  SELECT id, last_attempt_at AS previous_attempt_at, created_at FROM provisioning_jobs
  WHERE status <> 'provisioned' AND attempts < :maxAttempts
    AND (last_attempt_at IS NULL OR last_attempt_at < :staleBefore)
    AND trigger_payload IS NOT NULL
  ORDER BY last_attempt_at ASC NULLS FIRST, created_at ASC
  LIMIT :batchSize
  -- Two overlapping runs never claim the same job: each skips the other's rows, and a
  -- claimed row is no longer stale once the claim commits.
  FOR UPDATE SKIP LOCKED
), claimed AS (
  UPDATE provisioning_jobs j SET attempts = j.attempts + 1, last_attempt_at = :now
  FROM claimable WHERE j.id = claimable.id
  RETURNING j.id, j.stripe_session_id, j.status, j.attempts, j.trigger_payload, j.last_error, j.last_attempt_at
), history AS (
  INSERT INTO provisioning_job_events (job_id, occurred_at, kind, to_status, actor, detail)
  SELECT claimed.id, :now, 'redrive', claimed.status, :actor, jsonb_build_object('attempt', claimed.attempts)
  FROM claimed
), skipped AS (
  -- Stale rows without a payload are counted for the operator, never replayed.
  SELECT count(*) AS skipped_no_payload FROM provisioning_jobs
  WHERE status <> 'provisioned' AND attempts < :maxAttempts
    AND (last_attempt_at IS NULL OR last_attempt_at < :staleBefore)
    AND trigger_payload IS NULL
)
SELECT claimed.id, claimed.stripe_session_id, claimed.attempts, claimed.trigger_payload,
  claimed.last_error, skipped.skipped_no_payload
FROM skipped
LEFT JOIN claimed ON true
LEFT JOIN claimable ON claimable.id = claimed.id
ORDER BY claimable.previous_attempt_at ASC NULLS FIRST, claimable.created_at ASC`,
  params: {
    maxAttempts: 'int',
    staleBefore: 'timestamp',
    batchSize: 'int',
    actor: 'text',
    now: 'timestamp',
  },
  row: z.object({
    id: z.string().nullable(),
    stripe_session_id: z.string().nullable(),
    attempts: z.number().int().nullable(),
    trigger_payload: z.record(z.string(), z.unknown()).nullable(),
    last_error: z.string().nullable(),
    skipped_no_payload: z.number().int(),
  }),
});

export interface ClaimedJob {
  readonly id: string;
  readonly stripeSessionId: string;
  /** The attempt this claim counted: the re-drive's number. */
  readonly attempt: number;
  readonly triggerPayload: Record<string, unknown>;
  /** How the previous attempt ended (null: accepted, or never reported). */
  readonly lastError: string | null;
}

export interface Claim {
  readonly jobs: ClaimedJob[];
  /** STALE rows with a NULL payload, left for an operator. */
  readonly skippedNoPayload: number;
}

/**
 * Claims up to `batchSize` STALE jobs, oldest first, counting the re-drive attempt
 * on each; a job at the cap is never claimed, so attempts never pass it.
 */
export async function claimStaleJobs(
  db: SqlExecutor,
  batchSize: number,
  now: Date,
  rules: ProvisioningRules,
  actor: Actor = 'reconciler',
): Promise<Claim> {
  const rows = await runStatement(db, claimStaleJobsStatement, {
    maxAttempts: rules.maxAttempts,
    staleBefore: secondsBefore(now, rules.staleAfterSeconds),
    batchSize,
    actor,
    now,
  });
  const jobs: ClaimedJob[] = [];
  for (const row of rows) {
    if (
      row.id === null ||
      row.stripe_session_id === null ||
      row.attempts === null ||
      !row.trigger_payload
    )
      continue;
    jobs.push({
      id: row.id,
      stripeSessionId: row.stripe_session_id,
      attempt: row.attempts,
      triggerPayload: row.trigger_payload,
      lastError: row.last_error,
    });
  }
  return { jobs, skippedNoPayload: rows[0]?.skipped_no_payload ?? 0 };
}

const countStuckJobsStatement = defineStatement({
  name: 'count stuck jobs',
  sql: `
SELECT count(*) AS stuck FROM provisioning_jobs
WHERE status <> 'provisioned' AND (updated_at < :stuckBefore OR attempts >= :maxAttempts)`,
  params: { stuckBefore: 'timestamp', maxAttempts: 'int' },
  row: z.object({ stuck: z.number().int() }),
});

/** The STUCK gauge: exactly what the `ProvisioningJobsStuck` alarm counts. */
export async function countStuckJobs(
  db: SqlExecutor,
  now: Date,
  rules: ProvisioningRules,
): Promise<number> {
  const { stuck } = await runStatementForOne(db, countStuckJobsStatement, {
    stuckBefore: secondsBefore(now, rules.stuckAfterSeconds),
    maxAttempts: rules.maxAttempts,
  });
  return stuck;
}

// ---------------------------------------------------------------------------------
// Operator actions and reads

const rearmJobStatement = defineStatement({
  name: 're-arm capped job',
  sql: `
WITH prior AS (
  SELECT id, status, attempts FROM provisioning_jobs WHERE id = :jobId FOR UPDATE
), job AS (
  UPDATE provisioning_jobs j SET attempts = 0, status = 'enqueued', last_attempt_at = NULL, updated_at = :now
  FROM prior WHERE j.id = prior.id AND prior.status <> 'provisioned'
  RETURNING j.id, j.status
), history AS (
  INSERT INTO provisioning_job_events (job_id, occurred_at, kind, from_status, to_status, actor, reason, detail)
  SELECT job.id, :now, 'rearmed', prior.status, job.status, :actor, :reason,
    jsonb_build_object('attempts_before', prior.attempts)
  FROM job JOIN prior ON prior.id = job.id
)
SELECT prior.status AS prior_status, prior.attempts AS prior_attempts, job.id IS NOT NULL AS applied
FROM prior LEFT JOIN job ON true`,
  params: { jobId: 'uuid', actor: 'text', reason: 'text', now: 'timestamp' },
  row: z.object({
    prior_status: jobStatus,
    prior_attempts: z.number().int(),
    applied: z.boolean(),
  }),
});

export type RearmResult =
  | { readonly kind: 'rearmed'; readonly priorAttempts: number }
  | { readonly kind: 'refused_provisioned' }
  | { readonly kind: 'not_found' };

/** Resets a job's attempt budget so the next reconcile re-drives it; never touches a provisioned job. */
export async function rearmJob(
  db: SqlExecutor,
  request: { readonly jobId: string; readonly actor: Actor; readonly reason: string },
  now: Date,
): Promise<RearmResult> {
  const [row] = await runStatement(db, rearmJobStatement, { ...request, now });
  if (!row) return { kind: 'not_found' };
  if (!row.applied) return { kind: 'refused_provisioned' };
  return { kind: 'rearmed', priorAttempts: row.prior_attempts };
}

const readJobStatement = defineStatement({
  name: 'read job with account and history',
  sql: `
SELECT to_jsonb(j) AS job, to_jsonb(a) AS account,
  coalesce((SELECT jsonb_agg(to_jsonb(e) ORDER BY e.id) FROM provisioning_job_events e WHERE e.job_id = j.id),
    '[]'::jsonb) AS history
FROM provisioning_jobs j JOIN customer_accounts a ON a.id = j.account_id
WHERE j.stripe_session_id = :sessionId`,
  params: { sessionId: 'text' },
  row: z.object({
    job: z.record(z.string(), z.unknown()),
    account: z.record(z.string(), z.unknown()),
    history: z.array(z.record(z.string(), z.unknown())),
  }),
});

export type JobReport = z.infer<typeof readJobStatement.row>;

/** The job of a session with its account and full history, as JSON values; undefined if none. */
export async function readJob(
  db: SqlExecutor,
  stripeSessionId: string,
): Promise<JobReport | undefined> {
  const [row] = await runStatement(db, readJobStatement, { sessionId: stripeSessionId });
  return row;
}
