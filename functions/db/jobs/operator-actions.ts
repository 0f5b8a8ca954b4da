import { z } from 'zod';
import type { Actor } from '../../core/job.js';
import type { SqlExecutor } from '../executor.js';
import { defineStatement, runStatement } from '../statement.js';
import { jobStatus } from './job-row.js';

/** Operator actions on a job and the full read of one. */

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
