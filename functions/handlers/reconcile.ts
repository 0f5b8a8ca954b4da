import { systemClock } from '../adapters/clock.js';
import { awsConfig, awsExecutor, awsHandoffQueue, lazyHandler } from '../aws.js';
import { logger, PowertoolsTelemetry } from '../observability.js';
import {
  type ReconcileDependencies,
  type ReconcileSettings,
  type ReconcileSummary,
  realTimer,
  reconcile,
} from '../services/reconcile.js';
import { type HandlerOptions, lambdaHandler } from './middleware.js';

export interface ReconcileHandlerDependencies extends ReconcileDependencies {
  readonly settings: ReconcileSettings;
}

/**
 * Kept free at the end of the invocation: the last claim's round trip (longer while
 * Aurora resumes), its sends, the gauge and the metrics flush.
 */
export const RECONCILE_SAFETY_MARGIN_MS = 20_000;

/**
 * The EventBridge Scheduler invocation every 10 minutes (and an operator's forced run).
 * The event carries nothing the run needs; the answer is the run's summary, which the
 * schedule ignores and an operator reads. A failure throws, and the schedule retries.
 */
export function createReconcileHandler(
  deps: ReconcileHandlerDependencies,
  options?: HandlerOptions,
) {
  const timer = deps.timer ?? realTimer;
  return lambdaHandler<unknown, ReconcileSummary>(
    (_event, context) =>
      reconcile(
        { ...deps, timer },
        {
          ...deps.settings,
          deadline: timer.now() + context.getRemainingTimeInMillis() - RECONCILE_SAFETY_MARGIN_MS,
        },
      ),
    options,
  );
}

// Not awsServiceDependencies(): the reconciler publishes no lifecycle events and has no bus bound.
export const handler = lazyHandler(() => {
  const config = awsConfig();
  return createReconcileHandler(
    {
      db: awsExecutor(config),
      clock: systemClock,
      rules: config.rules,
      telemetry: new PowertoolsTelemetry(),
      log: logger,
      queue: awsHandoffQueue(config),
      settings: config.reconcile,
    },
    { flushMetrics: true },
  );
});
