import { type HandoffQueue, sendAttempt } from '../adapters/handoff-queue.js';
import { TRIGGER_FAILURES } from '../core/job.js';
import { type ClaimedJob, claimStaleJobs, countStuckJobs } from '../db/jobs/reconcile-claims.js';
import type { ServiceDependencies } from './dependencies.js';

/**
 * The reconciler (SPEC 2.5, runbook section 4): claims STALE jobs batch by batch and
 * replays each one's exact stored payload through the hand-off queue as its next
 * attempt, then reports the STUCK gauge.
 *
 * - The claim counts the attempt and stamps `last_attempt_at` in one statement, with
 *   `FOR UPDATE SKIP LOCKED`: two runs (a duplicate delivery, or an overlap) claim
 *   disjoint jobs, and a claimed job is not STALE again before `staleAfterSeconds`.
 * - The attempt number is in the message's dedup id (`<job id>:<attempt>`), so a
 *   re-drive is never swallowed as a duplicate of the previous attempt.
 * - Sends are paced to `maxRedrivesPerSecond`: an outage of thousands of jobs drains
 *   in one run without flooding the orchestrator.
 * - Only as many jobs are claimed as can be sent at that pace before the deadline, so a
 *   claimed job is never left unsent because time ran out. A send that fails anyway
 *   leaves the job for a later run: its attempt is spent and it is claimed again once
 *   STALE.
 */

export interface ReconcileSettings {
  readonly batchSize: number;
  readonly maxRedrivesPerSecond: number;
}

/** Monotonic milliseconds and waiting: real in Lambda, virtual in tests. */
export interface Timer {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realTimer: Timer = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export type ReconcileDependencies = Pick<
  ServiceDependencies,
  'db' | 'clock' | 'rules' | 'telemetry' | 'log'
> & {
  readonly queue: HandoffQueue;
  readonly timer?: Timer;
};

export interface ReconcileRun extends ReconcileSettings {
  /** `timer.now()` by which every claimed job must have been sent. */
  readonly deadline: number;
}

/** What one run did, as returned and logged (SPEC 2.5). */
export type ReconcileSummary = {
  readonly event: 'provisioning.reconcile.run';
  /** Jobs claimed, plus STALE jobs skipped for want of a payload. */
  readonly scanned: number;
  /** Claimed jobs whose next attempt is on the queue. */
  readonly redriven: number;
  /**
   * Claimed jobs whose previous attempt had failed to reach the orchestrator (its
   * `last_error` is a trigger failure) or whose re-drive could not be sent; each job
   * counted once. Above zero, the transport is still down (runbook sections 5 and 7).
   */
  readonly still_failing: number;
  /** STALE jobs with no payload, never replayed with a guess (runbook section 6b). */
  readonly skipped_no_payload: number;
  /** The STUCK gauge after the run. */
  readonly stuck_total: number;
};

const TRIGGER_FAILURE_CLASSES: ReadonlySet<string> = new Set(TRIGGER_FAILURES);

export async function reconcile(
  deps: ReconcileDependencies,
  run: ReconcileRun,
): Promise<ReconcileSummary> {
  const timer = deps.timer ?? realTimer;
  const pace = pacer(timer, run.maxRedrivesPerSecond);
  let claimed = 0;
  let redriven = 0;
  let stillFailing = 0;
  let skippedNoPayload: number | undefined;

  for (;;) {
    // The jobs that can still be sent at the allowed pace before the deadline.
    const affordable = Math.floor((run.deadline - pace.nextSlot()) / pace.intervalMs);
    const limit = Math.max(0, Math.min(run.batchSize, affordable));
    // The first claim always runs, if only to count the NULL-payload rows (once per run).
    if (limit === 0 && skippedNoPayload !== undefined) break;
    const claim = await claimStaleJobs(deps.db, limit, deps.clock(), deps.rules);
    skippedNoPayload ??= claim.skippedNoPayload;
    let sent = 0;
    for (const job of claim.jobs) {
      await pace.slot();
      const ok = await redrive(deps, job);
      if (ok) sent += 1;
      if (!ok || isTriggerFailure(job.lastError)) stillFailing += 1;
    }
    claimed += claim.jobs.length;
    redriven += sent;
    // A short claim means nothing else is STALE (or another run holds it).
    if (claim.jobs.length < limit || limit === 0) break;
    // Every send of the batch failed: the queue is down; stop spending attempts on it.
    if (sent === 0) {
      deps.log.error('the hand-off queue refused a whole batch; the run stops claiming', {
        claimed: claim.jobs.length,
      });
      break;
    }
  }

  const stuckTotal = await countStuckJobs(deps.db, deps.clock(), deps.rules);
  const summary: ReconcileSummary = {
    event: 'provisioning.reconcile.run',
    scanned: claimed + (skippedNoPayload ?? 0),
    redriven,
    still_failing: stillFailing,
    skipped_no_payload: skippedNoPayload ?? 0,
    stuck_total: stuckTotal,
  };
  report(deps, summary);
  return summary;
}

async function redrive(deps: ReconcileDependencies, job: ClaimedJob): Promise<boolean> {
  const message = {
    jobId: job.id,
    attempt: job.attempt,
    stripeSessionId: job.stripeSessionId,
    triggerPayload: job.triggerPayload,
  };
  return sendAttempt(deps.queue, message, (error) =>
    deps.log.error('re-drive not sent; a later run retries the job once stale', {
      jobId: job.id,
      stripeSessionId: job.stripeSessionId,
      attempt: job.attempt,
      error,
    }),
  );
}

function isTriggerFailure(lastError: string | null): boolean {
  return lastError !== null && TRIGGER_FAILURE_CLASSES.has(lastError);
}

function report(deps: ReconcileDependencies, summary: ReconcileSummary): void {
  deps.telemetry.gauge('ProvisioningJobsStuck', summary.stuck_total);
  deps.telemetry.count('ReconcileRedriven', summary.redriven);
  deps.telemetry.count('ReconcileStillFailing', summary.still_failing);
  deps.telemetry.count('ReconcileSkippedNoPayload', summary.skipped_no_payload);
  if (summary.skipped_no_payload > 0) {
    deps.log.warn('provisioning.reconcile.skip_no_payload', {
      skipped_no_payload: summary.skipped_no_payload,
    });
  }
  deps.log.info(summary.event, summary);
}

/** Spaces sends at least `1000 / perSecond` ms apart, without catching up after a slow one. */
function pacer(timer: Timer, perSecond: number) {
  const intervalMs = 1000 / perSecond;
  let next = timer.now();
  return {
    intervalMs,
    /** When the next send may start. */
    nextSlot: () => Math.max(next, timer.now()),
    async slot(): Promise<void> {
      const wait = next - timer.now();
      if (wait > 0) await timer.sleep(wait);
      next = Math.max(next, timer.now()) + intervalMs;
    },
  };
}
