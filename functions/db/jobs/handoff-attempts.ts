import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import type { Actor, OutcomeClass, TriggerFailure } from '../../core/job.js';
import { type ProvisioningRules, secondsAfter } from '../../core/rules.js';
import type { SqlExecutor } from '../executor.js';
import { defineStatement, runStatement } from '../statement.js';
import { RETRY_AT_PARAMS, retryAtSql, retryAtValues } from './backoff.js';
import { jobStatus } from './job-row.js';

/**
 * The hand-off consumer's side of an attempt (SPEC 2.5): it dispatches a claimed attempt
 * (or finds it superseded, closed, already done, or held by the open breaker), sends
 * the trigger, and records the outcome. Both statements take a request token, so a call
 * replayed after an ambiguous Data API fault answers what the first one did.
 */

// ---------------------------------------------------------------------------------
// Dispatch

export const DISPATCH_DECISIONS = [
  'dispatch',
  'superseded',
  'closed',
  'done',
  'in_flight',
  'deferred',
] as const;
export type DispatchDecision = (typeof DISPATCH_DECISIONS)[number] | 'missing';

const dispatchAttemptStatement = defineStatement({
  name: 'dispatch hand-off attempt',
  // A replay is recognised by its request token and answered as the first call.
  replay: 'safe',
  sql: `
WITH breaker AS (
  SELECT state, probe_job_id, probe_attempt FROM orchestrator_breaker WHERE id = 'orchestrator'
), prior AS (
  SELECT id, status, attempts, dispatched_attempt, dispatch_token, outcome_attempt, lease_expires_at,
    parked_at, budget_spent
  FROM provisioning_jobs WHERE id = :jobId
  FOR UPDATE
), decision AS (
  SELECT prior.id, prior.budget_spent,
    (breaker.probe_job_id = prior.id AND breaker.probe_attempt = :attempt) IS TRUE AS probe,
    CASE
      WHEN prior.dispatch_token = :requestToken THEN 'dispatch'
      -- A newer attempt was claimed once this one's lease lapsed: only the newest is sent.
      WHEN prior.attempts <> :attempt THEN 'superseded'
      WHEN prior.status IN ('provisioned', 'cancelled') OR prior.parked_at IS NOT NULL THEN 'closed'
      -- SQS delivered the message again after its outcome was recorded.
      WHEN prior.outcome_attempt = :attempt THEN 'done'
      WHEN prior.dispatched_attempt = :attempt AND prior.lease_expires_at > :now THEN 'in_flight'
      WHEN breaker.state = 'open'
        AND (breaker.probe_job_id = prior.id AND breaker.probe_attempt = :attempt) IS NOT TRUE THEN 'deferred'
      ELSE 'dispatch'
    END AS decision
  FROM prior CROSS JOIN breaker
), dispatched AS (
  UPDATE provisioning_jobs j SET
    dispatched_attempt = :attempt, dispatched_at = :now, dispatch_token = :requestToken,
    -- A probe spends no budget, nor does an attempt sent again after a crash.
    budget_spent = j.budget_spent
      + CASE WHEN decision.probe OR j.dispatched_attempt = :attempt THEN 0 ELSE 1 END,
    lease_expires_at = :leaseUntil
  FROM decision
  WHERE j.id = decision.id AND decision.decision = 'dispatch'
    AND j.dispatch_token IS DISTINCT FROM :requestToken
  RETURNING j.budget_spent
), deferred AS (
  -- Held while the breaker is open: no budget spent, due again as soon as it closes.
  UPDATE provisioning_jobs j SET lease_expires_at = NULL, next_attempt_at = :now, last_outcome = 'deferred'
  FROM decision
  WHERE j.id = decision.id AND decision.decision = 'deferred'
  RETURNING j.id, j.status
), history AS (
  INSERT INTO provisioning_job_events
    (job_id, occurred_at, kind, to_status, actor, reason, detail, request_token)
  SELECT deferred.id, :now, 'deferred', deferred.status, :actor, 'breaker_open',
    jsonb_build_object('attempt', CAST(:attempt AS int8)), :requestToken
  FROM deferred
  ON CONFLICT (request_token, job_id, kind) WHERE request_token IS NOT NULL DO NOTHING
)
SELECT decision.decision, decision.probe,
  coalesce((SELECT budget_spent FROM dispatched), decision.budget_spent) AS budget_spent
FROM decision`,
  params: {
    jobId: 'uuid',
    attempt: 'int',
    requestToken: 'uuid',
    leaseUntil: 'timestamp',
    actor: 'text',
    now: 'timestamp',
  },
  row: z.object({
    decision: z.enum(DISPATCH_DECISIONS),
    probe: z.boolean(),
    budget_spent: z.number().int(),
  }),
});

