import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import type { Actor, JobStatus } from '../../core/job.js';
import type { SqlExecutor } from '../executor.js';
import { defineStatement, runStatement, type Statement } from '../statement.js';
import { jobStatus } from './job-row.js';

/** Operator actions on a job and the full read of one. */

const OPERATOR_ACTION_PARAMS = {
  jobId: 'uuid',
  actor: 'text',
  reason: 'text',
  requestToken: 'uuid',
  now: 'timestamp',
} as const;

const rearmJobStatement = defineStatement({
  name: 're-arm job',
  // A replay is recognised by its request token and answered as the first call.
  replay: 'safe',
  sql: `
WITH prior AS (
  SELECT id, status, budget_spent, parked_at, capped_at FROM provisioning_jobs WHERE id = :jobId FOR UPDATE
), replayed AS (
  SELECT detail FROM provisioning_job_events
  WHERE request_token = :requestToken AND job_id = :jobId AND kind = 'rearmed'
), job AS (
  -- A fresh budget, due at once; the attempt number goes on growing, so the next
  -- attempt's dedup id is new even inside the queue's five-minute window.
  UPDATE provisioning_jobs j SET budget_spent = 0, parked_at = NULL, capped_at = NULL, next_attempt_at = :now,
    status = CASE WHEN j.status = 'failed' THEN 'enqueued' ELSE j.status END, updated_at = :now
  FROM prior
  WHERE j.id = prior.id AND prior.status NOT IN ('provisioned', 'cancelled') AND NOT EXISTS (SELECT 1 FROM replayed)
  RETURNING j.id, j.status
), history AS (
  INSERT INTO provisioning_job_events
    (job_id, occurred_at, kind, from_status, to_status, actor, reason, detail, request_token)
  SELECT job.id, :now, 'rearmed', prior.status, job.status, :actor, :reason,
    jsonb_build_object('budget_spent_before', prior.budget_spent, 'was_parked', prior.parked_at IS NOT NULL,
      'was_capped', prior.capped_at IS NOT NULL), :requestToken
  FROM job JOIN prior ON prior.id = job.id
)
SELECT prior.status AS prior_status,
  coalesce(CAST((SELECT detail->>'budget_spent_before' FROM replayed) AS integer), prior.budget_spent)
    AS prior_budget_spent,
  job.id IS NOT NULL OR EXISTS (SELECT 1 FROM replayed) AS applied
FROM prior LEFT JOIN job ON true`,
  params: OPERATOR_ACTION_PARAMS,
  row: z.object({
    prior_status: jobStatus,
    prior_budget_spent: z.number().int(),
    applied: z.boolean(),
  }),
});

/** How an operator's action on a job came out; `T` is what it says when applied. */
export type OperatorActionResult<T> =
  | T
  | { readonly kind: 'refused'; readonly status: 'provisioned' | 'cancelled' }
  | { readonly kind: 'not_found' };

/** The request an operator action runs with: who, why, and the job. */
export interface OperatorRequest {
  readonly jobId: string;
  readonly actor: Actor;
  readonly reason: string;
}

/**
 * Runs one of the operator statements below (one row: the prior status and whether it
 * applied) with a fresh request token, and says which way it went. A closed job
 * (provisioned or cancelled) is refused; none at all is not found.
 */
async function runOperatorAction<R extends { prior_status: JobStatus; applied: boolean }, T>(
  db: SqlExecutor,
  statement: Statement<typeof OPERATOR_ACTION_PARAMS, R>,
  request: OperatorRequest,
  now: Date,
  applied: (row: R) => T,
): Promise<OperatorActionResult<T>> {
  const [row] = await runStatement(db, statement, { ...request, requestToken: randomUUID(), now });
  if (!row) return { kind: 'not_found' };
  if (!row.applied) {
    return {
      kind: 'refused',
      status: row.prior_status === 'cancelled' ? 'cancelled' : 'provisioned',
    };
  }
  return applied(row);
}

export type RearmResult = OperatorActionResult<{
  readonly kind: 'rearmed';
  readonly priorBudgetSpent: number;
}>;

/**
 * Gives a job a fresh retry budget, unparks and uncaps it, and makes it due at once, so
 * the next reconcile re-drives it; a provisioned or cancelled job is never touched.
 */
export function rearmJob(
  db: SqlExecutor,
  request: OperatorRequest,
  now: Date,
): Promise<RearmResult> {
  return runOperatorAction(db, rearmJobStatement, request, now, (row) => ({
    kind: 'rearmed' as const,
    priorBudgetSpent: row.prior_budget_spent,
  }));
}

const cancelJobStatement = defineStatement({
  name: 'cancel job',
  // A replay is recognised by its request token and answered as the first call.
  replay: 'safe',
  sql: `
WITH prior AS (
  SELECT id, account_id, status FROM provisioning_jobs WHERE id = :jobId FOR UPDATE
), replayed AS (
  SELECT from_status FROM provisioning_job_events
  WHERE request_token = :requestToken AND job_id = :jobId AND kind = 'cancelled'
), job AS (
  UPDATE provisioning_jobs j SET status = 'cancelled', cancelled_at = :now, cancel_reason = :reason,
    lease_expires_at = NULL, next_attempt_at = NULL, parked_at = NULL, capped_at = NULL, updated_at = :now
  FROM prior
  WHERE j.id = prior.id AND prior.status NOT IN ('provisioned', 'cancelled') AND NOT EXISTS (SELECT 1 FROM replayed)
  RETURNING j.id, j.account_id, j.status
), account AS (
  UPDATE customer_accounts a SET status = 'cancelled', updated_at = :now
  FROM job WHERE a.id = job.account_id
  RETURNING a.id
), history AS (
  INSERT INTO provisioning_job_events
    (job_id, occurred_at, kind, from_status, to_status, actor, reason, request_token)
  SELECT job.id, :now, 'cancelled', prior.status, job.status, :actor, :reason, :requestToken
  FROM job JOIN prior ON prior.id = job.id
)
SELECT coalesce((SELECT from_status FROM replayed), prior.status) AS prior_status,
  job.id IS NOT NULL OR EXISTS (SELECT 1 FROM replayed) AS applied
FROM prior LEFT JOIN job ON true`,
  params: OPERATOR_ACTION_PARAMS,
  row: z.object({ prior_status: jobStatus, applied: z.boolean() }),
});

export type CancelResult = OperatorActionResult<{
  readonly kind: 'cancelled';
  readonly priorStatus: JobStatus;
}>;

/**
 * Closes a job that will never be provisioned (refunded, fraud, a duplicate purchase):
 * terminal `cancelled`, off the gauge, its account marked cancelled, the reason in its
 * history. A provisioned job is refused: it has a tenant.
 */
export function cancelJob(
  db: SqlExecutor,
  request: OperatorRequest,
  now: Date,
): Promise<CancelResult> {
  return runOperatorAction(db, cancelJobStatement, request, now, (row) => ({
    kind: 'cancelled' as const,
    priorStatus: row.prior_status,
  }));
}

const readJobStatement = defineStatement({
  name: 'read job with account and history',
  // A read.
  replay: 'safe',
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
