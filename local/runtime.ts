import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Context, ScheduledEvent, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { systemClock } from '../functions/adapters/clock.js';
import { HttpOrchestratorTrigger } from '../functions/adapters/http-orchestrator.js';
import { InMemoryQuietMarker } from '../functions/adapters/quiet-marker.js';
import {
  callbackSigningSecret,
  EnvironmentSecretSource,
  type SecretSource,
} from '../functions/adapters/secrets.js';
import {
  StripeCheckoutSessions,
  stripeClient,
} from '../functions/adapters/stripe-checkout-sessions.js';
import { TelemetryRegistry } from '../functions/adapters/telemetry.js';
import { type Config, loadConfig } from '../functions/config.js';
import {
  consumerTimeoutSeconds,
  dispatchLeaseSeconds,
  reserveFor,
} from '../functions/core/handoff-timing.js';
import { RECONCILE_TIMEOUT_SECONDS } from '../functions/core/reconcile-timing.js';
import {
  SWEEP_TIMEOUT_SECONDS,
  WATCHDOG_TIMEOUT_SECONDS,
} from '../functions/core/scheduled-timeouts.js';
import { upsertPackage, upsertUser } from '../functions/db/catalogue-repository.js';
import { applyDatabaseRoles } from '../functions/db/database-roles.js';
import { countStuckJobs } from '../functions/db/jobs/reconcile-claims.js';
import { loadMigrations, migrate } from '../functions/db/migrator.js';
import { createPool, PgExecutor } from '../functions/db/pg-executor.js';
import { createCallbackHandler } from '../functions/handlers/callback.js';
import { createHandoffConsumerHandler } from '../functions/handlers/handoff-consumer.js';
import { createOpenApiHandler } from '../functions/handlers/openapi.js';
import {
  createJobCreateHandler,
  createJobReadHandler,
} from '../functions/handlers/operator-jobs.js';
import { createReconcileHandler } from '../functions/handlers/reconcile.js';
import { createStatusHandler } from '../functions/handlers/status.js';
import { createStripeEventBridgeHandler } from '../functions/handlers/stripe-eventbridge.js';
import { createStripeWebhookHandler } from '../functions/handlers/stripe-webhook.js';
import { createSweepHandler } from '../functions/handlers/sweep.js';
import { createWatchdogHandler } from '../functions/handlers/watchdog.js';
import { callbackUrlFor, ROUTES, type RouteName } from '../functions/routes.js';
import { TRIGGER_PATH } from '../functions/sandbox/sandbox-orchestrator.js';
import type { Log, ServiceDependencies } from '../functions/services/dependencies.js';
import { apiGateway, type LocalRoute } from './api-gateway.js';
import { createLocalConsole } from './console/console-server.js';
import { openEmbeddedDatabase } from './embedded-database.js';
import { LocalFifoQueue } from './fifo-queue.js';
import { isPortFree } from './free-port.js';
import { lambdaContext } from './handler-stand-ins.js';
import { closeServer, listen } from './listen.js';
import { LoggedLifecycleEvents } from './logged-lifecycle-events.js';
import { renderPrometheus } from './prometheus.js';
import { SandboxOrchestrator } from './sandbox-orchestrator.js';
import { type LocalSettings, parseLocalSettings } from './settings.js';
import { stripeLocalRoutes } from './stripe-local-routes.js';
import { StripeStandIn } from './stripe-stand-in.js';

const SCHEMA_DIR = fileURLToPath(new URL('../schema', import.meta.url));

/** A fresh local database gets this catalogue and one admin, so every flow can be tried at once. */
export const DEMO_PACKAGES = [
  { slug: 'starter', tier: 'starter', tokensQuota: 100_000 },
  { slug: 'growth', tier: 'growth', tokensQuota: 1_100_000 },
  { slug: 'scale', tier: 'scale', tokensQuota: 10_000_000 },
];
export const DEMO_ADMIN = 'admin@localhost';

export interface LocalRuntime {
  readonly url: string;
  readonly settings: LocalSettings;
  /** The functions' configuration it runs with (thresholds, timeouts). */
  readonly config: Config;
  /** Where the hand-off consumer sends triggers: the sandbox's, or PROVISIONING_TRIGGER_URL. */
  readonly triggerUrl: string | undefined;
  readonly databaseUrl: string;
  readonly sandbox: SandboxOrchestrator | undefined;
  /** Stripe's records as the sweep reads them, when `STRIPE_API_KEY` is not set. */
  readonly stripe: {
    readonly apiUrl: string | undefined;
    readonly apiKey: string;
    readonly standIn: boolean;
  };
  readonly seeded: boolean;
  stop(): Promise<void>;
}

