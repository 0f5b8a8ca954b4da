import { awsConfig, awsQuietMarker, awsScheduledDependencies, lazyHandler } from '../aws.js';
import {
  runWatchdog,
  type WatchdogDependencies,
  type WatchdogSummary,
} from '../services/watchdog.js';
import { lambdaHandler } from './middleware.js';

/**
 * The hourly EventBridge Scheduler invocation. The event carries nothing the run needs
 * (the clock says when "now" is), so any payload is accepted; a failure throws, and the
 * schedule retries and dead-letters it.
 */
export function createWatchdogHandler(deps: WatchdogDependencies) {
  return lambdaHandler<unknown, WatchdogSummary>(() => runWatchdog(deps));
}

export const handler = lazyHandler(() => {
  const config = awsConfig();
  return createWatchdogHandler({
    ...awsScheduledDependencies(config),
    quiet: awsQuietMarker(config),
  });
});
