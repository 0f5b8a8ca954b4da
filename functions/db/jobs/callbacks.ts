import { z } from 'zod';
import {
  type Actor,
  type CallbackReport,
  type JobStatus,
  ORCHESTRATOR_FAILED,
} from '../../core/job.js';
import type { SqlExecutor } from '../executor.js';
import { defineStatement, runStatement } from '../statement.js';
import { jobStatus } from './job-row.js';

/** The orchestrator's reports applied to a job. */

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