/**
 * The whole pipeline on one machine: the Lambda handlers behind the routes of SPEC 2.1,
 * a local FIFO queue driving the hand-off consumer, the reconcile, watchdog and sweep
 * schedules, a sandbox orchestrator, and stand-ins for Stripe's records and its
 * EventBridge destination. Migrations are applied before the listener opens.
 */
export async function startLocalRuntime(env: NodeJS.ProcessEnv, log: Log): Promise<LocalRuntime> {
  const settings = parseLocalSettings(env);
  const config = loadConfig(env);
  // Before the database starts: a busy port is said in one line, with nothing to undo.
  if (settings.PORT && !(await isPortFree(settings.PORT))) {
    throw new Error(
      `port ${settings.PORT} is in use: stop what listens there, or start on another port (PORT=3001 npm start)`,
    );
  }
  const database = settings.DATABASE_URL
    ? { connectionString: settings.DATABASE_URL, stop: async () => {} }
    : await openEmbeddedDatabase({
        dataDir: `${settings.DATA_DIR}/postgres`,
        port: settings.EMBEDDED_DATABASE_PORT,
      });
  const pool = createPool(database.connectionString, 10);
  const db = new PgExecutor(pool);
  const server = createServer();
  let seeded: boolean;
  try {
    const report = await migrate(db, await loadMigrations(SCHEMA_DIR));
    if (report.applied.length) log.info('schema migrated', { applied: report.applied });
    // The roles and grants AWS has; locally nobody logs in as them (no passwords), so a
    // DATABASE_URL whose user may not create roles still runs everything.
    await applyDatabaseRoles(db).catch((error: unknown) =>
      log.warn('database roles not applied; the handlers run as the DATABASE_URL user', {
        error: error instanceof Error ? error.message : String(error),
      }),
    );
    seeded = await seedIfEmpty(db);
    await listen(server, settings.PORT, '127.0.0.1');
  } catch (error) {
    // Nothing is left running: the database this call started stops with it.
    await pool.end();
    await database.stop();
    throw error;
  }

  const telemetry = new TelemetryRegistry();
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(work: Promise<T>): Promise<T> => {
    inFlight.add(work);
    return work.finally(() => inFlight.delete(work));
  };

  const url = `http://localhost:${(server.address() as AddressInfo).port}`;

  // Without a Stripe key of its own, the sweep reads a local stand-in for Stripe.
  const standIn = env.STRIPE_API_KEY
    ? undefined
    : new StripeStandIn({ apiKey: `rk_${settings.STRIPE_MODE}_local_stand_in` });
  const stripe = {
    apiUrl: standIn ? await standIn.start() : config.stripeApiUrl,
    apiKey: env.STRIPE_API_KEY ?? `rk_${settings.STRIPE_MODE}_local_stand_in`,
    standIn: standIn !== undefined,
  };
  const secrets = new EnvironmentSecretSource({
    STRIPE_WEBHOOK_SECRET: settings.STRIPE_WEBHOOK_SECRET,
    PROVISIONING_TRIGGER_SECRET: settings.PROVISIONING_TRIGGER_SECRET,
    PROVISIONING_CALLBACK_SECRET: settings.PROVISIONING_CALLBACK_SECRET,
    STRIPE_API_KEY: stripe.apiKey,
  });
  const sandbox =
    settings.SANDBOX_ORCHESTRATOR === 'off'
      ? undefined
      : new SandboxOrchestrator({
          mode: settings.SANDBOX_ORCHESTRATOR,
          triggerSecret: settings.PROVISIONING_TRIGGER_SECRET,
          callbackSecret: await sandboxCallbackSecret(secrets),
          delayMs: settings.SANDBOX_DELAY_MS,
          sagaHeartbeats: settings.SANDBOX_SAGA_HEARTBEATS,
          retryAfterSeconds: settings.SANDBOX_RETRY_AFTER_SECONDS,
          log: (message, extra) => log.info(message, { ...extra }),
        });
  const triggerUrl = sandbox ? `${await sandbox.start()}${TRIGGER_PATH}` : config.triggerUrl;

  const queue = new LocalFifoQueue({
    clock: systemClock,
    visibilityTimeoutSeconds: settings.QUEUE_VISIBILITY_TIMEOUT_SECONDS,
    maxReceiveCount: settings.QUEUE_MAX_RECEIVE_COUNT,
  });
  const deps: ServiceDependencies = {
    db,
    clock: systemClock,
    // A claimed attempt stays in flight as long as the queue may hold its message.
    rules: { ...config.rules, handoffLeaseSeconds: settings.QUEUE_VISIBILITY_TIMEOUT_SECONDS },
    telemetry,
    events: new LoggedLifecycleEvents(log),
    log,
  };
  // Locally the reconciler reads PostgreSQL on every tick (an idle local server costs
  // nothing), so nothing ever reads this marker; the writers take one all the same.
  const quiet = new InMemoryQuietMarker();
  const callbackUrl = callbackUrlFor(config.publicBaseUrl ?? url);
  const orchestrator = new HttpOrchestratorTrigger({
    url: triggerUrl,
    secrets,
    timeoutMs: config.triggerTimeoutMs,
    clock: systemClock,
  });
  const reserveMs = reserveFor(config.triggerTimeoutMs);
  const handoffConsumer = createHandoffConsumerHandler(
    {
      ...deps,
      orchestrator,
      callbackUrl,
      dispatchLeaseSeconds: dispatchLeaseSeconds(config.triggerTimeoutMs),
    },
    { reserveMs },
  );
  const reconcile = createReconcileHandler({ ...deps, queue, settings: config.reconcile });
  const watchdog = createWatchdogHandler(deps);
  const sweep = createSweepHandler({
    ...deps,
    quiet,
    queue,
    callbackUrl,
    secrets,
    stripeMode: settings.STRIPE_MODE,
    lookbackSeconds: config.sweep.lookbackSeconds,
    sessionsFor: (apiKey) =>
      new StripeCheckoutSessions(stripeClient(apiKey, { apiUrl: stripe.apiUrl })),
  });
  // Stripe's EventBridge destination: its events wait on a queue of their own.
  const stripeEventsQueue = new LocalFifoQueue({
    clock: systemClock,
    visibilityTimeoutSeconds: settings.QUEUE_VISIBILITY_TIMEOUT_SECONDS,
    maxReceiveCount: settings.QUEUE_MAX_RECEIVE_COUNT,
    queueArn: 'arn:aws:sqs:local:000000000000:provisioning-stripe-events',
  });
  const stripeEventsConsumer = createStripeEventBridgeHandler({
    ...deps,
    quiet,
    queue,
    callbackUrl,
    stripeMode: settings.STRIPE_MODE,
  });
  const stripeRoutes = stripeLocalRoutes({ standIn, eventBridgeQueue: stripeEventsQueue });

  const handlers: Record<RouteName, LocalRoute['handler']> = {
    stripeWebhook: createStripeWebhookHandler({
      ...deps,
      queue,
      secrets,
      callbackUrl,
      quiet,
      stripeMode: settings.STRIPE_MODE,
    }),
    callback: createCallbackHandler({
      ...deps,
      secrets,
      quiet,
      requireTimestamp: config.requireCallbackTimestamp,
    }),
    status: createStatusHandler(deps, { allowedOrigins: config.allowedOrigins }),
    jobRead: createJobReadHandler(deps),
    jobCreate: createJobCreateHandler({ ...deps, queue, callbackUrl, quiet }),
    openApi: createOpenApiHandler(telemetry),
  };
  const routes: LocalRoute[] = (
    Object.entries(handlers) as [RouteName, LocalRoute['handler']][]
  ).map(([name, handler]) => ({ ...ROUTES[name], handler, timeoutMs: 29_000 }));
  const lambdas = apiGateway(routes, (route, event) =>
    track(route.handler(event, lambdaContext(route.path, route.timeoutMs))),
  );
  const localConsole = createLocalConsole({
    db,
    clock: systemClock,
    rules: config.rules,
    queue,
    sandbox,
    baseUrl: url,
    webhookSecret: settings.STRIPE_WEBHOOK_SECRET,
  });
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const serve =
      request.method === 'GET' && request.url === '/api/metrics'
        ? countStuckJobs(db, systemClock(), config.rules).then((stuck) => {
            response
              .writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
              .end(renderPrometheus(telemetry, stuck));
          })
        : localConsole.handles(request)
          ? track(localConsole.serve(request, response))
          : stripeRoutes.handles(request)
            ? stripeRoutes.serve(request, response)
            : lambdas(request, response);
    serve.catch((error: unknown) => {
      log.error('local request failed', { error: String(error) });
      if (!response.headersSent)
        response
          .writeHead(500, { 'content-type': 'application/json' })
          .end('{"error":"internal error"}');
    });
  });

  // The queues' consumers, fed with SQS event shapes; a batch at a time, as Lambda's
  // poller does, woken as soon as a message is there.
  let polling = true;
  const poll = async (
    from: LocalFifoQueue,
    consume: (event: SQSEvent, context: Context) => Promise<unknown>,
    name: string,
    timeoutMs: number,
  ) => {
    while (polling) {
      const batch = from.receive();
      if (batch.Records.length) {
        try {
          const response = (await track(consume(batch, lambdaContext(name, timeoutMs)))) as
            | SQSBatchResponse
            | undefined;
          from.acknowledge(batch, response);
        } catch (error) {
          // As in Lambda: the whole batch returns after its visibility timeout.
          log.error(`${name} failed its batch`, { error: String(error) });
        }
      } else {
        await from.whenReceivable();
      }
    }
  };
  const pollers = [
    poll(
      queue,
      handoffConsumer,
      'handoff-consumer',
      consumerTimeoutSeconds(config.triggerTimeoutMs) * 1000,
    ),
    poll(stripeEventsQueue, stripeEventsConsumer, 'stripe-events-consumer', 120_000),
  ];

  const every = (seconds: number, name: string, run: () => Promise<unknown>) =>
    setInterval(() => {
      track(run()).catch((error: unknown) =>
        log.error(`${name} run failed`, { error: String(error) }),
      );
    }, seconds * 1000);
  const timers = [
    every(settings.RECONCILE_EVERY_SECONDS, 'reconcile', () =>
      reconcile(
        scheduledEvent('reconcile'),
        lambdaContext('reconcile', RECONCILE_TIMEOUT_SECONDS * 1000),
      ),
    ),
    every(settings.WATCHDOG_EVERY_SECONDS, 'watchdog', () =>
      watchdog(
        scheduledEvent('watchdog'),
        lambdaContext('watchdog', WATCHDOG_TIMEOUT_SECONDS * 1000),
      ),
    ),
    every(settings.SWEEP_EVERY_SECONDS, 'sweep', () =>
      sweep(scheduledEvent('sweep'), lambdaContext('sweep', SWEEP_TIMEOUT_SECONDS * 1000)),
    ),
  ];

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      for (const timer of timers) clearInterval(timer);
      await closeServer(server);
      polling = false;
      queue.interrupt();
      stripeEventsQueue.interrupt();
      await Promise.all(pollers);
      await sandbox?.stop();
      await standIn?.stop();
      await Promise.allSettled([...inFlight]);
      await pool.end();
      await database.stop();
    })();
    return stopped;
  };
  return {
    url,
    settings,
    config,
    triggerUrl,
    databaseUrl: database.connectionString,
    sandbox,
    stripe,
    seeded,
    stop,
  };
}

/** Demo catalogue and an admin for a database that has none; production seeds nothing. */
async function seedIfEmpty(db: PgExecutor): Promise<boolean> {
  const [row] = await db.execute('SELECT count(*) AS packages FROM packages');
  if (Number(row?.packages) > 0) return false;
  for (const pkg of DEMO_PACKAGES) await upsertPackage(db, pkg);
  await upsertUser(db, { email: DEMO_ADMIN, role: 'admin' });
  return true;
}

/** The event EventBridge Scheduler delivers to a Lambda target. */
function scheduledEvent(name: string): ScheduledEvent {
  return {
    version: '0',
    id: crypto.randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.scheduler',
    account: '000000000000',
    time: new Date().toISOString(),
    region: 'local',
    resources: [`arn:aws:scheduler:local:000000000000:schedule/default/${name}`],
    detail: {},
  };
}

/** The newest of a `new,old` pair, as the orchestrator signs during a rotation. */
async function sandboxCallbackSecret(secrets: SecretSource): Promise<string> {
  const signer = await callbackSigningSecret(secrets);
  if (!signer) throw new Error('PROVISIONING_CALLBACK_SECRET holds no secret');
  return signer.secret;
}
