import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import type { Actor } from '../../core/job.js';
import { type ProvisioningRules, secondsAfter, secondsBefore } from '../../core/rules.js';
import type { SqlExecutor } from '../executor.js';
import { defineStatement, runStatementForOne } from '../statement.js';

/**
 * The reconciler's statements (SPEC 2.5): claim STALE jobs for a re-drive, cap jobs due
 * with no budget left, claim the breaker's probe while it is open, and count the STUCK
 * gauge. Claims take a request token: a claim replayed after an ambiguous Data API fault
 * answers the jobs the first call claimed, so no batch is dropped.
 */

/** Due: not terminal, not parked or capped, no attempt in flight, its next attempt time come. */
const DUE = `status NOT IN ('provisioned', 'cancelled') AND parked_at IS NULL AND capped_at IS NULL
    AND (lease_expires_at IS NULL OR lease_expires_at <= :now)
    AND (next_attempt_at IS NULL OR next_attempt_at <= :now)`;

const claimedJob = z.object({
  id: z.string(),
  stripe_session_id: z.string(),
  attempt: z.number().int(),
  trigger_payload: z.record(z.string(), z.unknown()),
  last_error: z.string().nullable(),
  last_outcome: z.string().nullable(),
});
const cappedJob = z.object({
  id: z.string(),
  stripe_session_id: z.string(),
  last_error: z.string().nullable(),
});

const claimStaleJobsStatement = defineStatement({
  name: 'claim stale jobs',
  // A replay is recognised by its request token and answered as the first call.
  replay: 'safe',
  sql: `
WITH breaker AS (
  SELECT state, opened_at FROM orchestrator_breaker WHERE id = 'orchestrator'
), replayed AS (
  SELECT job_id, kind, CAST(detail->>'attempt' AS integer) AS attempt
  FROM provisioning_job_events WHERE request_token = :requestToken
), claimable AS (
  -- While the breaker is open, re-drives pause: nothing is claimed and no budget spent.
  SELECT id, next_attempt_at, created_at FROM provisioning_jobs
  WHERE ${DUE} AND budget_spent < :maxAttempts AND trigger_payload IS NOT NULL
    AND (SELECT state FROM breaker) = 'closed' AND NOT EXISTS (SELECT 1 FROM replayed)
  ORDER BY next_attempt_at ASC NULLS FIRST, created_at ASC
  LIMIT :batchSize
  -- Two overlapping runs never claim the same job: each skips the other's rows, and a
  -- claimed job holds a lease once the claim commits.
  FOR UPDATE SKIP LOCKED
), claimed AS (
  UPDATE provisioning_jobs j SET attempts = j.attempts + 1, last_attempt_at = :now, lease_expires_at = :leaseUntil
  FROM claimable WHERE j.id = claimable.id
  RETURNING j.id, j.stripe_session_id, j.status, j.attempts AS attempt, j.trigger_payload, j.last_error,
    j.last_outcome, claimable.next_attempt_at, claimable.created_at
), cap_due AS (
  SELECT id FROM provisioning_jobs
  WHERE ${DUE} AND budget_spent >= :maxAttempts AND trigger_payload IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM replayed)
  ORDER BY next_attempt_at ASC NULLS FIRST, created_at ASC
  LIMIT :batchSize
  FOR UPDATE SKIP LOCKED
), capped AS (
  UPDATE provisioning_jobs j SET capped_at = :now
  FROM cap_due WHERE j.id = cap_due.id
  RETURNING j.id, j.stripe_session_id, j.status, j.budget_spent, j.last_error
), history AS (
  INSERT INTO provisioning_job_events (job_id, occurred_at, kind, to_status, actor, reason, detail, request_token)
  SELECT claimed.id, :now, 'redrive', claimed.status, :actor, NULL, jsonb_build_object('attempt', claimed.attempt),
    :requestToken
  FROM claimed
  UNION ALL
  SELECT capped.id, :now, 'capped', capped.status, :actor, capped.last_error,
    jsonb_build_object('budget_spent', capped.budget_spent), :requestToken
  FROM capped
  ON CONFLICT (request_token, job_id, kind) WHERE request_token IS NOT NULL DO NOTHING
), skipped AS (
  -- Due rows without a payload are counted for the operator, never replayed.
  SELECT count(*) AS n FROM provisioning_jobs WHERE ${DUE} AND trigger_payload IS NULL
)
SELECT
  coalesce((SELECT jsonb_agg(jsonb_build_object('id', c.id, 'stripe_session_id', c.stripe_session_id,
      'attempt', c.attempt, 'trigger_payload', c.trigger_payload, 'last_error', c.last_error,
      'last_outcome', c.last_outcome) ORDER BY c.next_attempt_at ASC NULLS FIRST, c.created_at ASC)
    FROM (
      SELECT id, stripe_session_id, attempt, trigger_payload, last_error, last_outcome, next_attempt_at, created_at
      FROM claimed
      UNION ALL
      SELECT j.id, j.stripe_session_id, r.attempt, j.trigger_payload, j.last_error, j.last_outcome,
        j.next_attempt_at, j.created_at
      FROM replayed r JOIN provisioning_jobs j ON j.id = r.job_id WHERE r.kind = 'redrive'
    ) c), '[]'::jsonb) AS claimed,
  coalesce((SELECT jsonb_agg(jsonb_build_object('id', c.id, 'stripe_session_id', c.stripe_session_id,
      'last_error', c.last_error))
    FROM (
      SELECT id, stripe_session_id, last_error FROM capped
      UNION ALL
      SELECT j.id, j.stripe_session_id, j.last_error
      FROM replayed r JOIN provisioning_jobs j ON j.id = r.job_id WHERE r.kind = 'capped'
    ) c), '[]'::jsonb) AS capped,
  (SELECT n FROM skipped) AS skipped_no_payload,
  (SELECT state FROM breaker) AS breaker, (SELECT opened_at FROM breaker) AS breaker_opened_at`,
  params: {
    maxAttempts: 'int',
    batchSize: 'int',
    requestToken: 'uuid',
    leaseUntil: 'timestamp',
    actor: 'text',
    now: 'timestamp',
  },
  row: z.object({
    claimed: z.array(claimedJob),
    capped: z.array(cappedJob),
    skipped_no_payload: z.number().int(),
    breaker: z.enum(['closed', 'open']),
    breaker_opened_at: z.date().nullable(),
  }),
});