export interface Dispatch {
  readonly decision: DispatchDecision;
  /** The breaker's probe: sent although the breaker is open, spending no budget. */
  readonly probe: boolean;
  /** The job's spent budget, this attempt included: the backoff after a failure grows with it. */
  readonly budgetSpent: number;
}

/**
 * Decides, just before the trigger is sent, whether attempt `attempt` may go: only the
 * job's newest attempt, never twice at once, never for a closed job, and while the
 * breaker is open only its probe. A dispatch spends one unit of budget (a probe none) and
 * holds the job for `leaseSeconds`, the trigger's timeout and the recording after it.
 */
export async function dispatchAttempt(
  db: SqlExecutor,
  attempt: { readonly jobId: string; readonly attempt: number },
  now: Date,
  leaseSeconds: number,
  actor: Actor = 'handoff',
): Promise<Dispatch> {
  const [row] = await runStatement(db, dispatchAttemptStatement, {
    ...attempt,
    requestToken: randomUUID(),
    leaseUntil: secondsAfter(now, leaseSeconds),
    actor,
    now,
  });
  if (!row) return { decision: 'missing', probe: false, budgetSpent: 0 };
  return { decision: row.decision, probe: row.probe, budgetSpent: row.budget_spent };
}

// ---------------------------------------------------------------------------------
// Outcome

export const BREAKER_TRANSITIONS = ['opened', 'closed'] as const;
export type BreakerTransition = (typeof BREAKER_TRANSITIONS)[number];

