import { Annotations, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import { EventBus } from 'aws-cdk-lib/aws-events';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { StringParameter } from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { consumerTimeoutSeconds } from '../functions/core/handoff-timing.js';
import { RECONCILE_TIMEOUT_SECONDS } from '../functions/core/reconcile-timing.js';
import { DATA_API_RETRY_BUDGET_SECONDS } from '../functions/core/resume-budget.js';
import {
  SWEEP_TIMEOUT_SECONDS,
  WATCHDOG_TIMEOUT_SECONDS,
} from '../functions/core/scheduled-timeouts.js';
import type { DatabaseRole } from '../functions/db/database-roles.js';
import { ROUTES, type RouteName } from '../functions/routes.js';
import { Alarms } from './constructs/alarms.js';
import { OperationsDashboard } from './constructs/dashboard.js';
import { Database } from './constructs/database.js';
import { HandoffQueue } from './constructs/handoff-queue.js';
import { ProvisioningHttpApi } from './constructs/http-api.js';
import { ProjectFunction, type ProjectFunctionProps } from './constructs/project-function.js';
import { SandboxOrchestrator } from './constructs/sandbox-orchestrator.js';
import { Schedules } from './constructs/schedules.js';
import { StripeEventIntake } from './constructs/stripe-event-intake.js';
import { handoffOutputs, type StackOutputValue } from './handoff-outputs.js';
import { suppressFindings } from './nag-suppressions.js';
import { type ProvisioningHandoffProps, parseSettings, type StackSettings } from './settings.js';

export type { StackOutputValue } from './handoff-outputs.js';

/** The product's functions: the route handlers and the background ones. */
export type FunctionRole = RouteName | 'handoffConsumer' | 'reconciler' | 'watchdog' | 'sweep';
/** Functions the stack creates only with the settings that need them. */
export type OptionalFunctionRole = 'stripeEventsConsumer';
export type { ProvisioningHandoffProps } from './settings.js';

/**
 * SPEC section 1 as one construct: database, hand-off queue, HTTP API, schedules (the
 * missed-checkout sweep among them), alarms and dashboard, and Stripe's EventBridge
 * intake when `stripeEventSourceName` is set. Add it to any stack; every prop is optional and validated, and
 * a bad one stops the synth naming it. `ProvisioningStack` wraps it for `cdk deploy`.
 */
export class ProvisioningHandoff extends Construct {
  /** The settings in force: the props with their defaults. */
  readonly settings: StackSettings;
  readonly api: ProvisioningHttpApi;
  readonly database: Database;
  readonly queue: HandoffQueue;
  readonly alarms: Alarms;
  readonly dashboard: OperationsDashboard;
  readonly lifecycleBus: EventBus;
  /**
   * The product's functions by role, to add permissions, alarms or tests around them:
   * every one the stack creates (`stripeEventsConsumer` when `stripeEventSourceName` is set).
   */
  readonly functions: Readonly<Record<FunctionRole, IFunction>> &
    Readonly<Partial<Record<OptionalFunctionRole, IFunction>>>;
  /** Stripe's event destination on EventBridge, when `stripeEventSourceName` is set. */
  readonly stripeEvents: StripeEventIntake | undefined;
  /** The values an operator needs after a deploy, by the names the CLI and README use. */
  readonly outputs: Readonly<Record<string, StackOutputValue>>;

  constructor(scope: Construct, id: string, props: ProvisioningHandoffProps = {}) {
    super(scope, id);
    const s = parseSettings(props, 'ProvisioningHandoff props');
    this.settings = s;
    const removalPolicy = s.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const logRetention = s.production ? RetentionDays.THREE_MONTHS : RetentionDays.TWO_WEEKS;

    const database = new Database(this, 'Database', {
      stage: s.stage,
      production: s.production,
      maxCapacityAcu: s.databaseMaxCapacityAcu,
      logRetention,
    });
    const secret = (id: string, description: string) =>
      new Secret(this, id, {
        description,
        removalPolicy,
        generateSecretString: { excludePunctuation: true, passwordLength: 48 },
      });
    const secrets = {
      stripeWebhook: secret(
        'StripeWebhookSecret',
        'Stripe webhook signing secret(s), whsec_…; several comma-separated during a rotation',
      ),
      stripeApiKey: secret(
        'StripeApiKey',
        'Stripe API key (restricted, read checkout sessions): the missed-checkout sweep and the operator CLI',
      ),
      trigger: secret(
        'TriggerSecret',
        'HMAC secret signing triggers to the orchestrator (shared with it)',
      ),
      callback: secret('CallbackSecret', 'HMAC secret the orchestrator signs callbacks with'),
    };
    // Whether anything may be in flight, so an idle tick leaves Aurora paused. The
    // template's value is the safe one: a deploy that resets it makes one tick look.
    const quietMarker = new StringParameter(this, 'ReconcilerQuiet', {
      description:
        'Provisioning reconciler: awake, or quiet since a time (ticks then skip the database)',
      stringValue: 'awake',
    });
    const bus = new EventBus(this, 'LifecycleBus', {
      description:
        'Provisioning lifecycle: job recorded, provisioned, failed, capped, parked, cancelled; breaker opened, closed',
    });
    const certificate =
      s.certificate ??
      (s.certificateArn
        ? Certificate.fromCertificateArn(this, 'DomainCertificate', s.certificateArn)
        : undefined);
    const api = new ProvisioningHttpApi(this, 'HttpApi', {
      throttle: { rateLimit: s.apiRateLimit, burstLimit: s.apiBurstLimit },
      logRetention,
      removalPolicy,
      ...(s.domainName && certificate
        ? { customDomain: { domainName: s.domainName, certificate } }
        : {}),
    });
    const sandbox = s.sandboxOrchestrator
      ? new SandboxOrchestrator(this, 'SandboxOrchestrator', {
          stage: s.stage,
          triggerSecret: secrets.trigger,
          callbackSecret: secrets.callback,
          logRetention,
          removalPolicy,
        })
      : undefined;
    const triggerUrl = s.triggerUrl ?? sandbox?.triggerUrl;
    const rules = {
      STALE_AFTER_SECONDS: String(s.staleAfterSeconds),
      STUCK_AFTER_SECONDS: String(s.stuckAfterSeconds),
      MAX_ATTEMPTS: String(s.maxAttempts),
      RETRY_MAX_DELAY_SECONDS: String(s.retryMaxDelaySeconds),
      BREAKER_FAILURE_THRESHOLD: String(s.breakerFailureThreshold),
      STALL_AFTER_SECONDS: String(s.stallAfterSeconds),
      RENOTIFY_AFTER_SECONDS: String(s.renotifyAfterSeconds),
    };
    // Every function logs in to the database as the application role, but the two read
    // routes, which log in read-only; none holds the master secret (the migrator's).
    const fn = (
      id: string,
      props: Omit<ProjectFunctionProps, 'logRetention' | 'removalPolicy' | 'stage'>,
      login: DatabaseRole = 'app',
    ) => {
      const created = new ProjectFunction(this, id, {
        stage: s.stage,
        logRetention,
        removalPolicy,
        ...props,
        environment: {
          ...rules,
          // HTTP routes get a shorter budget below (they answer 503 instead of waiting).
          DATA_API_RETRY_BUDGET_SECONDS: String(DATA_API_RETRY_BUDGET_SECONDS.background),
          ...props.environment,
        },
      });
      // Nothing serves before the schema is migrated.
      created.node.addDependency(database.migrated);
      return created.bindDatabase(database, login);
    };

    const webhook = fn('StripeWebhook', {
      handler: 'stripe-webhook',
      description: 'Stripe webhook: record the job, hand it off',
      timeout: Duration.seconds(29),
      memorySize: 512,
    })
      .bindSecret('STRIPE_WEBHOOK_SECRET_ARN', secrets.stripeWebhook)
      .bindEventBus(bus)
      .bindQuietMarker(quietMarker, 'wake')
      .setEnvironment('PUBLIC_BASE_URL', api.url)
      .setEnvironment('STRIPE_MODE', s.stripeMode);
    const handoff = fn('HandoffConsumer', {
      handler: 'handoff-consumer',
      description: 'Hand-off consumer: POST the trigger to the orchestrator, record the outcome',
      // A batch's triggers, after waiting out a resume on its first database call.
      timeout: Duration.seconds(
        consumerTimeoutSeconds(s.triggerTimeoutMs) + DATA_API_RETRY_BUDGET_SECONDS.background,
      ),
      memorySize: 256,
      environment: {
        TRIGGER_TIMEOUT_MS: String(s.triggerTimeoutMs),
        ...(triggerUrl ? { PROVISIONING_TRIGGER_URL: triggerUrl } : {}),
      },
    })
      .bindSecret('PROVISIONING_TRIGGER_SECRET_ARN', secrets.trigger)
      .bindEventBus(bus)
      // The callback URL in each trigger is the one this stack serves when it is sent.
      .setEnvironment('PUBLIC_BASE_URL', api.url);
    const callback = fn('Callback', {
      handler: 'callback',
      description: 'Orchestrator callback: verify, apply, answer',
      timeout: Duration.seconds(29),
      memorySize: 512,
    })
      // The callback secret alone: the stack always sets it, so the public route never
      // needs the trigger secret's fallback (`receiveCallback`), and cannot read it.
      .bindSecret('PROVISIONING_CALLBACK_SECRET_ARN', secrets.callback)
      .bindEventBus(bus)
      .setEnvironment('REQUIRE_CALLBACK_TIMESTAMP', String(s.requireCallbackTimestamp))
      .bindQuietMarker(quietMarker, 'wake');
    const reconciler = fn('Reconciler', {
      handler: 'reconcile',
      description: 'Reconciler: re-drive stale jobs, publish the STUCK gauge',
      // As long as a tick allows, so one run re-drives a large backlog at the global cap;
      // one instance at most (runs also hold a lease in the database).
      timeout: Duration.seconds(RECONCILE_TIMEOUT_SECONDS),
      reservedConcurrentExecutions: 1,
      memorySize: 512,
      environment: {
        RECONCILE_BATCH_SIZE: String(s.reconcileBatchSize),
        RECONCILE_MAX_REDRIVES_PER_SECOND: String(s.reconcileMaxRedrivesPerSecond),
      },
    })
      .bindEventBus(bus)
      .bindQuietMarker(quietMarker, 'settle');
    const watchdog = fn('Watchdog', {
      handler: 'watchdog',
      description: 'Watchdog: notify admins of stalls and capped jobs',
      timeout: Duration.seconds(WATCHDOG_TIMEOUT_SECONDS),
      memorySize: 256,
    }).bindQuietMarker(quietMarker, 'read');
    const sweep = fn('Sweep', {
      handler: 'sweep',
      description: 'Missed-checkout sweep: record paid Stripe checkouts no event recorded',
      timeout: Duration.seconds(SWEEP_TIMEOUT_SECONDS),
      memorySize: 512,
      environment: { SWEEP_LOOKBACK_HOURS: String(s.sweepLookbackHours) },
    })
      .bindSecret('STRIPE_API_KEY_ARN', secrets.stripeApiKey)
      .bindEventBus(bus)
      .bindQuietMarker(quietMarker, 'wake')
      .setEnvironment('PUBLIC_BASE_URL', api.url)
      .setEnvironment('STRIPE_MODE', s.stripeMode);
    const stripeEventsConsumer = s.stripeEventSourceName
      ? fn('StripeEventsConsumer', {
          handler: 'stripe-eventbridge',
          description: 'Stripe events from EventBridge: record the job, hand it off',
          timeout: Duration.seconds(2 * DATA_API_RETRY_BUDGET_SECONDS.background),
          memorySize: 512,
        })
          .bindEventBus(bus)
          .bindQuietMarker(quietMarker, 'wake')
          .setEnvironment('PUBLIC_BASE_URL', api.url)
          .setEnvironment('STRIPE_MODE', s.stripeMode)
      : undefined;
    const status = fn(
      'Status',
      {
        handler: 'status',
        description: 'Checkout success page: coarse provisioning state',
        timeout: Duration.seconds(29),
        memorySize: 256,
        ...(s.allowedOrigins.length
          ? { environment: { ALLOWED_ORIGINS: s.allowedOrigins.join(',') } }
          : {}),
      },
      'reader',
    );
    const jobRead = fn(
      'OperatorJobRead',
      {
        handler: 'operator-job-read',
        description: 'Operator: a job with its account and history',
        timeout: Duration.seconds(29),
        memorySize: 256,
      },
      'reader',
    );
    const jobCreate = fn('OperatorJobCreate', {
      handler: 'operator-jobs',
      exportName: 'createHandler',
      description: 'Operator: create a comped or manual job',
      timeout: Duration.seconds(29),
      memorySize: 256,
    })
      .bindEventBus(bus)
      .bindQuietMarker(quietMarker, 'wake')
      .setEnvironment('PUBLIC_BASE_URL', api.url);

    // A static document: no database, no secret, no alarm (it strands no one).
    const openApi = new ProjectFunction(this, 'OpenApi', {
      stage: s.stage,
      handler: 'openapi',
      description: 'The OpenAPI document of these routes, bundled',
      timeout: Duration.seconds(5),
      memorySize: 128,
      logRetention,
      removalPolicy,
    });

    const queue = new HandoffQueue(this, 'HandoffQueue', {
      consumer: handoff,
      maxReceiveCount: s.handoffMaxReceiveCount,
      maxConcurrency: s.handoffMaxConcurrency,
    });
    // A claimed attempt is in flight as long as the queue may hold its message.
    const lease = String(queue.visibilityTimeout.toSeconds());
    const stripeEvents =
      s.stripeEventSourceName && stripeEventsConsumer
        ? new StripeEventIntake(this, 'StripeEvents', {
            eventSourceName: s.stripeEventSourceName,
            consumer: stripeEventsConsumer,
            maxReceiveCount: s.handoffMaxReceiveCount,
          })
        : undefined;
    for (const sender of [webhook, reconciler, jobCreate, sweep, stripeEventsConsumer]) {
      if (!sender) continue;
      sender.bindQueueSend(queue.queue).setEnvironment('HANDOFF_LEASE_SECONDS', lease);
    }

    // The one record of the product's functions by role: routes, alarms, dashboard and
    // `this.functions` all derive from it (in this order).
    const byRole: Record<FunctionRole, ProjectFunction> &
      Partial<Record<OptionalFunctionRole, ProjectFunction>> = {
      stripeWebhook: webhook,
      handoffConsumer: handoff,
      callback,
      reconciler,
      watchdog,
      status,
      jobRead,
      jobCreate,
      sweep,
      ...(stripeEventsConsumer ? { stripeEventsConsumer } : {}),
      openApi,
    };
    const routes = Object.keys(ROUTES) as RouteName[];
    for (const name of routes) {
      const fn = byRole[name];
      api.addRoute(ROUTES[name], fn);
      fn.setEnvironment(
        'DATA_API_RETRY_BUDGET_SECONDS',
        String(DATA_API_RETRY_BUDGET_SECONDS.http),
      );
    }

    const schedules = new Schedules(this, 'Schedules', {
      reconciler,
      watchdog,
      reconcileEnabled: s.reconcileEnabled,
      watchdogEnabled: s.watchdogEnabled,
      sweep,
      sweepEnabled: s.sweepEnabled && s.stripeApiKeyConfigured,
      sweepEveryMinutes: s.sweepEveryMinutes,
    });
    if (s.sweepEnabled && !s.stripeApiKeyConfigured) {
      Annotations.of(this).addWarningV2(
        'provisioning-handoff:sweep-off',
        'The missed-checkout sweep is off: no Stripe API key is configured. Fill the StripeApiKeySecretArn secret with a restricted key that can read Checkout Sessions, then deploy with stripeApiKeyConfigured=true (README: Stripe).',
      );
    }
    // Alarmed and charted: all but the static OpenAPI document (it strands no one).
    const functions = Object.values(byRole).filter((fn) => fn !== openApi);
    const alarms = new Alarms(this, 'Alarms', {
      stage: s.stage,
      stackName: Stack.of(this).stackName,
      alarmEmail: s.alarmEmail,
      notifyEmail: s.notifyEmail,
      pagingSubscriptions: props.pagingSubscriptions,
      notifySubscriptions: props.notifySubscriptions,
      runbookBaseUrl: s.runbookBaseUrl,
      handoffQueue: queue.queue,
      handoffDeadLetterQueue: queue.deadLetterQueue,
      scheduleDeadLetterQueue: schedules.deadLetterQueue,
      api: api.api,
      routes,
      stripeEvents,
      functions,
      thresholds: {
        backlogWarning: s.backlogWarning,
        backlogCritical: s.backlogCritical,
        oldestMessageSeconds: s.oldestMessageSeconds,
      },
    });
    const dashboard = new OperationsDashboard(this, 'Dashboard', {
      stage: s.stage,
      routes,
      handoffQueue: queue.queue,
      handoffDeadLetterQueue: queue.deadLetterQueue,
      stripeEvents,
      functions,
    });

    this.outputs = handoffOutputs({
      settings: s,
      api,
      secrets,
      database,
      queue,
      lifecycleBus: bus,
      stripeEvents,
      quietMarker,
      alarms,
      sandbox,
      dashboard,
      region: Stack.of(this).region,
    });
    this.api = api;
    this.database = database;
    this.queue = queue;
    this.alarms = alarms;
    this.dashboard = dashboard;
    this.lifecycleBus = bus;
    this.functions = lambdasOf(byRole);
    this.stripeEvents = stripeEvents;
    suppressFindings(this, s.production);
  }
}

/** The Lambda of each function, by the same roles (`Object.fromEntries` loses the keys). */
function lambdasOf<T extends Record<string, ProjectFunction | undefined>>(
  byRole: T,
): { [K in keyof T]: T[K] extends ProjectFunction ? IFunction : IFunction | undefined } {
  return Object.fromEntries(
    Object.entries(byRole).map(([role, fn]) => [role, fn?.fn]),
  ) as ReturnType<typeof lambdasOf<T>>;
}
