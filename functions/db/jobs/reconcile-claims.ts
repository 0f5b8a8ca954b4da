import { z } from 'zod';
import type { Actor } from '../../core/job.js';
import { type ProvisioningRules, secondsBefore } from '../../core/rules.js';
import type { SqlExecutor } from '../executor.js';
import { defineStatement, runStatement, runStatementForOne } from '../statement.js';

/** The reconciler's claim of STALE jobs and the STUCK gauge. */

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
