import type { QuietMarker } from '../adapters/quiet-marker.js';
import { secondsBefore } from '../core/rules.js';
import { type Pruned, pruneExpiredBookkeeping } from '../db/retention-repository.js';
import { notifyStalls, type WatchdogSweep } from '../db/watchdog-repository.js';
import type { ServiceDependencies } from './dependencies.js';
import { readQuiet } from './quiet.js';

/** What one watchdog run found and did (SPEC 2.6), as logged and returned. */
export type WatchdogSummary = {
  readonly event: 'provisioning.watchdog.run';
  readonly stalled_databases: number;
  readonly capped_jobs: number;
  readonly notifications_sent: number;
  /** Housekeeping: processed Stripe event ids and refused inputs past their retention. */
  readonly pruned_stripe_events: number;
  readonly pruned_rejected_inputs: number;
  /** True when the reconciler's marker said nothing is in flight: the database was not read. */
  readonly quiet: boolean;
};

/** Stripe retries an event for three days; a month of ids covers it many times over. */
export const STRIPE_EVENT_RETENTION_SECONDS = 30 * 24 * 3600;
/** Refused inputs stay a quarter for an operator to look into. */
export const REJECTED_INPUT_RETENTION_SECONDS = 90 * 24 * 3600;
const PRUNE_LIMIT = 5_000;

export type WatchdogDependencies = Pick<
  ServiceDependencies,
  'db' | 'clock' | 'rules' | 'telemetry' | 'log'
> & {
  /** The reconciler's quiet marker (`services/quiet.ts`); without one, every run reads. */
  readonly quiet?: QuietMarker;
};

/**
 * The hourly watchdog: stalled organisation databases and jobs past the retry cap
 * become error notifications for every admin (one statement, no repeat within the
 * re-notify interval, safe when two runs overlap). It alerts only: nothing it reports
 * on is changed, because a human decides what a stall needs. The same hourly run keeps
 * the bookkeeping tables from growing forever. While the reconciler's marker says nothing
 * is in flight (no capped job, no tenant database provisioning), there is nothing to
 * notify, and the run leaves Aurora asleep; pruning waits for the next busy hour.
 */
export async function runWatchdog(deps: WatchdogDependencies): Promise<WatchdogSummary> {
  if ((await readQuiet(deps.quiet, deps.log)).state === 'quiet') {
    return finish(deps, { stalledDatabases: 0, cappedJobs: 0, notificationsSent: 0 }, undefined);
  }
  const now = deps.clock();
  const sweep = await notifyStalls(deps.db, now, deps.rules);
  const pruned = await pruneExpiredBookkeeping(
    deps.db,
    {
      stripeEventsBefore: secondsBefore(now, STRIPE_EVENT_RETENTION_SECONDS),
      rejectedInputsBefore: secondsBefore(now, REJECTED_INPUT_RETENTION_SECONDS),
    },
    PRUNE_LIMIT,
  );
  return finish(deps, sweep, pruned);
}

function finish(
  deps: WatchdogDependencies,
  sweep: WatchdogSweep,
  pruned: Pruned | undefined,
): WatchdogSummary {
  // Stalls and capped jobs are levels seen at this run; notifications are new events.
  deps.telemetry.gauge('WatchdogStalledDatabases', sweep.stalledDatabases);
  deps.telemetry.gauge('WatchdogCappedJobs', sweep.cappedJobs);
  deps.telemetry.count('WatchdogNotificationsSent', sweep.notificationsSent);
  const summary: WatchdogSummary = {
    event: 'provisioning.watchdog.run',
    stalled_databases: sweep.stalledDatabases,
    capped_jobs: sweep.cappedJobs,
    notifications_sent: sweep.notificationsSent,
    pruned_stripe_events: pruned?.stripeEvents ?? 0,
    pruned_rejected_inputs: pruned?.rejectedInputs ?? 0,
    quiet: pruned === undefined,
  };
  deps.log.info(summary.event, summary);
  return summary;
}
