import { randomUUID } from 'node:crypto';
import { type HandoffQueue, sendAttempt } from '../adapters/handoff-queue.js';
import type { QuietMarker } from '../adapters/quiet-marker.js';
import { openSeconds, readBreaker } from '../db/breaker-repository.js';
import {
  type CappedJob,
  type Claim,
  type ClaimedJob,
  claimProbe,
  claimStaleJobs,
  countStuckJobs,
} from '../db/jobs/reconcile-claims.js';
import { releaseReconcilerLease, takeReconcilerLease } from '../db/reconciler-state-repository.js';
import { announce } from './announcements.js';
import type { ServiceDependencies } from './dependencies.js';
import { QUIET_SETTLE_MS, readQuiet, settleQuiet } from './quiet.js';

/**
 * The reconciler (SPEC 2.5, runbook section 4): claims STALE jobs batch by batch and
 * replays each one's exact stored payload through the hand-off queue as its next
 * attempt, caps jobs due with no budget left, probes the orchestrator while the breaker
 * is open, then reports the STUCK gauge and the breaker.
 *
 * - The claim makes the next attempt (a number that only grows) and holds the job with
 *   a lease in one statement, with `FOR UPDATE SKIP LOCKED`: two runs claim disjoint
 *   jobs, and a job with an attempt in flight is never claimed.
 * - The attempt number is in the message's dedup id (`<job id>:<attempt>`), so a
 *   re-drive is never swallowed as a duplicate, not even after a re-arm.
 * - While the breaker is open nothing is claimed and no budget is spent; one probe per
 *   run tests the orchestrator, and its acceptance closes the breaker.
 * - Sends are paced to `maxRedrivesPerSecond`: an outage of thousands of jobs drains
 *   in one run without flooding the orchestrator. Runs never overlap (a lease in the
 *   database, whoever starts them: the schedule, a retry, an operator), so that pace is
 *   one global cap.
 * - When nothing is in flight, a tick reads the quiet marker only and publishes the
 *   gauge (0) without waking Aurora (`services/quiet.ts`).
 * - Only as many jobs are claimed as can be sent at that pace before the deadline, so a
 *   claimed job is never left unsent because time ran out. A send that fails anyway
 *   leaves the job for a later run: its lease lapses, no budget was spent, and it is
 *   claimed again.
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
  'db' | 'clock' | 'rules' | 'telemetry' | 'log' | 'events'
> & {
  readonly queue: HandoffQueue;
  readonly timer?: Timer;
  /** The scheduled run's quiet marker; an operator's forced run has none and always reads. */
  readonly quiet?: QuietMarker;
};

/**
 * Kept free at the end of a run: the last claim's round trip (longer while Aurora
 * resumes), its sends, the gauge and the metrics flush. The lease outlives the deadline
 * by as much, so it lapses when the invocation's time is up.
 */
export const RECONCILE_SAFETY_MARGIN_MS = 20_000;

export interface ReconcileRun extends ReconcileSettings {
  /** `timer.now()` by which every claimed job must have been sent. */
  readonly deadline: number;
}

/** What one run did, as returned and logged (SPEC 2.5). */
export type ReconcileSummary = {
  readonly event: 'provisioning.reconcile.run';
  /** Jobs claimed, plus due jobs skipped for want of a payload. */
  readonly scanned: number;
  /** Claimed jobs whose next attempt is on the queue. */
  readonly redriven: number;
  /**
   * Claimed jobs whose previous attempt had failed transiently (the orchestrator was
   * unreachable, overloaded or erroring), or whose re-drive could not be sent; each job
   * counted once. Above zero, the transport is still failing (runbook sections 5 and 7).
   */
  readonly still_failing: number;
  /** Due jobs with no payload, never replayed with a guess (runbook section 6b). */
  readonly skipped_no_payload: number;
  /** Jobs this run found due with no budget left, and capped (they page). */
  readonly capped: number;
  /** The breaker toward the orchestrator after the run. */
  readonly breaker: 'closed' | 'open';
  /** Seconds the breaker has been open (0 when closed). */
  readonly breaker_open_seconds: number;
  /** Whether this run sent the breaker's probe. */
  readonly probe_sent: boolean;
  /** The STUCK gauge after the run. */
  readonly stuck_total: number;
  /**
   * `full`: the run read the database; `quiet`: nothing was in flight, the gauge was
   * published without it; `overlap`: another run holds the lease, this one did nothing.
   */
  readonly run: 'full' | 'quiet' | 'overlap';
};

