import { randomUUID } from 'node:crypto';
import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { type HandoffMessage, handoffMessage } from '../../functions/adapters/handoff-queue.js';
import { LocalFifoQueue } from '../../local/fifo-queue.js';

const VISIBILITY_SECONDS = 30;
const MAX_RECEIVES = 3;
const FIVE_MINUTES_MS = 5 * 60 * 1000;

/** A queue on a clock that only moves when the test says so. */
function queueOnManualClock() {
  let now = Date.parse('2025-03-01T12:00:00.000Z');
  const queue = new LocalFifoQueue({
    clock: () => new Date(now),
    visibilityTimeoutSeconds: VISIBILITY_SECONDS,
    maxReceiveCount: MAX_RECEIVES,
  });
  return {
    queue,
    advanceMs: (ms: number) => {
      now += ms;
    },
    /** Waits out the visibility timeout of everything received so far. */
    waitOutVisibility: () => {
      now += VISIBILITY_SECONDS * 1000;
    },
  };
}

function handoff(overrides: Partial<HandoffMessage> = {}): HandoffMessage {
  return {
    jobId: randomUUID(),
    attempt: 1,
    stripeSessionId: `cs_test_${randomUUID().slice(0, 8)}`,
    triggerPayload: { package: 'starter', tokens_quota: 1000 },
    ...overrides,
  };
}

const bodies = (event: SQSEvent): HandoffMessage[] =>
  event.Records.map((record) => handoffMessage.parse(JSON.parse(record.body)));
const attemptsOf = (event: SQSEvent) => bodies(event).map((m) => `${m.jobId}:${m.attempt}`);
const receiveCounts = (event: SQSEvent) =>
  event.Records.map((record) => record.attributes.ApproximateReceiveCount);

describe('local FIFO queue: deduplication window', () => {
  it('accepts and drops a second send of the same job attempt within five minutes', async () => {
    // Prepare
    const { queue, advanceMs } = queueOnManualClock();
    const message = handoff();
    await queue.send(message);
    advanceMs(FIVE_MINUTES_MS - 1);

    // Act
    const duplicate = queue.send({ ...message });

    // Assess
    await expect(duplicate).resolves.toBeUndefined();
    expect(queue.depth()).toEqual({ visible: 1, inFlight: 0, deadLetters: 0 });
    expect(attemptsOf(queue.receive())).toEqual([`${message.jobId}:1`]);
  });

  it('accepts the same job attempt again once five minutes have passed', async () => {
    // Prepare
    const { queue, advanceMs } = queueOnManualClock();
    const message = handoff();
    await queue.send(message);
    advanceMs(FIVE_MINUTES_MS);

    // Act
    await queue.send({ ...message });

    // Assess
    expect(queue.depth().visible).toBe(2);
  });

  it('never swallows a new attempt of the same job, even right after the previous one', async () => {
    // Prepare
    const { queue } = queueOnManualClock();
    const first = handoff({ attempt: 1 });
    await queue.send(first);

    // Act
    await queue.send({ ...first, attempt: 2 });

    // Assess
    expect(attemptsOf(queue.receive())).toEqual([`${first.jobId}:1`, `${first.jobId}:2`]);
  });

  it('keeps dropping a duplicate within the window even after the original was consumed', async () => {
    // Prepare
    const { queue, advanceMs } = queueOnManualClock();
    const message = handoff();
    await queue.send(message);
    const batch = queue.receive();
    queue.acknowledge(batch, { batchItemFailures: [] });
    advanceMs(60_000);

    // Act
    await queue.send({ ...message });

    // Assess
    expect(queue.depth()).toEqual({ visible: 0, inFlight: 0, deadLetters: 0 });
    expect(queue.receive().Records).toEqual([]);
  });
});

