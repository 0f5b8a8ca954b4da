import type { JobStatus } from './job.js';
import { TERMINAL_STATUS } from './job.js';

/**
 * The thresholds of the runbook, as configuration. The SQL in the repository is the
 * efficient form of the predicates below; tests hold the two to the same answers.
 */
export interface ProvisioningRules {
  /** A non-terminal job whose last hand-off is older than this is re-driven. */
  readonly staleAfterSeconds: number;
  /** A non-terminal job without progress for longer than this is on the STUCK gauge. */
  readonly stuckAfterSeconds: number;
  /** Hand-off attempts after which the reconciler gives up and the job pages. */
  readonly maxAttempts: number;
  /** An organisation database provisioning or migrating for longer than this is stalled. */
  readonly stallAfterSeconds: number;
  /** The watchdog tells an admin about the same stall at most once per this interval. */
  readonly renotifyAfterSeconds: number;
}

export const DEFAULT_RULES: ProvisioningRules = {
  staleAfterSeconds: 300,
  stuckAfterSeconds: 900,
  maxAttempts: 8,
  stallAfterSeconds: 1800,
  renotifyAfterSeconds: 6 * 3600,
};

export function secondsBefore(now: Date, seconds: number): Date {
  return new Date(now.getTime() - seconds * 1000);
}

export interface JobClock {
  readonly status: JobStatus;
  readonly attempts: number;
  readonly updatedAt: Date;
  readonly lastAttemptAt: Date | null;
  readonly hasPayload: boolean;
}

/** STUCK: non-terminal and (no progress for `stuckAfterSeconds` or at the retry cap). */
export function isStuck(job: JobClock, now: Date, rules: ProvisioningRules): boolean {
  if (job.status === TERMINAL_STATUS) return false;
  return (
    job.updatedAt < secondsBefore(now, rules.stuckAfterSeconds) || job.attempts >= rules.maxAttempts
  );
}

/** STALE: non-terminal, under the cap, and not handed off within `staleAfterSeconds`. */
export function isStale(job: JobClock, now: Date, rules: ProvisioningRules): boolean {
  if (job.status === TERMINAL_STATUS || job.attempts >= rules.maxAttempts) return false;
  return (
    job.lastAttemptAt === null || job.lastAttemptAt < secondsBefore(now, rules.staleAfterSeconds)
  );
}
