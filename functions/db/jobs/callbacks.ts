import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import type { DatabaseReport } from '../../core/callback-body.js';
import {
  type Actor,
  type CallbackReport,
  type JobStatus,
  ORCHESTRATOR_FAILED,
} from '../../core/job.js';
import { type ProvisioningRules, secondsAfter } from '../../core/rules.js';
import type { SqlExecutor } from '../executor.js';
import {
  RECONCILER_QUIET_SINCE,
  RECONCILER_WOKEN,
  reconcilerQuietSince,
} from '../reconciler-state-repository.js';
import { defineStatement, runStatement } from '../statement.js';
import { RETRY_AT_PARAMS, retryAtSql, retryAtValues } from './backoff.js';
import { jobStatus } from './job-row.js';

/** The orchestrator's reports applied to a job, with the tenant database it reports. */

const applyCallbackStatement = defineStatement({
  name: 'apply orchestrator callback',
  // A replay is recognised by its request token and answered as the first call.
  replay: 'safe',
  sql: `
WITH prior AS (
  SELECT id, account_id, status, phase, deployment_id, cell_id, capped_at FROM provisioning_jobs
  WHERE stripe_session_id = :sessionId
  FOR UPDATE
), replayed AS (
  SELECT e.kind, e.from_status FROM provisioning_job_events e JOIN prior ON e.job_id = prior.id
  WHERE e.request_token = :requestToken
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
    updated_at = :now,
    -- Progress holds the job like an accepted attempt: re-driven only after a quiet
    -- window; a failed saga is retried after a backoff.
    next_attempt_at = CASE :status WHEN 'provisioning' THEN CAST(:quietUntil AS timestamptz)
      WHEN 'failed' THEN ${retryAtSql('j')} END,
    -- The orchestrator took the job after all: it is no longer waiting for an operator.
    parked_at = CASE WHEN :status = 'failed' THEN j.parked_at END,
    -- A failed saga with no budget left: nothing more happens on its own.
    capped_at = CASE WHEN :status <> 'failed' THEN NULL
      WHEN j.capped_at IS NULL AND j.budget_spent >= :maxAttempts THEN CAST(:now AS timestamptz)
      ELSE j.capped_at END
  FROM prior
  WHERE j.id = prior.id AND prior.status NOT IN ('provisioned', 'cancelled') AND NOT EXISTS (SELECT 1 FROM replayed)
  RETURNING j.id, j.account_id, j.status, j.phase, j.deployment_id, j.cell_id,
    prior.capped_at IS NULL AND j.capped_at IS NOT NULL AS capped
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
  INSERT INTO provisioning_job_events
    (job_id, occurred_at, kind, from_status, to_status, actor, reason, detail, request_token)
  -- Heartbeats that change nothing are not history.
  SELECT job.id, :now, 'callback', prior.status, job.status, :actor, CAST(:error AS text),
    jsonb_strip_nulls(jsonb_build_object('phase', job.phase, 'deployment_id', CAST(:deploymentId AS text),
      'cell_id', CAST(:cellId AS text), 'tokens_quota', CAST(:tokensQuota AS int8))), :requestToken
  FROM job JOIN prior ON prior.id = job.id
  WHERE prior.status IS DISTINCT FROM job.status OR prior.phase IS DISTINCT FROM job.phase
  UNION ALL
  SELECT job.id, :now, 'capped', job.status, job.status, :actor, CAST(:error AS text), NULL, :requestToken
  FROM job WHERE job.capped
  UNION ALL
  -- A tenant reported for a job an operator cancelled: kept and surfaced, never applied.
  SELECT prior.id, :now, 'late_callback', prior.status, prior.status, :actor, CAST(:status AS text),
    jsonb_strip_nulls(jsonb_build_object('status', CAST(:status AS text), 'deployment_id', CAST(:deploymentId AS text),
      'cell_id', CAST(:cellId AS text), 'error', CAST(:error AS text))), :requestToken
  FROM prior WHERE prior.status = 'cancelled' AND :status = 'provisioned'
  ON CONFLICT (request_token, job_id, kind) WHERE request_token IS NOT NULL DO NOTHING
), reported AS (
  -- The tenant database, for the watchdog's stall rule: its first report creates the row
  -- under the job's account, and its provisioned_at (when provisioning started, which
  -- the rule measures from) is kept by later reports. Whatever the job's state.
  INSERT INTO organization_databases AS d (id, account_id, status, provisioned_at, updated_at)
  SELECT CAST(:databaseId AS text), prior.account_id, CAST(:databaseStatus AS text), :now, :now
  FROM prior WHERE CAST(:databaseId AS text) IS NOT NULL
  ON CONFLICT (id) DO UPDATE SET
    status = excluded.status,
    account_id = coalesce(d.account_id, excluded.account_id),
    updated_at = excluded.updated_at
    -- A database never moves to another tenant's account on an orchestrator's say-so.
    WHERE d.account_id IS NULL OR d.account_id = excluded.account_id
  RETURNING d.provisioned_at
), ${RECONCILER_WOKEN}
SELECT prior.id AS job_id, prior.account_id,
  coalesce((SELECT from_status FROM replayed WHERE kind = 'callback'), prior.status) AS prior_status,
  coalesce(job.status, prior.status) AS status,
  job.id IS NOT NULL OR EXISTS (SELECT 1 FROM replayed WHERE kind = 'callback') AS applied,
  coalesce(job.capped, false) OR EXISTS (SELECT 1 FROM replayed WHERE kind = 'capped') AS capped,
  prior.status = 'cancelled' AND :status = 'provisioned' AS late_for_cancelled,
  -- The coordinates the job holds after this call (frozen once provisioned).
  CASE WHEN job.id IS NULL THEN prior.deployment_id ELSE job.deployment_id END AS deployment_id,
  CASE WHEN job.id IS NULL THEN prior.cell_id ELSE job.cell_id END AS cell_id,
  EXISTS (SELECT 1 FROM reported) AS database_recorded, ${RECONCILER_QUIET_SINCE}
FROM prior LEFT JOIN job ON true`,
  params: {
    sessionId: 'text',
    status: 'text',
    phase: 'text',
    error: 'text',
    deploymentId: 'text',
    cellId: 'text',
    tokensQuota: 'int',
    quietUntil: 'timestamp',
    ...RETRY_AT_PARAMS,
    maxAttempts: 'int',
    databaseId: 'text',
    databaseStatus: 'text',
    requestToken: 'uuid',
    actor: 'text',
    now: 'timestamp',
  },
  row: reconcilerQuietSince.extend({
    job_id: z.string(),
    account_id: z.string(),
    prior_status: jobStatus,
    status: jobStatus,
    applied: z.boolean(),
    capped: z.boolean(),
    late_for_cancelled: z.boolean(),
    deployment_id: z.string().nullable(),
    cell_id: z.string().nullable(),
    database_recorded: z.boolean(),
  }),
});

