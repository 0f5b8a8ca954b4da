import { isTerminal, ORCHESTRATOR_FAILED } from '../../../functions/core/job.js';
import { secondsAfter } from '../../../functions/core/rules.js';
import {
  addEvent,
  capDue,
  claimAttempt,
  claimable,
  due,
  dueKey,
  type Model,
  type ModelJob,
  notAfter,
  retryAt,
} from './model.js';

/**
 * The model's side of the callbacks, claims and operator actions (the hand-off
 * consumer's side is in `model.ts`).
 */

export type CallbackCommand =
  | { readonly kind: 'progress'; readonly phase: string | null }
  | {
      readonly kind: 'provisioned';
      readonly deploymentId: string;
      readonly cellId: string;
      readonly tokensQuota: number;
    }
  | { readonly kind: 'failed'; readonly error: string | null };

export interface CallbackEffect {
  readonly applied: boolean;
  readonly capped: boolean;
  readonly lateForCancelled: boolean;
}

export function applyCallbackToModel(
  model: Model,
  job: ModelJob,
  command: CallbackCommand,
): CallbackEffect {
  if (isTerminal(job.status)) {
    const late = job.status === 'cancelled' && command.kind === 'provisioned';
    if (late) addEvent(job.events, 'late_callback');
    return { applied: false, capped: false, lateForCancelled: late };
  }
  const priorStatus = job.status;
  const priorPhase = job.phase;
  const now = model.now;
  job.heartbeatAt = now;
  job.updatedAt = now;
  let capped = false;
  if (command.kind === 'progress') {
    job.status = 'provisioning';
    job.phase = command.phase ?? job.phase;
    job.lastError = null;
    job.nextAttemptAt = secondsAfter(now, model.rules.staleAfterSeconds);
    job.parkedAt = null;
    job.cappedAt = null;
  } else if (command.kind === 'failed') {
    job.status = 'failed';
    job.lastError = command.error ?? ORCHESTRATOR_FAILED;
    job.nextAttemptAt = retryAt(model, job.budgetSpent);
    if (job.cappedAt === null && job.budgetSpent >= model.rules.maxAttempts) {
      job.cappedAt = now;
      capped = true;
    }
  } else {
    job.status = 'provisioned';
    job.lastError = null;
    job.deploymentId = command.deploymentId;
    job.cellId = command.cellId;
    job.nextAttemptAt = null;
    job.parkedAt = null;
    job.cappedAt = null;
    job.accountStatus = 'active';
    if (command.tokensQuota > 0) {
      job.tokensQuota = command.tokensQuota;
      job.accountQuota = command.tokensQuota;
    }
  }
  // A heartbeat that changes nothing is not history.
  if (job.status !== priorStatus || job.phase !== priorPhase) addEvent(job.events, 'callback');
  if (capped) addEvent(job.events, 'capped');
  return { applied: true, capped, lateForCancelled: false };
}

export interface ClaimExpectation {
  readonly eligible: ModelJob[];
  readonly toCap: ModelJob[];
  readonly skipped: number;
}

/** What a claim of `batchSize` may take: due within budget (nothing while open), due out of budget. */
export function claimExpectation(model: Model): ClaimExpectation {
  const jobs = [...model.jobs.values()];
  return {
    eligible: model.breaker.state === 'open' ? [] : jobs.filter((job) => claimable(model, job)),
    toCap: jobs.filter((job) => capDue(model, job)),
    skipped: jobs.filter((job) => due(model, job) && !job.hasPayload).length,
  };
}

/** The database's pick must be a batch of the oldest due: nothing left behind is strictly older. */
export function assertOldestFirst(
  picked: readonly ModelJob[],
  candidates: readonly ModelJob[],
  fail: (message: string) => void,
): void {
  const pickedIds = new Set(picked.map((job) => job.id));
  for (const job of picked) {
    for (const other of candidates) {
      if (pickedIds.has(other.id)) continue;
      if (!notAfter(dueKey(job), dueKey(other)))
        fail(`${other.id} was older than ${job.id} and left behind`);
    }
  }
}

export function applyClaim(
  model: Model,
  claimed: readonly ModelJob[],
  capped: readonly ModelJob[],
) {
  for (const job of claimed) claimAttempt(model, job, 'redrive');
  for (const job of capped) {
    job.cappedAt = model.now;
    addEvent(job.events, 'capped');
  }
}

export function probeCandidates(model: Model): ModelJob[] {
  const b = model.breaker;
  const free = b.probe === null || b.probe.leaseExpiresAt <= model.now;
  if (b.state !== 'open' || b.forced || !free) return [];
  return [...model.jobs.values()].filter((job) => claimable(model, job));
}

export function applyProbe(model: Model, job: ModelJob): void {
  claimAttempt(model, job, 'probe');
  model.breaker.probe = {
    jobId: job.id,
    attempt: job.attempts,
    leaseExpiresAt: secondsAfter(model.now, model.rules.handoffLeaseSeconds),
  };
}

export function applyRearm(model: Model, job: ModelJob): boolean {
  if (isTerminal(job.status)) return false;
  job.budgetSpent = 0;
  job.parkedAt = null;
  job.cappedAt = null;
  job.nextAttemptAt = model.now;
  if (job.status === 'failed') job.status = 'enqueued';
  job.updatedAt = model.now;
  addEvent(job.events, 'rearmed');
  return true;
}

export function applyCancel(model: Model, job: ModelJob): boolean {
  if (isTerminal(job.status)) return false;
  job.status = 'cancelled';
  job.leaseExpiresAt = null;
  job.nextAttemptAt = null;
  job.parkedAt = null;
  job.cappedAt = null;
  job.updatedAt = model.now;
  job.accountStatus = 'cancelled';
  addEvent(job.events, 'cancelled');
  return true;
}

export function applyForce(model: Model, state: 'open' | 'closed'): void {
  const b = model.breaker;
  b.state = state;
  b.forced = state === 'open';
  b.consecutiveFailures = 0;
  b.openedAt = state === 'open' ? (b.openedAt ?? model.now) : null;
  b.probe = null;
  addEvent(b.events, state === 'open' ? 'forced_open' : 'forced_closed');
}
