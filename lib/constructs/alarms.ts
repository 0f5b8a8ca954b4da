import { Duration } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  type IMetric,
  MathExpression,
  Metric,
  type MetricProps,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { type ITopicSubscription, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  METRICS_NAMESPACE,
  type MetricName,
  ROUTE_DIMENSION,
  serviceNameFor,
} from '../../functions/adapters/telemetry.js';
import type { RouteName } from '../../functions/routes.js';
import {
  ALARM_CATALOGUE,
  type AlarmKind,
  type AlarmThresholds,
  type AlarmTopic,
  alarmName,
  describeAlarm,
} from './alarm-catalogue.js';
import type { ProjectFunction } from './project-function.js';

/**
 * A metric the functions of one stage publish: Powertools gives each the `service`
 * dimension, which carries the stage, so stages sharing an account never share one.
 */
export function productMetric(
  stage: string,
  metricName: MetricName,
  props: Partial<MetricProps> = {},
): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    ...props,
    dimensionsMap: { service: serviceNameFor(stage), ...props.dimensionsMap },
  });
}

/** The 5xx answers of one route (`HttpServerError`, dimension `route`). */
export function routeServerErrors(stage: string, route: RouteName, period: Duration): Metric {
  return productMetric(stage, 'HttpServerError', {
    statistic: 'Sum',
    period,
    dimensionsMap: { [ROUTE_DIMENSION]: route },
    label: route,
  });
}

export interface AlarmsProps {
  readonly stage: string;
  /** The stack the operator CLI is pointed at (`--stack`) in the descriptions' commands. */
  readonly stackName: string;
  readonly alarmEmail?: string | undefined;
  readonly notifyEmail?: string | undefined;
  readonly pagingSubscriptions?: readonly ITopicSubscription[] | undefined;
  readonly notifySubscriptions?: readonly ITopicSubscription[] | undefined;
  readonly runbookBaseUrl?: string | undefined;
  readonly handoffQueue: IQueue;
  readonly handoffDeadLetterQueue: IQueue;
  readonly scheduleDeadLetterQueue: IQueue;
  readonly api: HttpApi;
  readonly routes: readonly RouteName[];
  /** The EventBridge intake's queue and dead-letter queue, when the stack has one. */
  readonly stripeEvents?: { readonly queue: IQueue; readonly deadLetterQueue: IQueue } | undefined;
  readonly functions: readonly ProjectFunction[];
  readonly thresholds: AlarmThresholds;
}

/** Evaluated over a backlog that lasts (seed 002: "> 10 for 5 min"), not a one-minute spike. */
const LASTING = { period: Duration.minutes(1), evaluationPeriods: 5, datapointsToAlarm: 5 };
/** A fault that lasts: 2 of the last 3 five-minute periods, so one resume's 503s do not page. */
const RECURRING = { period: Duration.minutes(5), evaluationPeriods: 3, datapointsToAlarm: 2 };

/**
 * Everything that pages and everything that notifies, through two SNS topics, as the
 * catalogue (`alarm-catalogue.ts`) says: each alarm named `Provisioning-<stage>-<Name>`,
 * its description the meaning, the first commands and the runbook.
 */
export class Alarms extends Construct {
  readonly pagingTopic: Topic;
  readonly notifyTopic: Topic;
  readonly all: Alarm[] = [];
  private readonly props: AlarmsProps;

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    this.props = props;
    this.pagingTopic = new Topic(this, 'Page', {
      displayName: `Provisioning hand-off ${props.stage}: on-call page`,
      enforceSSL: true,
    });
    this.notifyTopic = new Topic(this, 'Notify', {
      displayName: `Provisioning hand-off ${props.stage}: working hours`,
      enforceSSL: true,
    });
    subscribe(this.pagingTopic, props.alarmEmail, props.pagingSubscriptions);
    subscribe(this.notifyTopic, props.notifyEmail ?? props.alarmEmail, props.notifySubscriptions);
    const metric = (name: MetricName, metricProps: Partial<MetricProps>) =>
      productMetric(props.stage, name, metricProps);
    const { backlogWarning, backlogCritical, oldestMessageSeconds } = props.thresholds;

