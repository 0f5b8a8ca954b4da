import { notifyStalls } from '../db/watchdog-repository.js';
import type { ServiceDependencies } from './dependencies.js';

/** What one watchdog run found and did (SPEC 2.6), as logged and returned. */
export type WatchdogSummary = {
  readonly event: 'provisioning.watchdog.run';
  readonly stalled_databases: number;
  readonly capped_jobs: number;
  readonly notifications_sent: number;
};

export type WatchdogDependencies = Pick<
  ServiceDependencies,
  'db' | 'clock' | 'rules' | 'telemetry' | 'log'
>;

/**
 * The hourly watchdog: stalled organisation databases and jobs past the retry cap
 * become error notifications for every admin (one statement, no repeat within the
 * re-notify interval, safe when two runs overlap). It alerts only: nothing it reports
 * on is changed, because a human decides what a stall needs.
 */
export async function runWatchdog(deps: WatchdogDependencies): Promise<WatchdogSummary> {
  const sweep = await notifyStalls(deps.db, deps.clock(), deps.rules);
  // Stalls and capped jobs are levels seen at this run; notifications are new events.
  deps.telemetry.gauge('WatchdogStalledDatabases', sweep.stalledDatabases);
  deps.telemetry.gauge('WatchdogCappedJobs', sweep.cappedJobs);
  deps.telemetry.count('WatchdogNotificationsSent', sweep.notificationsSent);
  const summary: WatchdogSummary = {
    event: 'provisioning.watchdog.run',
    stalled_databases: sweep.stalledDatabases,
    capped_jobs: sweep.cappedJobs,
    notifications_sent: sweep.notificationsSent,
  };
  deps.log.info(summary.event, summary);
  return summary;
}
