import type { IEventBus } from 'aws-cdk-lib/aws-events';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IStringParameter } from 'aws-cdk-lib/aws-ssm';
import { ROUTES, routeUrl } from '../functions/routes.js';
import type { Alarms } from './constructs/alarms.js';
import type { OperationsDashboard } from './constructs/dashboard.js';
import type { Database } from './constructs/database.js';
import type { HandoffQueue } from './constructs/handoff-queue.js';
import type { ProvisioningHttpApi } from './constructs/http-api.js';
import type { SandboxOrchestrator } from './constructs/sandbox-orchestrator.js';
import type { StripeEventIntake } from './constructs/stripe-event-intake.js';
import type { StackSettings } from './settings.js';

/** A value the operator CLI and the README name by its key (see `addStackOutputs`). */
export interface StackOutputValue {
  readonly value: string;
  readonly description: string;
}

/** The parts of a deployed hand-off that someone needs to find after `cdk deploy`. */
export interface HandoffParts {
  readonly settings: StackSettings;
  readonly api: ProvisioningHttpApi;
  readonly secrets: Readonly<
    Record<'stripeWebhook' | 'stripeApiKey' | 'trigger' | 'callback', ISecret>
  >;
  readonly database: Database;
  readonly queue: HandoffQueue;
  readonly lifecycleBus: IEventBus;
  readonly stripeEvents: StripeEventIntake | undefined;
  readonly quietMarker: IStringParameter;
  readonly alarms: Alarms;
  readonly sandbox: SandboxOrchestrator | undefined;
  readonly dashboard: OperationsDashboard;
  readonly region: string;
}

/**
 * What an operator, Stripe's dashboard and the orchestrator team are given after a
 * deploy, by the keys the operator CLI reads and the README names; each with the one
 * line that says what to do with it.
 */
export function handoffOutputs(parts: HandoffParts): Record<string, StackOutputValue> {
  const { settings: s, api, secrets, database, queue, lifecycleBus, stripeEvents } = parts;
  const { quietMarker, alarms, sandbox, dashboard, region } = parts;
  const outputs: Record<string, StackOutputValue> = {};
  const output = (id: string, value: string, description: string) => {
    outputs[id] = { value, description };
  };
  output(
    'WebhookUrl',
    routeUrl(api.url, ROUTES.stripeWebhook),
    'Paste into Stripe: Developers → Webhooks → Add endpoint',
  );
  output(
    'CallbackUrl',
    routeUrl(api.url, ROUTES.callback),
    'Give to the orchestrator team: where it reports back',
  );
  output(
    'StatusUrl',
    routeUrl(api.url, ROUTES.status),
    'Poll from the checkout success page with ?session_id=',
  );
  output(
    'OperatorJobsUrl',
    routeUrl(api.url, ROUTES.jobCreate),
    'Operator routes (IAM-signed requests)',
  );
  output(
    'StripeWebhookSecretArn',
    secrets.stripeWebhook.secretArn,
    'Fill with the whsec_… signing secret Stripe shows',
  );
  output(
    'StripeApiKeySecretArn',
    secrets.stripeApiKey.secretArn,
    'A restricted Stripe key (read Checkout Sessions) for the missed-checkout sweep and the operator CLI',
  );
  output(
    'TriggerSecretArn',
    secrets.trigger.secretArn,
    'Share with the orchestrator: it verifies triggers with it',
  );
  output(
    'CallbackSecretArn',
    secrets.callback.secretArn,
    'Share with the orchestrator: it signs callbacks with it',
  );
  output(
    'DatabaseClusterArn',
    database.cluster.clusterArn,
    'Aurora cluster (Data API) for the operator CLI',
  );
  output(
    'DatabaseSecretArn',
    database.credentials.secretArn,
    'The master database login, for the operator CLI (the functions log in as their own roles)',
  );
  output('HandoffQueueUrl', queue.queue.queueUrl, 'The hand-off FIFO queue');
  output(
    'LifecycleBusName',
    lifecycleBus.eventBusName,
    'Lifecycle events (job.*, breaker.*): subscribe with rules; the operator CLI publishes its own',
  );
  output(
    'HandoffDeadLetterQueueUrl',
    queue.deadLetterQueue.queueUrl,
    'Hand-offs that could not be recorded',
  );
  output(
    'ProvisioningRules',
    JSON.stringify({
      staleAfterSeconds: s.staleAfterSeconds,
      stuckAfterSeconds: s.stuckAfterSeconds,
      maxAttempts: s.maxAttempts,
      retryMaxDelaySeconds: s.retryMaxDelaySeconds,
      breakerFailureThreshold: s.breakerFailureThreshold,
      handoffLeaseSeconds: queue.visibilityTimeout.toSeconds(),
      stallAfterSeconds: s.stallAfterSeconds,
      renotifyAfterSeconds: s.renotifyAfterSeconds,
      sweepLookbackHours: s.sweepLookbackHours,
    }),
    'The thresholds the functions run with: the operator CLI reproduces the gauge with them',
  );
  output('StripeMode', s.stripeMode, 'The Stripe mode this stack serves (live or test)');
  if (stripeEvents) {
    output(
      'StripeEventBusName',
      stripeEvents.bus.eventBusName,
      'The partner event bus associated with Stripe’s event destination',
    );
    output(
      'StripeEventsDeadLetterQueueArn',
      stripeEvents.deadLetterQueue.queueArn,
      'Stripe events from EventBridge that could not be processed: redrive after a fix',
    );
  }
  output(
    'ReconcilerQuietParameter',
    quietMarker.parameterName,
    "The reconciler's quiet marker: the operator CLI wakes it when it records a job",
  );
  output('AlarmTopicArn', alarms.pagingTopic.topicArn, 'Subscribe the on-call pager here');
  output(
    'NotifyTopicArn',
    alarms.notifyTopic.topicArn,
    'What needs a look in working hours: subscribe a team channel here',
  );
  if (api.domainTarget) {
    output(
      'ApiDomainTarget',
      api.domainTarget.name,
      `Point ${s.domainName} here (a CNAME, or a Route 53 alias)`,
    );
    output(
      'ApiDomainHostedZoneId',
      api.domainTarget.hostedZoneId,
      'The hosted zone of ApiDomainTarget, for a Route 53 alias record',
    );
  }
  if (sandbox) {
    output(
      'SandboxTriggerUrl',
      sandbox.triggerUrl,
      'The sandbox orchestrator that receives every trigger of this stack (ops smoke)',
    );
  }
  output(
    'DashboardUrl',
    `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards:name=${dashboard.dashboard.dashboardName}`,
    'The operations dashboard',
  );

  return outputs;
}