    // The gauge arrives every 10 minutes; a 15-minute period always holds one, so a
    // late datapoint never leaves a period empty, and two periods make 30 minutes.
    this.raise('ProvisioningJobsStuck', {
      metric: metric('ProvisioningJobsStuck', {
        statistic: 'Minimum',
        period: Duration.minutes(15),
      }),
      threshold: 0,
      evaluationPeriods: 2,
    });
    this.raise('ProvisioningGaugeMissing', {
      metric: metric('ProvisioningJobsStuck', {
        statistic: 'SampleCount',
        period: Duration.minutes(30),
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: TreatMissingData.BREACHING,
    });
    const visible = (queue: IQueue, period: Duration) =>
      queue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' });
    this.raise('HandoffBacklogWarning', {
      metric: visible(props.handoffQueue, LASTING.period),
      threshold: backlogWarning,
      ...LASTING,
    });
    this.raise('HandoffBacklogCritical', {
      metric: visible(props.handoffQueue, LASTING.period),
      threshold: backlogCritical,
      ...LASTING,
    });
    this.raise('HandoffOldestMessage', {
      metric: props.handoffQueue.metricApproximateAgeOfOldestMessage({
        period: LASTING.period,
        statistic: 'Maximum',
      }),
      threshold: oldestMessageSeconds,
      ...LASTING,
    });
    this.raise('HandoffDeadLetters', {
      metric: visible(props.handoffDeadLetterQueue, Duration.minutes(5)),
      threshold: 0,
    });
    this.raise('ScheduleDeadLetters', {
      metric: visible(props.scheduleDeadLetterQueue, Duration.minutes(5)),
      threshold: 0,
    });
    this.raise('TriggerFailureSpike', {
      metric: metric('HandoffFailed', { statistic: 'Sum', period: Duration.minutes(15) }),
      threshold: 5,
    });
    this.raise('OrchestratorBreakerOpen', {
      metric: metric('BreakerOpenSeconds', { statistic: 'Maximum', period: Duration.minutes(10) }),
      threshold: 15 * 60,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    this.raise('TriggerRefusedCredentials', {
      metric: metric('TriggerUnauthorized', { statistic: 'Sum', period: Duration.minutes(5) }),
      threshold: 0,
    });
    this.raise('TenantForCancelledJob', {
      metric: metric('CallbackForCancelledJob', { statistic: 'Sum', period: Duration.minutes(15) }),
      threshold: 0,
    });
    this.raise('CallbackSignatureFailures', {
      metric: metric('CallbackSignatureRejected', {
        statistic: 'Sum',
        period: Duration.minutes(15),
      }),
      threshold: 5,
    });
    this.raise('StripeSignatureFailures', {
      metric: metric('StripeSignatureRejected', { statistic: 'Sum', period: Duration.minutes(15) }),
      threshold: 5,
    });
    this.raise('RefusedInputs', {
      metric: metric('InputRejected', { statistic: 'Sum', period: Duration.minutes(15) }),
      threshold: 0,
    });
    this.raise('StripeEventWrongMode', {
      metric: metric('StripeEventWrongMode', { statistic: 'Sum', period: Duration.minutes(5) }),
      threshold: 0,
    });
    this.raise('MissedCheckouts', {
      metric: metric('MissedCheckouts', { statistic: 'Sum', period: Duration.hours(1) }),
      threshold: 0,
    });
    if (props.stripeEvents) {
      this.raise('StripeEventDeadLetters', {
        metric: visible(props.stripeEvents.deadLetterQueue, Duration.minutes(5)),
        threshold: 0,
      });
      this.raise('StripeEventOldestMessage', {
        metric: props.stripeEvents.queue.metricApproximateAgeOfOldestMessage({
          period: LASTING.period,
          statistic: 'Maximum',
        }),
        threshold: oldestMessageSeconds,
        ...LASTING,
      });
    }
    // Every route's 5xx, summed: the error mapper answers them, so Lambda never counts them.
    this.raise('HttpServerErrors', {
      metric: new MathExpression({
        expression: props.routes.map((_, i) => `m${i}`).join(' + '),
        usingMetrics: Object.fromEntries(
          props.routes.map((route, i) => [
            `m${i}`,
            routeServerErrors(props.stage, route, RECURRING.period),
          ]),
        ),
        period: RECURRING.period,
        label: '5xx answers, every route',
      }),
      threshold: 0,
      ...RECURRING,
    });
    this.raise('ApiServerErrors', {
      metric: props.api.metricServerError({ statistic: 'Sum', period: RECURRING.period }),
      threshold: 0,
      ...RECURRING,
    });
    for (const fn of props.functions) {
      const name = fn.node.id;
      this.raise('FunctionErrors', {
        name: `${name}Errors`,
        subject: `The ${name} function`,
        metric: fn.fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 0,
      });
      this.raise('FunctionThrottles', {
        name: `${name}Throttles`,
        subject: `The ${name} function`,
        metric: fn.fn.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 0,
      });
    }
  }

  /** The topic a kind of alarm goes to. */
  topicFor(topic: AlarmTopic): Topic {
    return topic === 'page' ? this.pagingTopic : this.notifyTopic;
  }

  /**
   * One alarm of the catalogue: above its threshold for one period unless said
   * otherwise, no data meaning nothing happened; on its topic when it fires and when
   * it clears.
   */
  private raise(
    kind: AlarmKind,
    options: {
      readonly metric: IMetric;
      readonly threshold: number;
      readonly evaluationPeriods?: number;
      readonly datapointsToAlarm?: number;
      readonly comparisonOperator?: ComparisonOperator;
      readonly treatMissingData?: TreatMissingData;
      /** The alarm's own name, when a kind is raised more than once. */
      readonly name?: string;
      /** What it is about, when a kind is raised more than once. */
      readonly subject?: string;
    },
  ): Alarm {
    const entry = ALARM_CATALOGUE[kind];
    const name = options.name ?? kind;
    const alarm = new Alarm(this, name, {
      alarmName: alarmName(this.props.stage, name),
      alarmDescription: describeAlarm(entry, {
        stackName: this.props.stackName,
        thresholds: this.props.thresholds,
        runbookBaseUrl: this.props.runbookBaseUrl,
        ...(options.subject ? { subject: options.subject } : {}),
      }),
      metric: options.metric,
      threshold: options.threshold,
      evaluationPeriods: options.evaluationPeriods ?? 1,
      ...(options.datapointsToAlarm ? { datapointsToAlarm: options.datapointsToAlarm } : {}),
      comparisonOperator: options.comparisonOperator ?? ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: options.treatMissingData ?? TreatMissingData.NOT_BREACHING,
    });
    const action = new SnsAction(this.topicFor(entry.topic));
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    this.all.push(alarm);
    return alarm;
  }
}

function subscribe(
  topic: Topic,
  email: string | undefined,
  subscriptions: readonly ITopicSubscription[] = [],
): void {
  if (email) topic.addSubscription(new EmailSubscription(email));
  for (const subscription of subscriptions) topic.addSubscription(subscription);
}
