import { Duration } from 'aws-cdk-lib';
import {
  Dashboard,
  GraphWidget,
  type IMetric,
  type MetricProps,
  SingleValueWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { type MetricName, ROUTE_DIMENSION } from '../../functions/adapters/telemetry.js';
import type { RouteName } from '../../functions/routes.js';
import { routeServerErrors, productMetric as stageMetric } from './alarms.js';
import type { ProjectFunction } from './project-function.js';

export interface OperationsDashboardProps {
  /** The stage whose metrics it shows (their `service` dimension). */
  readonly stage: string;
  readonly routes: readonly RouteName[];
  readonly handoffQueue: IQueue;
  readonly handoffDeadLetterQueue: IQueue;
  /** The EventBridge intake's queue and dead-letter queue, when the stack has one. */
  readonly stripeEvents?: { readonly queue: IQueue; readonly deadLetterQueue: IQueue } | undefined;
  readonly functions: readonly ProjectFunction[];
}

/** One page for the on-call: the funnel, the gauge, the queue, callbacks, Aurora resumes and durations. */
export class OperationsDashboard extends Construct {
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: OperationsDashboardProps) {
    super(scope, id);
    const productMetric = (name: MetricName, metricProps: Partial<MetricProps>) =>
      stageMetric(props.stage, name, metricProps);
    const sum = (name: MetricName) =>
      productMetric(name, { statistic: 'Sum', period: Duration.minutes(5), label: name });
    const graph = (title: string, left: IMetric[]) =>
      new GraphWidget({ title, left, width: 12, height: 6 });
    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(6) });
    this.dashboard.addWidgets(
      new SingleValueWidget({
        title: 'Jobs STUCK now (the gauge that pages)',
        metrics: [
          productMetric('ProvisioningJobsStuck', {
            statistic: 'Maximum',
            period: Duration.minutes(10),
          }),
        ],
        width: 6,
        height: 6,
      }),
      new GraphWidget({
        title: 'STUCK gauge',
        left: [
          productMetric('ProvisioningJobsStuck', {
            statistic: 'Maximum',
            period: Duration.minutes(10),
          }),
        ],
        width: 18,
        height: 6,
      }),
    );
    this.dashboard.addWidgets(
      graph('Funnel: recorded → handed off → provisioned / failed', [
        sum('CheckoutRecorded'),
        sum('HandoffEnqueued'),
        sum('HandoffAccepted'),
        sum('JobProvisioned'),
        sum('JobFailed'),
        sum('JobCapped'),
        sum('JobCancelled'),
      ]),
      graph('Hand-off failures and re-drives', [
        sum('HandoffFailed'),
        sum('HandoffEnqueueFailed'),
        sum('ReconcileRedriven'),
        sum('ReconcileStillFailing'),
        sum('ReconcileSkippedNoPayload'),
        sum('JobParked'),
        sum('TriggerUnauthorized'),
      ]),
    );
    this.dashboard.addWidgets(
      new SingleValueWidget({
        title: 'Breaker toward the orchestrator: open for (s)',
        metrics: [
          productMetric('BreakerOpenSeconds', {
            statistic: 'Maximum',
            period: Duration.minutes(10),
          }),
        ],
        width: 6,
        height: 6,
      }),
      new GraphWidget({
        title: 'Breaker: opened, closed, held hand-offs, probes',
        left: [
          sum('BreakerOpened'),
          sum('BreakerClosed'),
          sum('HandoffDeferred'),
          sum('ReconcileProbeSent'),
        ],
        right: [
          productMetric('BreakerOpenSeconds', {
            statistic: 'Maximum',
            period: Duration.minutes(10),
            label: 'open for (s)',
          }),
        ],
        width: 18,
        height: 6,
      }),
    );
    this.dashboard.addWidgets(
      graph('Hand-off queue: depth and dead letters', [
        props.handoffQueue.metricApproximateNumberOfMessagesVisible({ label: 'visible' }),
        props.handoffQueue.metricApproximateNumberOfMessagesNotVisible({ label: 'in flight' }),
        props.handoffDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
          label: 'dead letters',
        }),
      ]),
      graph('Hand-off queue: oldest message age (s)', [
        props.handoffQueue.metricApproximateAgeOfOldestMessage(),
      ]),
    );
    this.dashboard.addWidgets(
      graph('Callback answers by class', [
        sum('CallbackAnswered2xx'),
        sum('CallbackAnswered4xx'),
        sum('CallbackAnswered5xx'),
        sum('CallbackSignatureRejected'),
      ]),
      graph('Stripe webhook', [
        sum('StripeEventDuplicate'),
        sum('StripeEventIgnored'),
        sum('StripeSignatureRejected'),
        sum('InputRejected'),
      ]),
    );
    this.dashboard.addWidgets(
      graph(
        'HTTP 5xx by route (pages when it lasts)',
        props.routes.map((route) => routeServerErrors(props.stage, route, Duration.minutes(5))),
      ),
      graph(
        'HTTP 4xx by route (refused requests)',
        props.routes.map((route) =>
          productMetric('HttpClientError', {
            statistic: 'Sum',
            period: Duration.minutes(5),
            dimensionsMap: { [ROUTE_DIMENSION]: route },
            label: route,
          }),
        ),
      ),
    );
    this.dashboard.addWidgets(
      graph('Checkout intake: which path recorded each checkout', [
        sum('CheckoutRecordedByWebhook'),
        sum('CheckoutRecordedByEventBridge'),
        sum('MissedCheckouts'),
      ]),
      graph('Missed-checkout sweep: sessions read, recorded, rate-limited', [
        sum('SweepSessionsListed'),
        sum('MissedCheckouts'),
        sum('SweepThrottled'),
      ]),
    );
    if (props.stripeEvents) {
      const { queue, deadLetterQueue } = props.stripeEvents;
      this.dashboard.addWidgets(
        graph('Stripe EventBridge intake: received, queued, dead letters', [
          sum('StripeEventBridgeReceived'),
          queue.metricApproximateNumberOfMessagesVisible({ label: 'waiting' }),
          deadLetterQueue.metricApproximateNumberOfMessagesVisible({ label: 'dead letters' }),
        ]),
        graph('Stripe EventBridge intake: oldest event waiting (s)', [
          queue.metricApproximateAgeOfOldestMessage(),
        ]),
      );
    }
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Aurora resumes: DatabaseResumingException answers, replays, time waited (ms)',
        left: [sum('DatabaseResuming'), sum('DataApiReplayed')],
        right: [sum('DataApiRetryWaitMs')],
        width: 24,
        height: 6,
      }),
    );
    this.dashboard.addWidgets(
      graph(
        'Function duration p99 (ms)',
        props.functions.map((fn) => fn.fn.metricDuration({ statistic: 'p99', label: fn.node.id })),
      ),
      graph(
        'Function errors',
        props.functions.map((fn) => fn.fn.metricErrors({ statistic: 'Sum', label: fn.node.id })),
      ),
    );
  }
}