export interface ClaimedJob {
  readonly id: string;
  readonly stripeSessionId: string;
  /** The attempt this claim made: the re-drive's number. */
  readonly attempt: number;
  readonly triggerPayload: Record<string, unknown>;
  /** How the previous attempt ended (null: accepted, or never reported). */
  readonly lastError: string | null;
  /** The previous attempt's outcome class (`transient`: the orchestrator was unreachable). */
  readonly lastOutcome: string | null;
}

export interface CappedJob {
  readonly id: string;
  readonly stripeSessionId: string;
  readonly lastError: string | null;
}

export interface Claim {
  readonly jobs: ClaimedJob[];
  /** Jobs this claim found due with no budget left, and capped. */
  readonly capped: CappedJob[];
  /** Due rows with a NULL payload, left for an operator. */
  readonly skippedNoPayload: number;
  /** The breaker: while open nothing is claimed (see `claimProbe`). */
  readonly breaker: { readonly state: 'closed' | 'open'; readonly openedAt: Date | null };
}

/**
 * Claims up to `batchSize` STALE jobs, due first, each with its next attempt number and
 * a lease for the queue wait, and caps up to `batchSize` jobs due with no budget left.
 * Claims nothing while the breaker is open.
 */
export async function claimStaleJobs(
  db: SqlExecutor,
  batchSize: number,
  now: Date,
  rules: Pick<ProvisioningRules, 'maxAttempts' | 'handoffLeaseSeconds'>,
  actor: Actor = 'reconciler',
): Promise<Claim> {
  const row = await runStatementForOne(db, claimStaleJobsStatement, {
    maxAttempts: rules.maxAttempts,
    batchSize,
    requestToken: randomUUID(),
    leaseUntil: secondsAfter(now, rules.handoffLeaseSeconds),
    actor,
    now,
  });
  return {
    jobs: row.claimed.map(toClaimedJob),
    capped: row.capped.map((job) => ({
      id: job.id,
      stripeSessionId: job.stripe_session_id,
      lastError: job.last_error,
    })),
    skippedNoPayload: row.skipped_no_payload,
    breaker: { state: row.breaker, openedAt: row.breaker_opened_at },
  };
}

function toClaimedJob(job: z.infer<typeof claimedJob>): ClaimedJob {
  return {
    id: job.id,
    stripeSessionId: job.stripe_session_id,
    attempt: job.attempt,
    triggerPayload: job.trigger_payload,
    lastError: job.last_error,
    lastOutcome: job.last_outcome,
  };
}

