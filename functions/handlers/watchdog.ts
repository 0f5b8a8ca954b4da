import { systemClock } from '../adapters/clock.js';
import { awsConfig, awsExecutor, lazyHandler } from '../aws.js';
import { logger, PowertoolsTelemetry } from '../observability.js';
import {
  runWatchdog,
  type WatchdogDependencies,
  type WatchdogSummary,
} from '../services/watchdog.js';
import { type HandlerOptions, lambdaHandler } from './middleware.js';

/**
 * The hourly EventBridge Scheduler invocation. The event carries nothing the run needs
 * (the clock says when "now" is), so any payload is accepted; a failure throws, and the
 * schedule retries and dead-letters it.
 */
export function createWatchdogHandler(deps: WatchdogDependencies, options?: HandlerOptions) {
  return lambdaHandler<unknown, WatchdogSummary>(() => runWatchdog(deps), options);
}

// Not awsServiceDependencies(): the watchdog publishes no lifecycle events and has no bus bound.
export const handler = lazyHandler(() => {
  const config = awsConfig();
  return createWatchdogHandler(
    {
      db: awsExecutor(config),
      clock: systemClock,
      rules: config.rules,
      telemetry: new PowertoolsTelemetry(),
      log: logger,
    },
    { flushMetrics: true },
  );
});