export async function reconcile(
  deps: ReconcileDependencies,
  run: ReconcileRun,
): Promise<ReconcileSummary> {
  const timer = deps.timer ?? realTimer;
  const seen = await readQuiet(deps.quiet, deps.log);
  if (seen.state === 'quiet') return report(deps, idleSummary('quiet'));
  const token = randomUUID();
  const leaseMs = run.deadline - timer.now() + RECONCILE_SAFETY_MARGIN_MS;
  const now = deps.clock();
  if (!(await takeReconcilerLease(deps.db, token, now, new Date(now.getTime() + leaseMs)))) {
    deps.log.warn('another reconcile run holds the lease; this one only reports the gauge', {});
    return report(deps, await gaugeWhileOverlapping(deps));
  }
  try {
    const summary = await redriveAndCount(deps, run, timer);
    if (deps.quiet) {
      const canWait = run.deadline - timer.now() > QUIET_SETTLE_MS;
      await settleQuiet(
        { db: deps.db, quiet: deps.quiet, clock: deps.clock },
        seen,
        canWait ? (ms) => timer.sleep(ms) : undefined,
      );
    }
    return report(deps, summary);
  } finally {
    await releaseReconcilerLease(deps.db, token);
  }
}

/** A run that re-drove nothing: nothing in flight (the gauge is 0), or another run at work. */
function idleSummary(run: 'quiet' | 'overlap'): ReconcileSummary {
  return {
    event: 'provisioning.reconcile.run',
    scanned: 0,
    redriven: 0,
    still_failing: 0,
    skipped_no_payload: 0,
    capped: 0,
    breaker: 'closed',
    breaker_open_seconds: 0,
    probe_sent: false,
    stuck_total: 0,
    run,
  };
}

/**
 * While another run (an operator's, say) holds the lease: the gauge and the breaker as
 * they stand, so the gauge never goes missing, and nothing re-driven.
 */
async function gaugeWhileOverlapping(deps: ReconcileDependencies): Promise<ReconcileSummary> {
  const now = deps.clock();
  const stuck = await countStuckJobs(deps.db, now, deps.rules);
  const breaker = await readBreaker(deps.db);
  return {
    ...idleSummary('overlap'),
    breaker: breaker.state,
    breaker_open_seconds: openSeconds(breaker, now),
    stuck_total: stuck,
  };
}

