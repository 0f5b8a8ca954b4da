import { Duration } from 'aws-cdk-lib';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import {
  DeduplicationScope,
  FifoThroughputLimit,
  Queue,
  QueueEncryption,
} from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { HANDOFF_BATCH_SIZE } from '../../functions/core/handoff-timing.js';
import type { ProjectFunction } from './project-function.js';

export interface HandoffQueueProps {
  /** The consumer: its timeout sets the queue's visibility timeout (six times it, as AWS advises). */
  readonly consumer: ProjectFunction;
  /** Receives before a message moves to the dead-letter queue. */
  readonly maxReceiveCount: number;
  /** At most this many consumer instances at once: protects the orchestrator. */
  readonly maxConcurrency: number;
}

/**
 * The SQS FIFO hand-off queue and its FIFO dead-letter queue. Dedup ids are explicit
 * (job and attempt), never content-based, so a re-drive of the same payload is a new
 * message; message groups are per job, so one tenant never blocks another.
 */
export class HandoffQueue extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  /** Six times the consumer's timeout: how long a received message stays hidden. */
  readonly visibilityTimeout: Duration;

  constructor(scope: Construct, id: string, props: HandoffQueueProps) {
    super(scope, id);
    if (props.maxConcurrency < 2 || props.maxConcurrency > 1000) {
      throw new Error(
        `HandoffQueue maxConcurrency must be between 2 and 1000 (SQS event source limit), got ${props.maxConcurrency}`,
      );
    }
    if (props.maxReceiveCount < 1)
      throw new Error('HandoffQueue maxReceiveCount must be at least 1');
    const consumerTimeout = props.consumer.fn.timeout ?? Duration.seconds(3);
    this.visibilityTimeout = Duration.seconds(consumerTimeout.toSeconds() * 6);
    this.deadLetterQueue = new Queue(this, 'DeadLetters', {
      fifo: true,
      contentBasedDeduplication: false,
      retentionPeriod: Duration.days(14),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.queue = new Queue(this, 'Queue', {
      fifo: true,
      contentBasedDeduplication: false,
      deduplicationScope: DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      visibilityTimeout: this.visibilityTimeout,
      retentionPeriod: Duration.days(4),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    });
    props.consumer.fn.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: HANDOFF_BATCH_SIZE,
        reportBatchItemFailures: true,
        maxConcurrency: props.maxConcurrency,
      }),
    );
  }
}