const recordOutcomeStatement = defineStatement({
  name: 'record hand-off outcome',
  // A replay is recognised by its request token and answered as the first call.
  replay: 'safe',
  sql: `
WITH prior AS (
  SELECT id, status, attempts, budget_spent, heartbeat_at, dispatched_at, outcome_attempt, parked_at,
    capped_at
  FROM provisioning_jobs WHERE id = :jobId AND dispatched_attempt = :attempt
  FOR UPDATE
), replayed AS (
  SELECT kind FROM provisioning_job_events WHERE request_token = :requestToken AND job_id = :jobId
), report AS (
  SELECT prior.*,
    NOT EXISTS (SELECT 1 FROM replayed) AND prior.outcome_attempt IS DISTINCT FROM :attempt AS first_report,
    -- The newest attempt: an older one's outcome never touches a newer one's lease.
    prior.attempts = :attempt AS current,
    -- Once the orchestrator has reported since this attempt was dispatched, its word
    -- stands: the outcome is history, not state, and says nothing about its health.
    (prior.heartbeat_at IS NULL OR prior.heartbeat_at < prior.dispatched_at) AS decides
  FROM prior
), job AS (
  UPDATE provisioning_jobs j SET
    outcome_attempt = :attempt,
    lease_expires_at = NULL,
    last_outcome = :outcome,
    last_http_status = :httpStatus,
    last_error = CASE WHEN r.decides THEN CAST(:failure AS text) ELSE j.last_error END,
    -- Accepted again after the orchestrator had reported a failure: awaiting it again.
    status = CASE WHEN r.decides AND :outcome = 'accepted' AND j.status = 'failed'
      THEN 'enqueued' ELSE j.status END,
    next_attempt_at = CASE WHEN NOT r.decides THEN j.next_attempt_at
      WHEN :outcome = 'accepted' THEN CAST(:quietUntil AS timestamptz)
      WHEN :outcome = 'transient' THEN ${retryAtSql('j')} END,
    parked_at = CASE WHEN r.decides AND :outcome = 'permanent' AND j.parked_at IS NULL
      THEN :now ELSE j.parked_at END,
    -- A transient failure that spent the last of the budget: nothing more happens on its own.
    capped_at = CASE WHEN r.decides AND :outcome = 'transient' AND j.budget_spent >= :maxAttempts
      AND j.capped_at IS NULL THEN :now ELSE j.capped_at END
  FROM report r
  WHERE j.id = r.id AND r.first_report AND r.current AND j.status NOT IN ('provisioned', 'cancelled')
  RETURNING j.id, j.status, j.next_attempt_at,
    r.parked_at IS NULL AND j.parked_at IS NOT NULL AS parked,
    r.capped_at IS NULL AND j.capped_at IS NOT NULL AS capped
), prior_breaker AS (
  -- Locked only when this outcome changes the breaker, so outcomes that do not (the
  -- common case) never queue on its row.
  SELECT b.state, b.consecutive_failures, b.forced, b.probe_job_id, b.probe_attempt, r.decides
  FROM orchestrator_breaker b, report r
  WHERE b.id = 'orchestrator' AND r.first_report AND (
    (:outcome = 'transient' AND r.decides)
    OR (:outcome = 'accepted' AND (b.consecutive_failures > 0 OR b.state = 'open'))
    OR (b.probe_job_id = :jobId AND b.probe_attempt = :attempt) IS TRUE)
  FOR UPDATE OF b
), breaker AS (
  UPDATE orchestrator_breaker b SET
    consecutive_failures = CASE WHEN :outcome = 'transient' AND p.decides THEN b.consecutive_failures + 1
      WHEN :outcome = 'accepted' THEN 0 ELSE b.consecutive_failures END,
    state = CASE WHEN b.forced THEN b.state
      WHEN :outcome = 'accepted' THEN 'closed'
      WHEN :outcome = 'transient' AND p.decides AND b.consecutive_failures + 1 >= :breakerThreshold
        THEN 'open'
      ELSE b.state END,
    opened_at = CASE WHEN b.forced THEN b.opened_at
      WHEN :outcome = 'accepted' THEN NULL
      WHEN :outcome = 'transient' AND p.decides AND b.state = 'closed'
        AND b.consecutive_failures + 1 >= :breakerThreshold THEN :now
      ELSE b.opened_at END,
    reason = CASE WHEN b.forced THEN b.reason
      WHEN :outcome = 'transient' AND p.decides THEN CAST(:failure AS text)
      WHEN :outcome = 'accepted' THEN NULL ELSE b.reason END,
    probe_job_id = CASE WHEN (b.probe_job_id = :jobId AND b.probe_attempt = :attempt) IS TRUE
      THEN NULL ELSE b.probe_job_id END,
    probe_attempt = CASE WHEN (b.probe_job_id = :jobId AND b.probe_attempt = :attempt) IS TRUE
      THEN NULL ELSE b.probe_attempt END,
    probe_lease_expires_at = CASE WHEN (b.probe_job_id = :jobId AND b.probe_attempt = :attempt) IS TRUE
      THEN NULL ELSE b.probe_lease_expires_at END,
    changed_by = CASE WHEN b.forced THEN b.changed_by ELSE :actor END,
    changed_at = :now
  FROM prior_breaker p
  WHERE b.id = 'orchestrator'
  RETURNING b.state
), breaker_change AS (
  SELECT CASE WHEN breaker.state = 'open' THEN 'opened' ELSE 'closed' END AS kind
  FROM breaker, prior_breaker WHERE breaker.state <> prior_breaker.state
), breaker_history AS (
  INSERT INTO orchestrator_breaker_events (occurred_at, kind, actor, reason, detail, request_token)
  SELECT :now, breaker_change.kind, :actor, CAST(:failure AS text),
    jsonb_build_object('job_id', CAST(:jobId AS uuid), 'attempt', CAST(:attempt AS int8),
      'consecutive_failures', (SELECT consecutive_failures FROM prior_breaker) + 1),
    :requestToken
  FROM breaker_change
  ON CONFLICT (request_token) DO NOTHING
  RETURNING kind
), history AS (
  INSERT INTO provisioning_job_events
    (job_id, occurred_at, kind, from_status, to_status, actor, reason, detail, request_token)
  SELECT r.id, :now, 'handoff', r.status, coalesce(job.status, r.status), :actor, CAST(:failure AS text),
    jsonb_strip_nulls(jsonb_build_object('attempt', CAST(:attempt AS int8), 'outcome', CAST(:outcome AS text),
      'http_status', CAST(:httpStatus AS int8), 'decided', job.id IS NOT NULL,
      'retry_at', CASE WHEN :outcome = 'transient' THEN job.next_attempt_at END)),
    :requestToken
  FROM report r LEFT JOIN job ON job.id = r.id
  WHERE r.first_report
  UNION ALL
  SELECT job.id, :now, 'parked', job.status, job.status, :actor, CAST(:failure AS text),
    jsonb_build_object('attempt', CAST(:attempt AS int8), 'http_status', CAST(:httpStatus AS int8)), :requestToken
  FROM job WHERE job.parked
  UNION ALL
  SELECT job.id, :now, 'capped', job.status, job.status, :actor, CAST(:failure AS text),
    jsonb_build_object('attempt', CAST(:attempt AS int8), 'budget_spent', CAST(:maxAttempts AS int8)), :requestToken
  FROM job WHERE job.capped
  ON CONFLICT (request_token, job_id, kind) WHERE request_token IS NOT NULL DO NOTHING
)
SELECT coalesce((SELECT status FROM job), r.status) AS status, r.first_report OR EXISTS (SELECT 1 FROM replayed WHERE kind = 'handoff') AS recorded,
  coalesce((SELECT job.parked FROM job), false) OR EXISTS (SELECT 1 FROM replayed WHERE kind = 'parked') AS parked,
  coalesce((SELECT job.capped FROM job), false) OR EXISTS (SELECT 1 FROM replayed WHERE kind = 'capped') AS capped,
  coalesce((SELECT kind FROM breaker_change),
    (SELECT kind FROM orchestrator_breaker_events WHERE request_token = :requestToken)) AS breaker
FROM report r`,
  params: {
    jobId: 'uuid',
    attempt: 'int',
    outcome: 'text',
    failure: 'text',
    httpStatus: 'int',
    quietUntil: 'timestamp',
    ...RETRY_AT_PARAMS,
    maxAttempts: 'int',
    breakerThreshold: 'int',
    requestToken: 'uuid',
    actor: 'text',
    now: 'timestamp',
  },
  row: z.object({
    status: jobStatus,
    recorded: z.boolean(),
    parked: z.boolean(),
    capped: z.boolean(),
    breaker: z.enum(BREAKER_TRANSITIONS).nullable(),
  }),
});

