import {
  awsConfig,
  awsHandoffQueue,
  awsQuietMarker,
  awsServiceDependencies,
  lazyHandler,
} from '../aws.js';
import {
  RECONCILE_SAFETY_MARGIN_MS,
  type ReconcileDependencies,
  type ReconcileSettings,
  type ReconcileSummary,
  realTimer,
  reconcile,
} from '../services/reconcile.js';
import { lambdaHandler } from './middleware.js';

export interface ReconcileHandlerDependencies extends ReconcileDependencies {
  readonly settings: ReconcileSettings;
}

/**
 * The EventBridge Scheduler invocation every 10 minutes (and an operator's forced run).
 * The event carries nothing the run needs; the answer is the run's summary, which the
 * schedule ignores and an operator reads. A failure throws, and the schedule retries.
 */
export function createReconcileHandler(deps: ReconcileHandlerDependencies) {
  const timer = deps.timer ?? realTimer;
  return lambdaHandler<unknown, ReconcileSummary>((_event, context) =>
    reconcile(
      { ...deps, timer },
      {
        ...deps.settings,
        deadline: timer.now() + context.getRemainingTimeInMillis() - RECONCILE_SAFETY_MARGIN_MS,
      },
    ),
  );
}

export const handler = lazyHandler(() => {
  const config = awsConfig();
  return createReconcileHandler({
    ...awsServiceDependencies(config),
    queue: awsHandoffQueue(config),
    quiet: awsQuietMarker(config),
    settings: config.reconcile,
  });
});
