import { isTerminal, type JobStatus } from './job.js';

/**
 * The thresholds of the runbook and the retry model (SPEC 2.5), as configuration. The
 * SQL in the repository is the efficient form of the predicates below; tests hold the
 * two to the same answers.
 */
export interface ProvisioningRules {
  /**
   * The quiet window: a job whose attempt was accepted, or that reported progress, is
   * re-driven when nothing more is heard for this long. Also the first backoff ceiling.
   */
  readonly staleAfterSeconds: number;
  /** A non-terminal job without progress for longer than this is on the STUCK gauge. */
  readonly stuckAfterSeconds: number;
  /** The retry budget: dispatched attempts after which the job is capped and pages. */
  readonly maxAttempts: number;
  /** The longest backoff between two attempts of a job (and the longest Retry-After honoured). */
  readonly retryMaxDelaySeconds: number;
  /** Consecutive transient failures, across jobs, that open the breaker. */
  readonly breakerFailureThreshold: number;
  /**
   * How long a claimed attempt may wait in the queue before it is no longer in flight:
   * the queue's visibility timeout. A newer claim then supersedes it, and the consumer
   * drops the older message unsent.
   */
  readonly handoffLeaseSeconds: number;
  /** An organisation database provisioning or migrating for longer than this is stalled. */
  readonly stallAfterSeconds: number;
  /** The watchdog tells an admin about the same stall at most once per this interval. */
  readonly renotifyAfterSeconds: number;
}

export const DEFAULT_RULES: ProvisioningRules = {
  staleAfterSeconds: 300,
  stuckAfterSeconds: 900,
  maxAttempts: 8,
  retryMaxDelaySeconds: 3600,
  breakerFailureThreshold: 5,
  handoffLeaseSeconds: 360,
  stallAfterSeconds: 1800,
  renotifyAfterSeconds: 6 * 3600,
};

export function secondsBefore(now: Date, seconds: number): Date {
  return new Date(now.getTime() - seconds * 1000);
}

export function secondsAfter(now: Date, seconds: number): Date {
  return new Date(now.getTime() + seconds * 1000);
}

/** The columns the rules read. */
export interface JobClock {
  readonly status: JobStatus;
  readonly budgetSpent: number;
  readonly updatedAt: Date;
  readonly leaseExpiresAt: Date | null;
  readonly nextAttemptAt: Date | null;
  readonly parkedAt: Date | null;
  readonly cappedAt: Date | null;
  readonly hasPayload: boolean;
}

/** An attempt is in flight: claimed or dispatched, no outcome yet, lease not lapsed. */
export function isInFlight(job: Pick<JobClock, 'leaseExpiresAt'>, now: Date): boolean {
  return job.leaseExpiresAt !== null && job.leaseExpiresAt > now;
}

/** STUCK: not terminal and (no progress for `stuckAfterSeconds`, parked, or capped). */
export function isStuck(job: JobClock, now: Date, rules: ProvisioningRules): boolean {
  if (isTerminal(job.status)) return false;
  return (
    job.updatedAt < secondsBefore(now, rules.stuckAfterSeconds) ||
    job.parkedAt !== null ||
    job.cappedAt !== null
  );
}

/**
 * Due: the reconciler would act on it now: not terminal, not parked or capped, no
 * attempt in flight, and its next attempt time has come (or it never had one).
 */
export function isDue(job: JobClock, now: Date): boolean {
  if (isTerminal(job.status) || job.parkedAt !== null || job.cappedAt !== null) return false;
  if (isInFlight(job, now)) return false;
  return job.nextAttemptAt === null || job.nextAttemptAt <= now;
}

/** STALE: due, within budget and with a payload to replay: the reconciler re-drives it. */
export function isStale(job: JobClock, now: Date, rules: ProvisioningRules): boolean {
  return isDue(job, now) && job.hasPayload && job.budgetSpent < rules.maxAttempts;
}

/** Due with no budget left: the reconciler caps it (on the gauge, for an operator). */
export function isCapDue(job: JobClock, now: Date, rules: ProvisioningRules): boolean {
  return isDue(job, now) && job.hasPayload && job.budgetSpent >= rules.maxAttempts;
}
