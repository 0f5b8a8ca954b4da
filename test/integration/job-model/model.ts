import type { JobStatus, OutcomeClass, TriggerFailure } from '../../../functions/core/job.js';
import { isTerminal } from '../../../functions/core/job.js';
import {
  isDue,
  type JobClock,
  type ProvisioningRules,
  secondsAfter,
} from '../../../functions/core/rules.js';

/**
 * An in-memory model of the retry model of SPEC 2.5, written from the SPEC and the
 * statements' comments, independently of their SQL: what every transition does to a
 * job and to the breaker. The model-based test runs random sequences against both and
 * holds the database to the model after every step.
 */

/** The jitter the test fixes for every backoff, so the model can predict it. */
export const JITTER = 0.5;
/** How long a dispatch holds a job: the trigger's timeout and the recording after it. */
export const DISPATCH_LEASE_SECONDS = 12;

export interface ModelJob {
  readonly id: string;
  readonly session: string;
  readonly createdAt: Date;
  readonly hasPayload: boolean;
  status: JobStatus;
  phase: string | null;
  attempts: number;
  budgetSpent: number;
  lastAttemptAt: Date | null;
  leaseExpiresAt: Date | null;
  dispatchedAttempt: number | null;
  dispatchedAt: Date | null;
  outcomeAttempt: number | null;
  lastOutcome: OutcomeClass | null;
  lastError: string | null;
  lastHttpStatus: number | null;
  nextAttemptAt: Date | null;
  parkedAt: Date | null;
  cappedAt: Date | null;
  heartbeatAt: Date | null;
  updatedAt: Date;
  deploymentId: string | null;
  cellId: string | null;
  tokensQuota: number | null;
  accountQuota: number;
  accountStatus: 'pending' | 'active' | 'cancelled';
  /** How many history entries of each kind the job has. */
  readonly events: Record<string, number>;
}

export interface ModelBreaker {
  state: 'closed' | 'open';
  consecutiveFailures: number;
  openedAt: Date | null;
  forced: boolean;
  probe: { jobId: string; attempt: number; leaseExpiresAt: Date } | null;
  /** opened/closed/forced_* entries written so far. */
  readonly events: Record<string, number>;
}

export interface Model {
  now: Date;
  readonly rules: ProvisioningRules;
  readonly jobs: Map<string, ModelJob>;
  readonly breaker: ModelBreaker;
}

export function addEvent(events: Record<string, number>, kind: string): void {
  events[kind] = (events[kind] ?? 0) + 1;
}

export function clockOf(job: ModelJob): JobClock {
  return {
    status: job.status,
    budgetSpent: job.budgetSpent,
    updatedAt: job.updatedAt,
    leaseExpiresAt: job.leaseExpiresAt,
    nextAttemptAt: job.nextAttemptAt,
    parkedAt: job.parkedAt,
    cappedAt: job.cappedAt,
    hasPayload: job.hasPayload,
  };
}

/** Backoff with the fixed jitter over the spent budget, never before Retry-After. */
export function retryAt(
  model: Model,
  budgetSpent: number,
  retryAfterSeconds: number | null = null,
): Date {
  const { staleAfterSeconds, retryMaxDelaySeconds } = model.rules;
  const ceiling = Math.min(
    retryMaxDelaySeconds,
    staleAfterSeconds * 2 ** Math.max(0, budgetSpent - 1),
  );
  const delay = Math.max(
    Math.floor(JITTER * ceiling),
    Math.min(retryAfterSeconds ?? 0, retryMaxDelaySeconds),
  );
  return secondsAfter(model.now, delay);
}

/** Oldest due first: never handed off (no next attempt time) first, then by creation. */
export function dueKey(job: ModelJob): [number, number] {
  return [job.nextAttemptAt?.getTime() ?? Number.NEGATIVE_INFINITY, job.createdAt.getTime()];
}

export function notAfter(a: [number, number], b: [number, number]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] <= b[1]);
}

export function due(model: Model, job: ModelJob): boolean {
  return isDue(clockOf(job), model.now);
}

export function claimable(model: Model, job: ModelJob): boolean {
  return due(model, job) && job.hasPayload && job.budgetSpent < model.rules.maxAttempts;
}

export function capDue(model: Model, job: ModelJob): boolean {
  return due(model, job) && job.hasPayload && job.budgetSpent >= model.rules.maxAttempts;
}

/** A claim (record, re-drive or probe) makes the next attempt, held for the queue wait. */
export function claimAttempt(model: Model, job: ModelJob, kind: string): void {
  job.attempts += 1;
  job.lastAttemptAt = model.now;
  job.leaseExpiresAt = secondsAfter(model.now, model.rules.handoffLeaseSeconds);
  addEvent(job.events, kind);
}

export type Dispatch =
  | 'dispatch'
  | 'superseded'
  | 'closed'
  | 'done'
  | 'in_flight'
  | 'deferred'
  | 'missing';

