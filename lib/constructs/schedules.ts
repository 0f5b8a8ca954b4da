import { Duration } from 'aws-cdk-lib';
import { Schedule, ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { RECONCILE_EVERY_MINUTES } from '../../functions/core/reconcile-timing.js';
import type { ProjectFunction } from './project-function.js';

export interface SchedulesProps {
  readonly reconciler: ProjectFunction;
  readonly watchdog: ProjectFunction;
  readonly reconcileEnabled: boolean;
  readonly watchdogEnabled: boolean;
  readonly sweep: ProjectFunction;
  readonly sweepEnabled: boolean;
  readonly sweepEveryMinutes: number;
}

/** Reconcile every 10 minutes (SPEC 1). */
export const RECONCILE_EXPRESSION = `rate(${RECONCILE_EVERY_MINUTES} minutes)`;
/** The watchdog at the top of every hour, as the seed's `0 * * * *`. */
export const WATCHDOG_EXPRESSION = 'cron(0 * * * ? *)';

/** The sweep every `minutes` (hourly by default). */
export function sweepExpression(minutes: number): string {
  return `rate(${minutes} minutes)`;
}

/**
 * EventBridge Scheduler (scheduled rules are the legacy form) for the reconciler, the
 * watchdog and the missed-checkout sweep, each retried, bounded in age, and dead-lettered when the invocation
 * cannot be delivered. Each function is safe when an invocation arrives twice or two
 * overlap (the sweep's pass has a lease), so retries are harmless.
 */
export class Schedules extends Construct {
  readonly deadLetterQueue: Queue;
  readonly reconcile: Schedule;
  readonly watchdog: Schedule;
  readonly sweep: Schedule;

  constructor(scope: Construct, id: string, props: SchedulesProps) {
    super(scope, id);
    this.deadLetterQueue = new Queue(this, 'FailedInvocations', {
      retentionPeriod: Duration.days(14),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    const target = (fn: ProjectFunction, maxEventAge: Duration) =>
      new LambdaInvoke(fn.fn, {
        retryAttempts: 3,
        maxEventAge,
        deadLetterQueue: this.deadLetterQueue,
      });
    this.reconcile = new Schedule(this, 'Reconcile', {
      description: 'Re-drive stale provisioning jobs and publish the STUCK gauge',
      schedule: ScheduleExpression.expression(RECONCILE_EXPRESSION),
      // An invocation older than one tick is superseded by the next tick.
      target: target(props.reconciler, Duration.minutes(10)),
      enabled: props.reconcileEnabled,
    });
    this.watchdog = new Schedule(this, 'Watchdog', {
      description: 'Notify admins of stalled organisation databases and capped jobs',
      schedule: ScheduleExpression.expression(WATCHDOG_EXPRESSION),
      target: target(props.watchdog, Duration.minutes(30)),
      enabled: props.watchdogEnabled,
    });
    this.sweep = new Schedule(this, 'Sweep', {
      description: 'Record paid Stripe checkouts that no webhook or EventBridge event recorded',
      schedule: ScheduleExpression.expression(sweepExpression(props.sweepEveryMinutes)),
      // The sweep resumes its pass: a late invocation is superseded by the next one.
      target: target(props.sweep, Duration.minutes(Math.min(props.sweepEveryMinutes, 60))),
      enabled: props.sweepEnabled,
    });
  }
}