async function redriveAndCount(
  deps: ReconcileDependencies,
  run: ReconcileRun,
  timer: Timer,
): Promise<ReconcileSummary> {
  const pace = pacer(timer, run.maxRedrivesPerSecond);
  let claimed = 0;
  let redriven = 0;
  let stillFailing = 0;
  let capped = 0;
  let first: Claim | undefined;

  for (;;) {
    // The jobs that can still be sent at the allowed pace before the deadline.
    const affordable = Math.floor((run.deadline - pace.nextSlot()) / pace.intervalMs);
    const limit = Math.max(0, Math.min(run.batchSize, affordable));
    // The first claim always runs, if only to count the NULL-payload rows and read the breaker.
    if (limit === 0 && first !== undefined) break;
    const claim = await claimStaleJobs(deps.db, limit, deps.clock(), deps.rules);
    first ??= claim;
    await announceCapped(deps, claim.capped);
    capped += claim.capped.length;
    let sent = 0;
    for (const job of claim.jobs) {
      await pace.slot();
      const ok = await redrive(deps, job);
      if (ok) sent += 1;
      if (!ok || job.lastOutcome === 'transient') stillFailing += 1;
    }
    claimed += claim.jobs.length;
    redriven += sent;
    // A short batch means nothing else is due (or another run holds it).
    const more = claim.jobs.length === limit || claim.capped.length === limit;
    if (!more || limit === 0) break;
    // Every send of the batch failed: the queue is down; stop spending attempts on it.
    if (claim.jobs.length > 0 && sent === 0) {
      deps.log.error('the hand-off queue refused a whole batch; the run stops claiming', {
        claimed: claim.jobs.length,
      });
      break;
    }
  }

  const breaker = first?.breaker ?? { state: 'closed' as const, openedAt: null };
  const probeSent = breaker.state === 'open' ? await sendProbe(deps) : false;
  const now = deps.clock();
  const stuckTotal = await countStuckJobs(deps.db, now, deps.rules);
  return {
    event: 'provisioning.reconcile.run',
    scanned: claimed + (first?.skippedNoPayload ?? 0),
    redriven,
    still_failing: stillFailing,
    skipped_no_payload: first?.skippedNoPayload ?? 0,
    capped,
    breaker: breaker.state,
    breaker_open_seconds: openSeconds({ state: breaker.state, opened_at: breaker.openedAt }, now),
    probe_sent: probeSent,
    stuck_total: stuckTotal,
    run: 'full',
  };
}

/** While the breaker is open, one probe per run tests the orchestrator, spending no budget. */
async function sendProbe(deps: ReconcileDependencies): Promise<boolean> {
  const probe = await claimProbe(deps.db, deps.clock(), deps.rules);
  if (!probe) return false;
  const sent = await redrive(deps, probe);
  if (sent) {
    deps.log.info('breaker probe sent', {
      jobId: probe.id,
      stripeSessionId: probe.stripeSessionId,
      attempt: probe.attempt,
    });
  }
  return sent;
}

async function announceCapped(
  deps: ReconcileDependencies,
  capped: readonly CappedJob[],
): Promise<void> {
  if (capped.length === 0) return;
  const occurredAt = deps.clock();
  for (const job of capped) {
    deps.log.error(
      'job capped: due for a re-drive with no retry budget left; it needs an operator',
      {
        jobId: job.id,
        stripeSessionId: job.stripeSessionId,
        lastError: job.lastError,
        maxAttempts: deps.rules.maxAttempts,
      },
    );
  }
  await announce(
    deps,
    capped.map((job) => ({
      type: 'job.capped' as const,
      jobId: job.id,
      stripeSessionId: job.stripeSessionId,
      occurredAt,
      detail: { last_error: job.lastError },
    })),
  );
}

async function redrive(deps: ReconcileDependencies, job: ClaimedJob): Promise<boolean> {
  const message = {
    jobId: job.id,
    attempt: job.attempt,
    stripeSessionId: job.stripeSessionId,
    triggerPayload: job.triggerPayload,
  };
  return sendAttempt(deps.queue, message, (error) =>
    deps.log.error('re-drive not sent; the job is claimed again once its lease lapses', {
      jobId: job.id,
      stripeSessionId: job.stripeSessionId,
      attempt: job.attempt,
      error,
    }),
  );
}

function report(deps: ReconcileDependencies, summary: ReconcileSummary): ReconcileSummary {
  deps.telemetry.gauge('ProvisioningJobsStuck', summary.stuck_total);
  deps.telemetry.gauge('BreakerOpenSeconds', summary.breaker_open_seconds);
  deps.telemetry.count('ReconcileRedriven', summary.redriven);
  deps.telemetry.count('ReconcileStillFailing', summary.still_failing);
  deps.telemetry.count('ReconcileSkippedNoPayload', summary.skipped_no_payload);
  if (summary.probe_sent) deps.telemetry.count('ReconcileProbeSent');
  if (summary.skipped_no_payload > 0) {
    deps.log.warn('provisioning.reconcile.skip_no_payload', {
      skipped_no_payload: summary.skipped_no_payload,
    });
  }
  deps.log.info(summary.event, summary);
  return summary;
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