export function isProbe(model: Model, job: ModelJob, attempt: number): boolean {
  return model.breaker.probe?.jobId === job.id && model.breaker.probe.attempt === attempt;
}

export function dispatchDecision(
  model: Model,
  job: ModelJob | undefined,
  attempt: number,
): Dispatch {
  if (!job) return 'missing';
  if (job.attempts !== attempt) return 'superseded';
  if (isTerminal(job.status) || job.parkedAt !== null) return 'closed';
  if (job.outcomeAttempt === attempt) return 'done';
  if (job.dispatchedAttempt === attempt && job.leaseExpiresAt && job.leaseExpiresAt > model.now)
    return 'in_flight';
  if (model.breaker.state === 'open' && !isProbe(model, job, attempt)) return 'deferred';
  return 'dispatch';
}

export function applyDispatch(
  model: Model,
  job: ModelJob,
  attempt: number,
  decision: Dispatch,
): void {
  if (decision === 'dispatch') {
    if (!isProbe(model, job, attempt) && job.dispatchedAttempt !== attempt) job.budgetSpent += 1;
    job.dispatchedAttempt = attempt;
    job.dispatchedAt = model.now;
    job.leaseExpiresAt = secondsAfter(model.now, DISPATCH_LEASE_SECONDS);
  } else if (decision === 'deferred') {
    job.leaseExpiresAt = null;
    job.nextAttemptAt = model.now;
    job.lastOutcome = 'deferred';
    addEvent(job.events, 'deferred');
  }
}

export interface OutcomeCommand {
  readonly outcome: Exclude<OutcomeClass, 'deferred'>;
  readonly failure: TriggerFailure | null;
  readonly httpStatus: number | null;
  readonly retryAfterSeconds: number | null;
}

export interface OutcomeEffect {
  readonly recorded: boolean;
  readonly parked: boolean;
  readonly capped: boolean;
  readonly breaker: 'opened' | 'closed' | null;
}

export function applyOutcome(
  model: Model,
  job: ModelJob | undefined,
  attempt: number,
  command: OutcomeCommand,
): OutcomeEffect {
  const none = { recorded: false, parked: false, capped: false, breaker: null } as const;
  if (!job || job.dispatchedAttempt !== attempt) return none;
  if (job.outcomeAttempt === attempt) return none;
  const current = job.attempts === attempt;
  const decides =
    job.heartbeatAt === null || (job.dispatchedAt !== null && job.heartbeatAt < job.dispatchedAt);
  let parked = false;
  let capped = false;
  addEvent(job.events, 'handoff');
  if (current && !isTerminal(job.status)) {
    job.outcomeAttempt = attempt;
    job.leaseExpiresAt = null;
    job.lastOutcome = command.outcome;
    job.lastHttpStatus = command.httpStatus;
    if (decides) {
      job.lastError = command.failure;
      if (command.outcome === 'accepted' && job.status === 'failed') job.status = 'enqueued';
      job.nextAttemptAt =
        command.outcome === 'accepted'
          ? secondsAfter(model.now, model.rules.staleAfterSeconds)
          : command.outcome === 'transient'
            ? retryAt(model, job.budgetSpent, command.retryAfterSeconds)
            : null;
      if (command.outcome === 'permanent' && job.parkedAt === null) {
        job.parkedAt = model.now;
        parked = true;
        addEvent(job.events, 'parked');
      }
      if (
        command.outcome === 'transient' &&
        job.budgetSpent >= model.rules.maxAttempts &&
        job.cappedAt === null
      ) {
        job.cappedAt = model.now;
        capped = true;
        addEvent(job.events, 'capped');
      }
    }
  }
  return {
    recorded: true,
    parked,
    capped,
    breaker: applyToBreaker(model, job, attempt, command, decides),
  };
}

function applyToBreaker(
  model: Model,
  job: ModelJob,
  attempt: number,
  command: OutcomeCommand,
  decides: boolean,
): 'opened' | 'closed' | null {
  const b = model.breaker;
  const probe = isProbe(model, job, attempt);
  const changes =
    (command.outcome === 'transient' && decides) ||
    (command.outcome === 'accepted' && (b.consecutiveFailures > 0 || b.state === 'open')) ||
    probe;
  if (!changes) return null;
  const prior = b.state;
  const failure = command.outcome === 'transient' && decides;
  const reaches = b.consecutiveFailures + 1 >= model.rules.breakerFailureThreshold;
  if (!b.forced) {
    if (command.outcome === 'accepted') {
      b.state = 'closed';
      b.openedAt = null;
    } else if (failure && reaches) {
      if (b.state === 'closed') b.openedAt = model.now;
      b.state = 'open';
    }
  }
  if (failure) b.consecutiveFailures += 1;
  else if (command.outcome === 'accepted') b.consecutiveFailures = 0;
  if (probe) b.probe = null;
  if (b.state === prior) return null;
  const transition = b.state === 'open' ? 'opened' : 'closed';
  addEvent(b.events, transition);
  return transition;
}