describe('local FIFO queue: message groups', () => {
  it('delivers the messages of one job in the order they were sent', async () => {
    // Prepare
    const { queue } = queueOnManualClock();
    const jobId = randomUUID();
    for (const attempt of [1, 2, 3]) await queue.send(handoff({ jobId, attempt }));

    // Act
    const batch = queue.receive();

    // Assess
    expect(attemptsOf(batch)).toEqual([`${jobId}:1`, `${jobId}:2`, `${jobId}:3`]);
    const sequence = batch.Records.map((r) => BigInt(r.attributes.SequenceNumber ?? ''));
    expect([...sequence].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(sequence);
  });

  it('holds back a job message while an earlier one of the same job is in flight, while other jobs proceed', async () => {
    // Prepare
    const { queue } = queueOnManualClock();
    const busy = randomUUID();
    const other = randomUUID();
    await queue.send(handoff({ jobId: busy, attempt: 1 }));
    const inFlight = queue.receive();
    await queue.send(handoff({ jobId: busy, attempt: 2 }));
    await queue.send(handoff({ jobId: other, attempt: 1 }));

    // Act
    const whileInFlight = queue.receive();
    queue.acknowledge(inFlight, undefined);
    const afterAcknowledge = queue.receive();

    // Assess
    expect(attemptsOf(whileInFlight)).toEqual([`${other}:1`]);
    expect(attemptsOf(afterAcknowledge)).toEqual([`${busy}:2`]);
  });

  it('redelivers a failed message before the later messages of its job', async () => {
    // Prepare
    const { queue, waitOutVisibility } = queueOnManualClock();
    const jobId = randomUUID();
    await queue.send(handoff({ jobId, attempt: 1 }));
    const first = queue.receive();
    queue.acknowledge(first, {
      batchItemFailures: first.Records.map((r) => ({ itemIdentifier: r.messageId })),
    });
    await queue.send(handoff({ jobId, attempt: 2 }));

    // Act
    const beforeTimeout = queue.receive();
    waitOutVisibility();
    const afterTimeout = queue.receive();

    // Assess
    expect(beforeTimeout.Records).toEqual([]);
    expect(attemptsOf(afterTimeout)).toEqual([`${jobId}:1`, `${jobId}:2`]);
    expect(receiveCounts(afterTimeout)).toEqual(['2', '1']);
  });
});

describe('local FIFO queue: visibility timeout', () => {
  it('hides a received, unacknowledged message until the visibility timeout has passed', async () => {
    // Prepare
    const { queue, advanceMs } = queueOnManualClock();
    await queue.send(handoff());
    const first = queue.receive();

    // Act
    advanceMs(VISIBILITY_SECONDS * 1000 - 1);
    const justBefore = queue.receive();
    const depthJustBefore = queue.depth();
    advanceMs(1);
    const atTimeout = queue.receive();

    // Assess
    expect(justBefore.Records).toEqual([]);
    expect(depthJustBefore).toEqual({ visible: 0, inFlight: 1, deadLetters: 0 });
    expect(atTimeout.Records.map((r) => r.messageId)).toEqual(
      first.Records.map((r) => r.messageId),
    );
    expect(receiveCounts(first)).toEqual(['1']);
    expect(receiveCounts(atTimeout)).toEqual(['2']);
  });

  it('gives every receive of a message a new receipt handle', async () => {
    // Prepare
    const { queue, waitOutVisibility } = queueOnManualClock();
    await queue.send(handoff());
    const first = queue.receive();
    waitOutVisibility();

    // Act
    const second = queue.receive();

    // Assess
    expect(second.Records[0]?.receiptHandle).toBeTruthy();
    expect(second.Records[0]?.receiptHandle).not.toBe(first.Records[0]?.receiptHandle);
  });
});

describe('local FIFO queue: acknowledging a batch', () => {
  it('deletes every message of the batch but the reported batchItemFailures', async () => {
    // Prepare
    const { queue, waitOutVisibility } = queueOnManualClock();
    for (let i = 0; i < 3; i += 1) await queue.send(handoff());
    const batch = queue.receive();
    const failed = batch.Records[1];
    if (!failed) throw new Error('expected three records');

    // Act
    queue.acknowledge(batch, { batchItemFailures: [{ itemIdentifier: failed.messageId }] });

    // Assess
    expect(queue.depth()).toEqual({ visible: 0, inFlight: 1, deadLetters: 0 });
    waitOutVisibility();
    const redelivered = queue.receive();
    expect(redelivered.Records.map((r) => r.messageId)).toEqual([failed.messageId]);
    expect(receiveCounts(redelivered)).toEqual(['2']);
  });

  it('deletes the whole batch when the consumer reports no failures (a void answer)', async () => {
    // Prepare
    const { queue, waitOutVisibility } = queueOnManualClock();
    for (let i = 0; i < 2; i += 1) await queue.send(handoff());
    const batch = queue.receive();

    // Act
    queue.acknowledge(batch, undefined);

    // Assess
    waitOutVisibility();
    expect(queue.receive().Records).toEqual([]);
    expect(queue.depth()).toEqual({ visible: 0, inFlight: 0, deadLetters: 0 });
  });
});

describe('local FIFO queue: dead-letter queue', () => {
  it('moves a message to the dead letters after maxReceiveCount receives, and its job proceeds', async () => {
    // Prepare
    const { queue, waitOutVisibility } = queueOnManualClock();
    const jobId = randomUUID();
    const poisoned = handoff({ jobId, attempt: 1 });
    await queue.send(poisoned);
    const receives: SQSEvent[] = [];
    for (let i = 0; i < MAX_RECEIVES; i += 1) {
      const batch = queue.receive();
      receives.push(batch);
      queue.acknowledge(batch, {
        batchItemFailures: batch.Records.map((r) => ({ itemIdentifier: r.messageId })),
      });
      if (i < MAX_RECEIVES - 1) waitOutVisibility();
    }
    // The re-drive of the job arrives while its poisoned attempt is still in flight.
    await queue.send(handoff({ jobId, attempt: 2 }));
    waitOutVisibility();

    // Act
    const afterExhaustion = queue.receive();

    // Assess
    expect(receives.map((batch) => receiveCounts(batch)[0])).toEqual(['1', '2', '3']);
    expect(queue.depth().deadLetters).toBe(1);
    expect(handoffMessage.parse(JSON.parse(queue.deadLetters[0]?.body ?? ''))).toEqual(poisoned);
    expect(attemptsOf(afterExhaustion)).toEqual([`${jobId}:2`]);
  });

  it('keeps a message that was received fewer than maxReceiveCount times', async () => {
    // Prepare
    const { queue, waitOutVisibility } = queueOnManualClock();
    await queue.send(handoff());
    for (let i = 0; i < MAX_RECEIVES - 1; i += 1) {
      queue.receive();
      waitOutVisibility();
    }

    // Act
    const batch = queue.receive();

    // Assess
    expect(receiveCounts(batch)).toEqual([String(MAX_RECEIVES)]);
    expect(queue.depth().deadLetters).toBe(0);
  });
});

describe('local FIFO queue: batches', () => {
  it('delivers at most ten messages per batch, the rest in the next one', async () => {
    // Prepare
    const { queue } = queueOnManualClock();
    const sent: HandoffMessage[] = [];
    for (let i = 0; i < 12; i += 1) {
      const message = handoff();
      sent.push(message);
      await queue.send(message);
    }

    // Act
    const first = queue.receive();
    const second = queue.receive();

    // Assess
    expect(first.Records).toHaveLength(10);
    expect(second.Records).toHaveLength(2);
    expect([...bodies(first), ...bodies(second)]).toEqual(sent);
  });
});

describe('local FIFO queue: SQS event shape', () => {
  it('gives each record what the hand-off handler and the FIFO processor read', async () => {
    // Prepare
    const { queue } = queueOnManualClock();
    const message = handoff({ attempt: 2 });
    await queue.send(message);
    await queue.send(handoff());

    // Act
    const { Records } = queue.receive();

    // Assess
    const [record, next] = Records;
    if (!record || !next) throw new Error('expected two records');
    expect(handoffMessage.parse(JSON.parse(record.body))).toEqual(message);
    expect(record).toMatchObject({
      eventSource: 'aws:sqs',
      eventSourceARN: expect.stringMatching(/^arn:aws:sqs:.+\.fifo$/),
      attributes: {
        MessageGroupId: message.jobId,
        MessageDeduplicationId: `${message.jobId}:2`,
        ApproximateReceiveCount: '1',
        SequenceNumber: expect.stringMatching(/^\d+$/),
      },
    });
    expect(record.messageId).toBeTruthy();
    expect(record.receiptHandle).toBeTruthy();
    expect(next.messageId).not.toBe(record.messageId);
    expect(BigInt(next.attributes.SequenceNumber ?? '0')).toBeGreaterThan(
      BigInt(record.attributes.SequenceNumber ?? ''),
    );
  });

  it("feeds Powertools' FIFO processor: a failing job returns only its own messages to the queue", async () => {
    // Prepare
    const { queue, waitOutVisibility } = queueOnManualClock();
    const failing = randomUUID();
    const healthy = randomUUID();
    await queue.send(handoff({ jobId: failing, attempt: 1 }));
    await queue.send(handoff({ jobId: healthy, attempt: 1 }));
    await queue.send(handoff({ jobId: failing, attempt: 2 }));
    const batch = queue.receive();
    const handled: string[] = [];
    const handle = async (record: SQSRecord) => {
      const body = handoffMessage.parse(JSON.parse(record.body));
      if (body.jobId === failing) throw new Error('orchestrator unavailable');
      handled.push(`${body.jobId}:${body.attempt}`);
    };

    // Act
    const response = await processPartialResponse(
      batch,
      handle,
      new SqsFifoPartialProcessorAsync(),
      { skipGroupOnError: true },
    );
    queue.acknowledge(batch, response);

    // Assess
    expect(handled).toEqual([`${healthy}:1`]);
    expect(queue.depth()).toEqual({ visible: 0, inFlight: 2, deadLetters: 0 });
    waitOutVisibility();
    expect(attemptsOf(queue.receive())).toEqual([`${failing}:1`, `${failing}:2`]);
  });
});

describe('a consumer waiting on the local queue', () => {
  /** Whether the promise has settled once pending timers and I/O callbacks have run. */
  async function settled(promise: Promise<void>): Promise<boolean> {
    let done = false;
    void promise.then(() => {
      done = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    return done;
  }

  it('sleeps while the queue is empty and wakes as soon as a message is sent, without polling', async () => {
    const { queue } = queueOnManualClock();

    const waiting = queue.whenReceivable();
    const beforeSend = await settled(waiting);
    await queue.send(handoff());

    expect(beforeSend).toBe(false);
    expect(await settled(waiting)).toBe(true);
    expect(queue.receive().Records).toHaveLength(1);
  });

  it('wakes when the message in flight ahead of its group is deleted, so the next one is delivered', async () => {
    const { queue } = queueOnManualClock();
    const jobId = randomUUID();
    await queue.send(handoff({ jobId, attempt: 1 }));
    const first = queue.receive();
    await queue.send(handoff({ jobId, attempt: 2 }));
    // The send's own wake has come and gone: attempt 2 waits behind attempt 1.
    await settled(Promise.resolve());

    const waiting = queue.whenReceivable();
    const whileInFlight = await settled(waiting);
    queue.acknowledge(first, { batchItemFailures: [] });

    expect(whileInFlight).toBe(false);
    expect(await settled(waiting)).toBe(true);
    expect(attemptsOf(queue.receive())).toEqual([`${jobId}:2`]);
  });

  it('wakes when a message in flight comes back after its visibility timeout', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { queue, waitOutVisibility } = queueOnManualClock();
      await queue.send(handoff());
      await vi.advanceTimersByTimeAsync(0);
      queue.receive();

      const waiting = queue.whenReceivable();
      await vi.advanceTimersByTimeAsync(VISIBILITY_SECONDS * 1000 - 1);
      const early = await settled(waiting);
      waitOutVisibility();
      await vi.advanceTimersByTimeAsync(1);

      expect(early).toBe(false);
      expect(await settled(waiting)).toBe(true);
      expect(queue.receive().Records).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('lets a stopping runtime interrupt the wait', async () => {
    const { queue } = queueOnManualClock();

    const waiting = queue.whenReceivable();
    queue.interrupt();

    expect(await settled(waiting)).toBe(true);
  });
});
