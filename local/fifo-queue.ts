import { randomUUID } from 'node:crypto';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { Clock } from '../functions/adapters/clock.js';
import {
  deduplicationId,
  type HandoffMessage,
  type HandoffQueue,
} from '../functions/adapters/handoff-queue.js';
import { HANDOFF_BATCH_SIZE } from '../functions/core/handoff-timing.js';

export interface LocalFifoQueueOptions {
  readonly clock: Clock;
  /** How long a received message stays hidden before it is delivered again (SQS: VisibilityTimeout). */
  readonly visibilityTimeoutSeconds: number;
  /** Receives after which a message moves to the dead-letter queue (SQS: maxReceiveCount). */
  readonly maxReceiveCount: number;
  readonly queueArn?: string;
}

interface StoredMessage {
  readonly messageId: string;
  readonly groupId: string;
  readonly dedupId: string;
  readonly body: string;
  readonly sentAt: number;
  readonly sequenceNumber: string;
  receiveCount: number;
  /** Epoch ms until which the message is in flight (hidden); 0 when visible. */
  invisibleUntil: number;
  receiptHandle: string | undefined;
}

/** SQS FIFO's deduplication window. */
const DEDUP_WINDOW_MS = 5 * 60 * 1000;

/**
 * An in-memory queue with SQS FIFO's semantics, for the local runtime: a duplicate
 * dedup id within five minutes is accepted and dropped, messages of one group are
 * delivered in order and never while an earlier one of the group is in flight, a
 * received message is hidden for the visibility timeout and comes back if not
 * deleted, and moves to the dead-letter queue after `maxReceiveCount` receives.
 * Messages live in memory only: after a restart the reconciler re-drives their jobs.
 * A consumer waits on `whenReceivable()`, which wakes it as a message arrives (or one in
 * flight comes back), as Lambda's poller would: no idle polling, no delay.
 */
export class LocalFifoQueue implements HandoffQueue {
  private readonly messages: StoredMessage[] = [];
  readonly deadLetters: StoredMessage[] = [];
  private readonly recentDedupIds = new Map<string, number>();
  private sequence = 0;
  private waiters: (() => void)[] = [];

  constructor(private readonly options: LocalFifoQueueOptions) {}

  async send(message: HandoffMessage): Promise<void> {
    this.sendMessage({
      body: JSON.stringify(message),
      groupId: message.jobId,
      dedupId: deduplicationId(message),
    });
  }

  /** SQS SendMessage: any body, in its group, dropped when its dedup id was seen in the window. */
  sendMessage(message: { body: string; groupId: string; dedupId: string }): void {
    const { body, groupId, dedupId } = message;
    const now = this.options.clock().getTime();
    for (const [id, at] of this.recentDedupIds)
      if (now - at >= DEDUP_WINDOW_MS) this.recentDedupIds.delete(id);
    if (this.recentDedupIds.has(dedupId)) return;
    this.recentDedupIds.set(dedupId, now);
    this.sequence += 1;
    this.messages.push({
      messageId: randomUUID(),
      groupId,
      dedupId,
      body,
      sentAt: now,
      sequenceNumber: String(this.sequence).padStart(20, '0'),
      receiveCount: 0,
      invisibleUntil: 0,
      receiptHandle: undefined,
    });
    // On the next turn of the event loop, as a separate Lambda would: the sender (the
    // webhook) answers first instead of running the consumer's first steps itself.
    setImmediate(() => this.wakeWaiters());
  }

  /**
   * Resolves once `receive()` may find something: a message is sent, one is deleted
   * (the next of its group is free), or the earliest in flight comes back when its
   * visibility timeout lapses; or `interrupt()` is called. It may resolve with nothing
   * to receive (a wake meant for an earlier wait): the consumer then waits again.
   */
  whenReceivable(): Promise<void> {
    return new Promise((resolve) => {
      const now = this.options.clock().getTime();
      const lapses = this.messages
        .map((m) => m.invisibleUntil)
        .filter((until) => until > now)
        .sort((a, b) => a - b);
      const lapse = lapses[0];
      const timer = lapse === undefined ? undefined : setTimeout(() => wake(), lapse - now);
      const wake = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((waiter) => waiter !== wake);
        resolve();
      };
      this.waiters.push(wake);
    });
  }

  /** Wakes every consumer waiting in `whenReceivable()` (to stop it, say). */
  interrupt(): void {
    this.wakeWaiters();
  }

  private wakeWaiters(): void {
    for (const wake of [...this.waiters]) wake();
  }

  /** Visible messages, in order, at most one run per group and none behind an in-flight one. */
  receive(): SQSEvent {
    const now = this.options.clock().getTime();
    this.moveExhaustedToDeadLetters(now);
    const blockedGroups = new Set(
      this.messages.filter((m) => m.invisibleUntil > now).map((m) => m.groupId),
    );
    const batch: StoredMessage[] = [];
    for (const message of this.messages) {
      if (batch.length >= HANDOFF_BATCH_SIZE) break;
      if (blockedGroups.has(message.groupId)) continue;
      message.receiveCount += 1;
      message.invisibleUntil = now + this.options.visibilityTimeoutSeconds * 1000;
      message.receiptHandle = randomUUID();
      batch.push(message);
    }
    return { Records: batch.map((message) => this.toRecord(message)) };
  }

  /** Deletes what the consumer processed: everything but its reported `batchItemFailures`. */
  acknowledge(event: SQSEvent, response: SQSBatchResponse | undefined): void {
    const failed = new Set(
      (response?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier),
    );
    for (const record of event.Records) {
      if (failed.has(record.messageId)) continue;
      const index = this.messages.findIndex((m) => m.receiptHandle === record.receiptHandle);
      if (index >= 0) this.messages.splice(index, 1);
    }
    this.wakeWaiters();
  }

  depth(): { visible: number; inFlight: number; deadLetters: number } {
    const now = this.options.clock().getTime();
    const inFlight = this.messages.filter((m) => m.invisibleUntil > now).length;
    return {
      visible: this.messages.length - inFlight,
      inFlight,
      deadLetters: this.deadLetters.length,
    };
  }

  private moveExhaustedToDeadLetters(now: number): void {
    for (let i = this.messages.length - 1; i >= 0; i -= 1) {
      const message = this.messages[i];
      if (!message || message.invisibleUntil > now) continue;
      if (message.receiveCount >= this.options.maxReceiveCount) {
        this.messages.splice(i, 1);
        this.deadLetters.push(message);
      }
    }
  }

  private toRecord(message: StoredMessage): SQSRecord {
    return {
      messageId: message.messageId,
      receiptHandle: message.receiptHandle ?? '',
      body: message.body,
      attributes: {
        ApproximateReceiveCount: String(message.receiveCount),
        SentTimestamp: String(message.sentAt),
        SenderId: 'local',
        ApproximateFirstReceiveTimestamp: String(message.sentAt),
        SequenceNumber: message.sequenceNumber,
        MessageGroupId: message.groupId,
        MessageDeduplicationId: message.dedupId,
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN:
        this.options.queueArn ?? 'arn:aws:sqs:local:000000000000:provisioning-handoff.fifo',
      awsRegion: 'local',
    };
  }
}
