import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  Metric,
  type MetricProps,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  METRICS_NAMESPACE,
  type MetricName,
  SERVICE_NAME,
} from '../../functions/adapters/telemetry.js';
import type { ProjectFunction } from './project-function.js';

/** A metric the functions publish; Powertools adds the `service` dimension to each. */
export function productMetric(metricName: MetricName, props: Partial<MetricProps> = {}): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: SERVICE_NAME },
    ...props,
  });
}

export interface AlarmsProps {
  readonly alarmEmail: string | undefined;
  readonly runbookBaseUrl: string;
  readonly handoffQueue: IQueue;
  readonly handoffDeadLetterQueue: IQueue;
  readonly scheduleDeadLetterQueue: IQueue;
  /** The EventBridge intake's queue and dead-letter queue, when the stack has one. */
  readonly stripeEvents?: { readonly queue: IQueue; readonly deadLetterQueue: IQueue } | undefined;
  readonly functions: readonly ProjectFunction[];
  readonly thresholds: {
    readonly backlogWarning: number;
    readonly backlogCritical: number;
    readonly oldestMessageSeconds: number;
  };
}

/**
 * Everything that pages, through one SNS topic. Each alarm's description says what it
 * means and names the runbook that answers it.
 */
export class Alarms extends Construct {
  readonly topic: Topic;
  readonly stuck: Alarm;
  readonly gaugeMissing: Alarm;
  readonly breakerOpen: Alarm;
  readonly all: Alarm[] = [];

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    this.topic = new Topic(this, 'Page', {
      displayName: 'Provisioning hand-off on-call',
      enforceSSL: true,
    });
    if (props.alarmEmail) this.topic.addSubscription(new EmailSubscription(props.alarmEmail));
    const runbook = (name: string) => `Runbook: ${props.runbookBaseUrl}/${name}.md`;