export type CallbackResult =
  | { readonly kind: 'unknown_session' }
  /** `applied` is false when the job was already provisioned or cancelled: it never moves again. */
  | {
      readonly kind: 'known';
      readonly jobId: string;
      readonly accountId: string;
      readonly applied: boolean;
      readonly priorStatus: JobStatus;
      readonly status: JobStatus;
      /** This report (a failed saga) left the job with no budget: it is capped. */
      readonly capped: boolean;
      /** A `provisioned` report for a cancelled job: kept in its history for an operator. */
      readonly lateForCancelled: boolean;
      /** The job's coordinates after the call: a provisioned job's are never replaced. */
      readonly deploymentId: string | null;
      readonly cellId: string | null;
      /**
       * The reported tenant database: `recorded`, or `other_account` when its id is
       * already another account's (nothing changed); absent when none was reported.
       */
      readonly database?: 'recorded' | 'other_account';
      /** Set when the reconciler may be idle: the caller must wake it (`services/quiet.ts`). */
      readonly reconcilerQuietSince: Date | null;
    };

/**
 * Applies an orchestrator callback in one statement: progress (phase, heartbeat, and the
 * job held for a quiet window), provisioned (job and account together, quota only when
 * positive) or failed (re-driven after a backoff, or capped with no budget left), and
 * the tenant database it reports. A provisioned or cancelled job never moves.
 */
export async function applyCallback(
  db: SqlExecutor,
  report: CallbackReport,
  now: Date,
  rules: Pick<ProvisioningRules, 'staleAfterSeconds' | 'retryMaxDelaySeconds' | 'maxAttempts'>,
  random: () => number = Math.random,
  actor: Actor = 'orchestrator',
  database?: DatabaseReport,
): Promise<CallbackResult> {
  const rows = await runStatement(db, applyCallbackStatement, {
    sessionId: report.stripeSessionId,
    status: report.status,
    phase: report.phase ?? null,
    error: report.error ?? null,
    deploymentId: report.deploymentId ?? null,
    cellId: report.cellId ?? null,
    tokensQuota: report.tokensQuota ?? null,
    quietUntil: secondsAfter(now, rules.staleAfterSeconds),
    ...retryAtValues(rules, random),
    maxAttempts: rules.maxAttempts,
    databaseId: database?.id ?? null,
    databaseStatus: database?.status ?? null,
    requestToken: randomUUID(),
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
    capped: row.capped,
    lateForCancelled: row.late_for_cancelled,
    deploymentId: row.deployment_id,
    cellId: row.cell_id,
    ...(database ? { database: row.database_recorded ? 'recorded' : 'other_account' } : {}),
    reconcilerQuietSince: row.reconciler_quiet_since,
  };
}