const claimProbeStatement = defineStatement({
  name: 'claim breaker probe',
  // A replay is recognised by its request token and answered as the first call.
  replay: 'safe',
  sql: `
WITH replayed AS (
  SELECT job_id, CAST(detail->>'attempt' AS integer) AS attempt
  FROM provisioning_job_events WHERE request_token = :requestToken AND kind = 'probe'
), breaker AS (
  -- One probe at a time, and none while an operator holds the breaker open.
  SELECT id FROM orchestrator_breaker
  WHERE id = 'orchestrator' AND state = 'open' AND NOT forced
    AND (probe_lease_expires_at IS NULL OR probe_lease_expires_at <= :now)
    AND NOT EXISTS (SELECT 1 FROM replayed)
  FOR UPDATE
), candidate AS (
  -- The longest-due job: jobs held by the breaker are due, and a job that reported
  -- progress within its quiet window is never re-triggered, not even as a probe.
  SELECT id FROM provisioning_jobs
  WHERE ${DUE} AND budget_spent < :maxAttempts AND trigger_payload IS NOT NULL
    AND EXISTS (SELECT 1 FROM breaker)
  ORDER BY next_attempt_at ASC NULLS FIRST, created_at ASC
  LIMIT 1
  FOR UPDATE SKIP LOCKED
), claimed AS (
  UPDATE provisioning_jobs j SET attempts = j.attempts + 1, last_attempt_at = :now, lease_expires_at = :leaseUntil
  FROM candidate WHERE j.id = candidate.id
  RETURNING j.id, j.stripe_session_id, j.status, j.attempts AS attempt, j.trigger_payload, j.last_error, j.last_outcome
), probe AS (
  UPDATE orchestrator_breaker b SET probe_job_id = claimed.id, probe_attempt = claimed.attempt,
    probe_lease_expires_at = :leaseUntil, last_probe_at = :now
  FROM claimed WHERE b.id = 'orchestrator'
  RETURNING b.id
), history AS (
  INSERT INTO provisioning_job_events (job_id, occurred_at, kind, to_status, actor, detail, request_token)
  SELECT claimed.id, :now, 'probe', claimed.status, :actor, jsonb_build_object('attempt', claimed.attempt),
    :requestToken
  FROM claimed
  ON CONFLICT (request_token, job_id, kind) WHERE request_token IS NOT NULL DO NOTHING
)
SELECT coalesce(
  (SELECT jsonb_agg(jsonb_build_object('id', id, 'stripe_session_id', stripe_session_id, 'attempt', attempt,
     'trigger_payload', trigger_payload, 'last_error', last_error, 'last_outcome', last_outcome)) FROM claimed),
  (SELECT jsonb_agg(jsonb_build_object('id', j.id, 'stripe_session_id', j.stripe_session_id, 'attempt', r.attempt,
     'trigger_payload', j.trigger_payload, 'last_error', j.last_error, 'last_outcome', j.last_outcome))
   FROM replayed r JOIN provisioning_jobs j ON j.id = r.job_id),
  '[]'::jsonb) AS probe`,
  params: {
    maxAttempts: 'int',
    requestToken: 'uuid',
    leaseUntil: 'timestamp',
    actor: 'text',
    now: 'timestamp',
  },
  row: z.object({ probe: z.array(claimedJob) }),
});

/**
 * While the breaker is open (and no operator holds it), claims one job as its probe:
 * a new attempt that spends no budget and is sent although the breaker is open. At most
 * one probe is in flight; undefined when one is, or nothing is waiting.
 */
export async function claimProbe(
  db: SqlExecutor,
  now: Date,
  rules: Pick<ProvisioningRules, 'maxAttempts' | 'handoffLeaseSeconds'>,
  actor: Actor = 'reconciler',
): Promise<ClaimedJob | undefined> {
  const row = await runStatementForOne(db, claimProbeStatement, {
    maxAttempts: rules.maxAttempts,
    requestToken: randomUUID(),
    leaseUntil: secondsAfter(now, rules.handoffLeaseSeconds),
    actor,
    now,
  });
  const [probe] = row.probe;
  return probe && toClaimedJob(probe);
}

const countStuckJobsStatement = defineStatement({
  name: 'count stuck jobs',
  // A read.
  replay: 'safe',
  sql: `
SELECT count(*) AS stuck FROM provisioning_jobs
WHERE status NOT IN ('provisioned', 'cancelled')
  AND (updated_at < :stuckBefore OR parked_at IS NOT NULL OR capped_at IS NOT NULL)`,
  params: { stuckBefore: 'timestamp' },
  row: z.object({ stuck: z.number().int() }),
});

/** The STUCK gauge: exactly what the `ProvisioningJobsStuck` alarm counts. */
export async function countStuckJobs(
  db: SqlExecutor,
  now: Date,
  rules: Pick<ProvisioningRules, 'stuckAfterSeconds'>,
): Promise<number> {
  const { stuck } = await runStatementForOne(db, countStuckJobsStatement, {
    stuckBefore: secondsBefore(now, rules.stuckAfterSeconds),
  });
  return stuck;
}
