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
  type AlarmEntry,
  type AlarmKind,
  type AlarmTopic,
  alarmName,
  describeAlarm,
  PER_FUNCTION,
} from './alarm-catalogue.js';
import {
  type AlarmMetric,
  type AlarmSignal,
  type AlarmThresholds,
  thresholdOf,
} from './alarm-signal.js';
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
    for (const kind of Object.keys(ALARM_CATALOGUE) as AlarmKind[]) {
      const entry: AlarmEntry = ALARM_CATALOGUE[kind];
      if (PER_FUNCTION[kind] || (entry.only && !props.stripeEvents)) continue;
      this.raise(kind, this.metricOf(entry.signal));
    }
    for (const fn of props.functions) {
      for (const [kind, suffix] of Object.entries(PER_FUNCTION) as [AlarmKind, string][]) {
        const name = fn.node.id;
        this.raise(kind, this.metricOf(ALARM_CATALOGUE[kind].signal, fn), {
          name: `${name}${suffix}`,
          subject: `The ${name} function`,
        });
      }
    }
  }

  /** The topic a kind of alarm goes to. */
  topicFor(topic: AlarmTopic): Topic {
    return topic === 'page' ? this.pagingTopic : this.notifyTopic;
  }

  /** The metric a signal watches, for one function when it is a function's. */
  private metricOf(signal: AlarmSignal, fn?: ProjectFunction): IMetric {
    const { stage, routes } = this.props;
    const period = Duration.minutes(signal.periodMinutes);
    const measured = { period, statistic: signal.statistic };
    const source = signal.metric;
    if ('product' in source) return productMetric(stage, source.product, measured);
    if ('queue' in source) {
      const queue = this.queueOf(source.queue);
      return source.measure === 'visible'
        ? queue.metricApproximateNumberOfMessagesVisible(measured)
        : queue.metricApproximateAgeOfOldestMessage(measured);
    }
    if ('serverErrors' in source) {
      if (source.serverErrors === 'gateway') return this.props.api.metricServerError(measured);
      // Every route's 5xx, summed: the error mapper answers them, so Lambda never counts them.
      return new MathExpression({
        expression: routes.map((_, i) => `m${i}`).join(' + '),
        usingMetrics: Object.fromEntries(
          routes.map((route, i) => [`m${i}`, routeServerErrors(stage, route, period)]),
        ),
        period,
        label: '5xx answers, every route',
      });
    }
    if (!fn) throw new Error('a function’s alarm needs its function');
    return source.function === 'errors'
      ? fn.fn.metricErrors(measured)
      : fn.fn.metricThrottles(measured);
  }

  private queueOf(queue: Extract<AlarmMetric, { queue: unknown }>['queue']): IQueue {
    const { stripeEvents } = this.props;
    const queues: Record<typeof queue, IQueue | undefined> = {
      handoff: this.props.handoffQueue,
      handoffDeadLetter: this.props.handoffDeadLetterQueue,
      scheduleDeadLetter: this.props.scheduleDeadLetterQueue,
      stripeEvents: stripeEvents?.queue,
      stripeEventsDeadLetter: stripeEvents?.deadLetterQueue,
    };
    const found = queues[queue];
    if (!found) throw new Error(`the stack has no ${queue} queue`);
    return found;
  }

  /**
   * One alarm of the catalogue, as its signal says, no data meaning nothing happened
   * unless said otherwise; on its topic when it fires and when it clears.
   */
  private raise(
    kind: AlarmKind,
    metric: IMetric,
    /** The alarm's own name and what it is about, when a kind is raised more than once. */
    each: { readonly name?: string; readonly subject?: string } = {},
  ): Alarm {
    const entry: AlarmEntry = ALARM_CATALOGUE[kind];
    const { signal } = entry;
    const name = each.name ?? kind;
    const alarm = new Alarm(this, name, {
      alarmName: alarmName(this.props.stage, name),
      alarmDescription: describeAlarm(entry, {
        stackName: this.props.stackName,
        thresholds: this.props.thresholds,
        runbookBaseUrl: this.props.runbookBaseUrl,
        ...(each.subject ? { subject: each.subject } : {}),
      }),
      metric,
      threshold: thresholdOf(signal, this.props.thresholds),
      evaluationPeriods: signal.evaluationPeriods ?? 1,
      ...(signal.datapointsToAlarm ? { datapointsToAlarm: signal.datapointsToAlarm } : {}),
      comparisonOperator: COMPARISONS[signal.comparison ?? 'greaterThan'],
      treatMissingData: signal.missingDataBreaches
        ? TreatMissingData.BREACHING
        : TreatMissingData.NOT_BREACHING,
    });
    const action = new SnsAction(this.topicFor(entry.topic));
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    this.all.push(alarm);
    return alarm;
  }
}

const COMPARISONS: Record<NonNullable<AlarmSignal['comparison']>, ComparisonOperator> = {
  greaterThan: ComparisonOperator.GREATER_THAN_THRESHOLD,
  greaterThanOrEqual: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
  lessThan: ComparisonOperator.LESS_THAN_THRESHOLD,
};

function subscribe(
  topic: Topic,
  email: string | undefined,
  subscriptions: readonly ITopicSubscription[] = [],
): void {
  if (email) topic.addSubscription(new EmailSubscription(email));
  for (const subscription of subscriptions) topic.addSubscription(subscription);
}
