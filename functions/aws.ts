import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { type Clock, systemClock } from './adapters/clock.js';
import { type HandoffQueue, SqsHandoffQueue } from './adapters/handoff-queue.js';
import { HttpOrchestratorTrigger } from './adapters/http-orchestrator.js';
import { EventBridgeLifecycleEvents, type LifecycleEvents } from './adapters/lifecycle-events.js';
import type { OrchestratorTrigger } from './adapters/orchestrator.js';
import { type QuietMarker, SsmQuietMarker } from './adapters/quiet-marker.js';
import { type SecretSource, SecretsManagerSource } from './adapters/secrets.js';
import type { Telemetry } from './adapters/telemetry.js';
import { type Config, ConfigError, loadConfig, required } from './config.js';
import { DataApiExecutor, DEFAULT_DATA_API_RETRY, dataApiClient } from './db/data-api-executor.js';
import { reportDataApiRetry } from './db/data-api-faults.js';
import type { SqlExecutor } from './db/executor.js';
import { logger, PowertoolsTelemetry, traced } from './observability.js';
import { callbackUrlFor } from './routes.js';
import type { ServiceDependencies } from './services/dependencies.js';

/**
 * The AWS implementations of every collaborator, each built once per Lambda container
 * from the parsed configuration. A function that needs a setting it lacks fails on
 * its first invocation with the variable's name.
 */
let config: Config | undefined;
export function awsConfig(): Config {
  config ??= loadConfig(process.env);
  return config;
}

/**
 * The Data API executor with this function's retry budget (`DATA_API_RETRY_BUDGET_SECONDS`,
 * set per function by the stack), its waits counted and logged.
 */
export function awsExecutor(
  settings: Config = awsConfig(),
  telemetry: Telemetry = new PowertoolsTelemetry(),
): SqlExecutor {
  const { database } = settings;
  if (database.kind === 'data-api') {
    const { resourceArn, secretArn, database: name, retryBudgetMs } = database;
    return new DataApiExecutor(
      traced(dataApiClient()),
      { resourceArn, secretArn, database: name },
      {
        retry: { ...DEFAULT_DATA_API_RETRY, budgetMs: retryBudgetMs },
        onRetry: reportDataApiRetry(telemetry, logger),
      },
    );
  }
  // Lambda reaches Aurora through the Data API only: the pg driver never enters a
  // bundle (the local runtime and tests wire PgExecutor themselves).
  throw new ConfigError(
    'Invalid configuration: DATABASE_RESOURCE_ARN and DATABASE_SECRET_ARN are required',
  );
}

export function awsHandoffQueue(settings: Config = awsConfig()): HandoffQueue {
  return new SqsHandoffQueue(
    traced(new SQSClient({})),
    required(settings.handoffQueueUrl, 'HANDOFF_QUEUE_URL'),
  );
}

export function awsLifecycleEvents(settings: Config = awsConfig()): LifecycleEvents {
  return new EventBridgeLifecycleEvents(
    traced(new EventBridgeClient({})),
    required(settings.eventBusName, 'EVENT_BUS_NAME'),
  );
}

/** The reconciler's quiet marker: read by the scheduled functions, woken by the writers. */
export function awsQuietMarker(settings: Config = awsConfig()): QuietMarker {
  return new SsmQuietMarker(
    traced(new SSMClient({})),
    required(settings.quietParameterName, 'RECONCILER_QUIET_PARAMETER'),
  );
}

export function awsSecrets(settings: Config = awsConfig()): SecretSource {
  return new SecretsManagerSource(
    settings.secretArns,
    traced(new SecretsManagerClient({})),
    settings.secretsMaxAgeSeconds,
  );
}

export function awsOrchestrator(
  secrets: SecretSource,
  settings: Config = awsConfig(),
  clock: Clock = systemClock,
): OrchestratorTrigger {
  return new HttpOrchestratorTrigger({
    url: settings.triggerUrl,
    secrets,
    timeoutMs: settings.triggerTimeoutMs,
    clock,
  });
}

/**
 * The collaborators of a function that publishes no lifecycle events (the scheduled
 * ones have no event bus bound, so they must not require EVENT_BUS_NAME).
 */
export function awsScheduledDependencies(
  settings: Config = awsConfig(),
): Omit<ServiceDependencies, 'events'> {
  const telemetry = new PowertoolsTelemetry();
  return {
    db: awsExecutor(settings, telemetry),
    clock: systemClock,
    rules: settings.rules,
    telemetry,
    log: logger,
  };
}

/** The collaborators every service takes, as they are in Lambda. */
export function awsServiceDependencies(settings: Config = awsConfig()): ServiceDependencies {
  return { ...awsScheduledDependencies(settings), events: awsLifecycleEvents(settings) };
}

/**
 * The collaborators of every path that records Stripe checkouts (the webhook, the
 * EventBridge intake, the sweep): the services', the hand-off queue, the callback URL
 * and the Stripe mode served.
 */
export function awsCheckoutIntakeDependencies(settings: Config = awsConfig()) {
  return {
    ...awsServiceDependencies(settings),
    queue: awsHandoffQueue(settings),
    callbackUrl: awsCallbackUrl(settings),
    // Recording a job after an idle period wakes the reconciler (services/quiet.ts).
    quiet: awsQuietMarker(settings),
    stripeMode: required(settings.stripeMode, 'STRIPE_MODE'),
  };
}

/** Where the orchestrator reports back: stored in every trigger payload. */
export function awsCallbackUrl(settings: Config = awsConfig()): string {
  return callbackUrlFor(required(settings.publicBaseUrl, 'PUBLIC_BASE_URL'));
}

/**
 * Defers building a handler's collaborators to its first invocation, so the local
 * runtime and tests can import the module and build it with their own.
 */
export function lazyHandler<E, C, R>(
  build: () => (event: E, context: C) => Promise<R>,
): (event: E, context: C) => Promise<R> {
  let built: ((event: E, context: C) => Promise<R>) | undefined;
  return (event, context) => {
    built ??= build();
    return built(event, context);
  };
}