    // The gauge arrives every 10 minutes; a 15-minute period always holds one, so a
    // late datapoint never leaves a period empty, and two periods make 30 minutes.
    this.stuck = this.alarm('ProvisioningJobsStuck', {
      metric: productMetric('ProvisioningJobsStuck', {
        statistic: 'Minimum',
        period: Duration.minutes(15),
      }),
      threshold: 0,
      evaluationPeriods: 2,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: `A paying customer has not received their tenant: a provisioning job has been STUCK (no progress for 15 min, or past the retry cap) for 30 minutes. ${runbook('provisioning-stuck')}`,
    });
    this.gaugeMissing = this.alarm('ProvisioningGaugeMissing', {
      metric: productMetric('ProvisioningJobsStuck', {
        statistic: 'SampleCount',
        period: Duration.minutes(30),
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: TreatMissingData.BREACHING,
      alarmDescription: `The STUCK gauge has not been reported for 30 minutes: the reconciler is not running, so nothing re-drives stalled hand-offs and the stuck alarm is blind. ${runbook('provisioning-stuck')}`,
    });
    const visible = (queue: IQueue) =>
      queue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      });
    const { backlogWarning, backlogCritical, oldestMessageSeconds } = props.thresholds;
    this.above(
      'HandoffBacklogWarning',
      visible(props.handoffQueue),
      backlogWarning,
      `More than ${backlogWarning} hand-offs waiting for 5 minutes (warning). ${runbook('handoff-backlog-and-dlq')}`,
    );
    this.above(
      'HandoffBacklogCritical',
      visible(props.handoffQueue),
      backlogCritical,
      `More than ${backlogCritical} hand-offs waiting (critical): the consumer is down or the orchestrator is slow. ${runbook('handoff-backlog-and-dlq')}`,
    );
    this.above(
      'HandoffOldestMessage',
      props.handoffQueue.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      }),
      oldestMessageSeconds,
      `A hand-off has waited over ${oldestMessageSeconds} s in the queue. ${runbook('handoff-backlog-and-dlq')}`,
    );
    this.above(
      'HandoffDeadLetters',
      visible(props.handoffDeadLetterQueue),
      0,
      `A hand-off could not be recorded after every retry and is in the dead-letter queue. ${runbook('handoff-backlog-and-dlq')}`,
    );
    this.above(
      'ScheduleDeadLetters',
      visible(props.scheduleDeadLetterQueue),
      0,
      `EventBridge Scheduler could not invoke the reconciler or the watchdog. ${runbook('provisioning-stuck')}`,
    );
    this.above(
      'TriggerFailureSpike',
      productMetric('HandoffFailed', { statistic: 'Sum', period: Duration.minutes(15) }),
      5,
      `More than 5 hand-offs to the orchestrator failed in 15 minutes (transport down or misconfigured). ${runbook('provisioning-stuck')}`,
    );
    this.breakerOpen = this.alarm('OrchestratorBreakerOpen', {
      metric: productMetric('BreakerOpenSeconds', {
        statistic: 'Maximum',
        period: Duration.minutes(10),
      }),
      threshold: 15 * 60,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: `The breaker toward the orchestrator has been open for 15 minutes: triggers keep failing across jobs, re-drives are paused and customers are waiting. ${runbook('provisioning-stuck')} (section 4a: ops breaker)`,
    });
    this.above(
      'TriggerRefusedCredentials',
      productMetric('TriggerUnauthorized', { statistic: 'Sum', period: Duration.minutes(5) }),
      0,
      `The orchestrator answered 401/403 to a trigger: the trigger secret or URL is wrong, and every job it refuses is parked. ${runbook('provisioning-stuck')} (section 5a)`,
    );
    this.above(
      'TenantForCancelledJob',
      productMetric('CallbackForCancelledJob', { statistic: 'Sum', period: Duration.minutes(15) }),
      0,
      `The orchestrator reported a tenant for a job an operator had cancelled: the report is kept, not applied, and needs a decision (ops stuck lists it). ${runbook('provisioning-stuck')} (cancelled jobs)`,
    );
    this.above(
      'CallbackSignatureFailures',
      productMetric('CallbackSignatureRejected', {
        statistic: 'Sum',
        period: Duration.minutes(15),
      }),
      5,
      `More than 5 orchestrator callbacks refused for their signature in 15 minutes (a secret mismatch after a rotation?). ${runbook('callback-signature-failures')}`,
    );
    this.above(
      'StripeEventWrongMode',
      productMetric('StripeEventWrongMode', { statistic: 'Sum', period: Duration.minutes(5) }),
      0,
      `A Stripe event of the other mode (live or test) was refused and recorded in rejected_inputs: the webhook secret belongs to the other mode's endpoint, or the stack's stripeMode is wrong. Checkouts of this mode may not be arriving; Stripe retries refused events for 3 days. ${runbook('secret-rotation')}#a-stripe-event-of-the-other-mode-stripeeventwrongmode`,
    );
    this.above(
      'MissedCheckouts',
      productMetric('MissedCheckouts', { statistic: 'Sum', period: Duration.hours(1) }),
      0,
      `The sweep found a paid checkout in Stripe's records that no webhook or EventBridge event had recorded, and recorded it: that customer's tenant is on its way now, but Stripe's events are not reaching the product (endpoint disabled, secret rotated wrongly, wrong mode). Find out why before the next one. ${runbook('missed-checkouts')}`,
    );
    if (props.stripeEvents) {
      this.above(
        'StripeEventDeadLetters',
        visible(props.stripeEvents.deadLetterQueue),
        0,
        `A Stripe event delivered by Amazon EventBridge could not be processed after every retry (or could not reach the queue) and waits in the dead-letter queue: redrive it once the cause is fixed. ${runbook('missed-checkouts')}#eventbridge-dead-letters`,
      );
      this.above(
        'StripeEventOldestMessage',
        props.stripeEvents.queue.metricApproximateAgeOfOldestMessage({
          period: Duration.minutes(5),
          statistic: 'Maximum',
        }),
        oldestMessageSeconds,
        `A Stripe event from EventBridge has waited over ${oldestMessageSeconds} s for its consumer: checkouts are not being recorded. ${runbook('missed-checkouts')}#eventbridge-dead-letters`,
      );
    }
    for (const fn of props.functions) {
      const name = fn.node.id;
      this.above(
        `${name}Errors`,
        fn.fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        0,
        `The ${name} function failed. ${runbook('provisioning-stuck')}`,
      );
      this.above(
        `${name}Throttles`,
        fn.fn.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' }),
        0,
        `The ${name} function was throttled. ${runbook('handoff-backlog-and-dlq')}`,
      );
    }
  }

  /** An alarm on one period above a threshold; no data means nothing happened. */
  private above(id: string, metric: Metric, threshold: number, description: string): Alarm {
    return this.alarm(id, {
      metric,
      threshold,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });
  }

  private alarm(id: string, props: ConstructorParameters<typeof Alarm>[2]): Alarm {
    const alarm = new Alarm(this, id, props);
    alarm.addAlarmAction(new SnsAction(this.topic));
    alarm.addOkAction(new SnsAction(this.topic));
    this.all.push(alarm);
    return alarm;
  }
}