export interface AttemptOutcome {
  readonly jobId: string;
  readonly attempt: number;
  readonly outcome: Exclude<OutcomeClass, 'deferred'>;
  /** What `last_error` says: null when accepted. */
  readonly failure: TriggerFailure | null;
  readonly httpStatus?: number | undefined;
  /** The orchestrator's Retry-After: the backoff is never shorter. */
  readonly retryAfterSeconds?: number | undefined;
}

export interface RecordedOutcome {
  /** False when the attempt was never dispatched, or its outcome was recorded before. */
  readonly recorded: boolean;
  readonly status: z.infer<typeof jobStatus> | undefined;
  /** This outcome parked the job (a permanent refusal). */
  readonly parked: boolean;
  /** This outcome spent the last of the budget. */
  readonly capped: boolean;
  /** This outcome opened or closed the breaker. */
  readonly breaker: BreakerTransition | null;
}

/**
 * Records how a dispatched attempt went, once, in one statement: the job's next step
 * (quiet window after acceptance, backoff after a transient failure, parked after a
 * permanent one, capped when the budget is spent), the breaker's count of consecutive
 * transient failures (it opens at the threshold; an acceptance closes it), and the
 * history. Transitions come back so the caller announces each exactly once.
 */
export async function recordAttemptOutcome(
  db: SqlExecutor,
  outcome: AttemptOutcome,
  now: Date,
  rules: Pick<
    ProvisioningRules,
    'staleAfterSeconds' | 'maxAttempts' | 'breakerFailureThreshold' | 'retryMaxDelaySeconds'
  >,
  random: () => number = Math.random,
  actor: Actor = 'handoff',
): Promise<RecordedOutcome> {
  const [row] = await runStatement(db, recordOutcomeStatement, {
    jobId: outcome.jobId,
    attempt: outcome.attempt,
    outcome: outcome.outcome,
    failure: outcome.failure,
    httpStatus: outcome.httpStatus ?? null,
    quietUntil: secondsAfter(now, rules.staleAfterSeconds),
    ...retryAtValues(rules, random, outcome.retryAfterSeconds),
    maxAttempts: rules.maxAttempts,
    breakerThreshold: rules.breakerFailureThreshold,
    requestToken: randomUUID(),
    actor,
    now,
  });
  if (!row) {
    return { recorded: false, status: undefined, parked: false, capped: false, breaker: null };
  }
  return {
    recorded: row.recorded,
    status: row.status,
    parked: row.parked,
    capped: row.capped,
    breaker: row.breaker,
  };
}
