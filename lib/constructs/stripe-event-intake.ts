import { Duration } from 'aws-cdk-lib';
import { EventBus, Rule } from 'aws-cdk-lib/aws-events';
import { SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { CHECKOUT_EVENT_TYPES } from '../../functions/core/checkout-decision.js';
import type { ProjectFunction } from './project-function.js';

export interface StripeEventIntakeProps {
  /** The partner event source Stripe created (`aws.partner/stripe.com/ed_…`). */
  readonly eventSourceName: string;
  /** Reads the queue: the same event handling as the webhook. */
  readonly consumer: ProjectFunction;
  /** Receives before a message moves to the dead-letter queue. */
  readonly maxReceiveCount: number;
}

/** Consumers at once: enough for Stripe's bursts, few enough to leave Aurora to the webhook. */
const MAX_CONCURRENCY = 2;

/**
 * Stripe's event destination on Amazon EventBridge (SPEC 2.4), the second intake:
 * the partner event bus associated with Stripe's event source (creating it is what
 * accepts the source in AWS), a rule for the checkout event types, and an SQS queue
 * with a dead-letter queue between the rule and the consumer, so an event waits while
 * Aurora resumes or the consumer fails instead of being lost. Events the rule cannot
 * deliver to the queue land in the same dead-letter queue.
 */
export class StripeEventIntake extends Construct {
  readonly bus: EventBus;
  readonly rule: Rule;
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: StripeEventIntakeProps) {
    super(scope, id);
    this.bus = new EventBus(this, 'PartnerBus', { eventSourceName: props.eventSourceName });
    this.deadLetterQueue = new Queue(this, 'DeadLetters', {
      retentionPeriod: Duration.days(14),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    const consumerTimeout = props.consumer.fn.timeout ?? Duration.seconds(3);
    this.queue = new Queue(this, 'Queue', {
      // Six times the consumer's timeout, as AWS advises for an event source.
      visibilityTimeout: Duration.seconds(consumerTimeout.toSeconds() * 6),
      retentionPeriod: Duration.days(4),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    });
    this.rule = new Rule(this, 'CheckoutEvents', {
      description: 'Stripe checkout events from the event destination, to the intake queue',
      eventBus: this.bus,
      eventPattern: {
        source: [props.eventSourceName],
        detailType: Object.keys(CHECKOUT_EVENT_TYPES),
      },
      targets: [
        new SqsQueue(this.queue, {
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts: 185,
          maxEventAge: Duration.hours(24),
        }),
      ],
    });
    props.consumer.fn.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: 10,
        reportBatchItemFailures: true,
        maxConcurrency: MAX_CONCURRENCY,
      }),
    );
  }
}
