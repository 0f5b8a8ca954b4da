import { randomUUID } from 'node:crypto';
import { FullBatchFailureError } from '@aws-lambda-powertools/batch';
import { ForbiddenException } from '@aws-sdk/client-rds-data';
import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createStripeEventBridgeHandler } from '../../functions/handlers/stripe-eventbridge.js';
import { eventBridgeDelivery } from '../../local/eventbridge-delivery.js';
import { LocalFifoQueue } from '../../local/fifo-queue.js';
import { CALLBACK_URL, lambdaContext } from '../support/handler-harness.js';
import {
  freshEvent,
  freshThinEvent,
  paidCheckoutFile,
  type SnapshotEvent,
  sessionOf,
} from '../support/stripe-fixtures.js';
import { stripeWebhookSuite } from '../support/stripe-webhook-harness.js';

/**
 * Stripe's event destination on Amazon EventBridge, the second intake (SPEC 2.4):
 * events in the exact shape EventBridge puts them on the queue (the envelope, the
 * Stripe event under `detail`), handled as the webhook handles them and deduplicated
 * by event id across both intakes.
 */

const SECRET = 'whsec_eventbridge_suite';
const SOURCE = 'aws.partner/stripe.com/ed_test_61SuiteDestination';
const QUEUE_ARN = 'arn:aws:sqs:us-east-1:123456789012:provisioning-stripe-events';
const w = stripeWebhookSuite({ secret: SECRET, stripeMode: 'test' });

function consumer() {
  return createStripeEventBridgeHandler({
    ...w.h.deps,
    queue: w.h.queue,
    callbackUrl: CALLBACK_URL,
    stripeMode: 'test',
  });
}

/** An SQS record as the rule's SQS target delivers an EventBridge event. */
function sqsRecord(event: object, receiveCount = 1, messageId: string = randomUUID()): SQSRecord {
  return {
    messageId,
    receiptHandle: `handle-${messageId}`,
    body: JSON.stringify(event),
    attributes: {
      ApproximateReceiveCount: String(receiveCount),
      SentTimestamp: String(Date.now()),
      SenderId: 'AIDAEVENTBRIDGE',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: QUEUE_ARN,
    awsRegion: 'us-east-1',
  };
}

/**
 * One invocation, as Lambda's SQS poller makes it: what returns to the queue. When every
 * message fails the handler throws (the function's error alarm sees it) and SQS takes
 * the whole batch back.
 */
async function deliver(records: SQSRecord[]): Promise<SQSBatchResponse> {
  try {
    return (await consumer()({ Records: records }, lambdaContext())) as SQSBatchResponse;
  } catch (error) {
    if (!(error instanceof FullBatchFailureError)) throw error;
    return { batchItemFailures: records.map((r) => ({ itemIdentifier: r.messageId })) };
  }
}

const paid = (changes: Parameters<typeof freshEvent>[2] = {}): SnapshotEvent =>
  freshEvent(paidCheckoutFile('2026-07-29.dahlia'), w.h.now(), changes);

async function recordedBy(sessionId: string): Promise<string[]> {
  const { rows } = await w.h.db.pool.query(
    `SELECT e.actor FROM provisioning_job_events e JOIN provisioning_jobs j ON j.id = e.job_id
     WHERE j.stripe_session_id = $1 AND e.kind = 'recorded'`,
    [sessionId],
  );
  return rows.map((row) => row.actor);
}

describe('the Stripe EventBridge intake', () => {
  it('records a paid checkout delivered under `detail`, once, and hands it off', async () => {
    const event = paid();

    const answer = await deliver([sqsRecord(eventBridgeDelivery(event, { source: SOURCE }))]);

    expect(answer).toEqual({ batchItemFailures: [] });
    expect(await recordedBy(sessionOf(event))).toEqual(['stripe-eventbridge']);
    expect(await w.writesFor(sessionOf(event), event.id)).toMatchObject({
      jobs: 1,
      processedEvents: 1,
      sends: 1,
    });
    expect(w.h.telemetry.counters.get('CheckoutRecordedByEventBridge')).toBe(1);
  });

  it('classifies as the webhook does: another product’s session, setup mode and an unpaid one make no job', async () => {
    const notOurs = paid({ session: { metadata: {} } });
    const setup = paid({ session: { mode: 'setup', payment_status: 'no_payment_required' } });
    const unpaid = paid({ session: { payment_status: 'unpaid' } });
    const thin = freshThinEvent('stripe-node/v2.core.event_destination.ping.json');

    const answer = await deliver(
      [notOurs, setup, unpaid, thin].map((event) =>
        sqsRecord(eventBridgeDelivery(event as SnapshotEvent, { source: SOURCE })),
      ),
    );

    expect(answer).toEqual({ batchItemFailures: [] });
    for (const event of [notOurs, setup, unpaid]) {
      expect((await w.writesFor(sessionOf(event), event.id)).jobs).toBe(0);
    }
    expect((await w.accountOf(sessionOf(unpaid)))?.status).toBe('awaiting_payment');
  });

  it('deduplicates by Stripe event id across both intakes, whichever arrives first', async () => {
    const viaWebhookFirst = paid();
    const viaEventBridgeFirst = paid();

    const webhookFirst = await w.send(viaWebhookFirst);
    const thenBus = await deliver([sqsRecord(eventBridgeDelivery(viaWebhookFirst))]);
    const busFirst = await deliver([sqsRecord(eventBridgeDelivery(viaEventBridgeFirst))]);
    const thenWebhook = await w.send(viaEventBridgeFirst);

    expect(webhookFirst.body.outcome).toBe('recorded');
    expect(thenBus).toEqual({ batchItemFailures: [] });
    expect(busFirst).toEqual({ batchItemFailures: [] });
    expect(thenWebhook.body.outcome).toBe('duplicate');
    expect(await recordedBy(sessionOf(viaWebhookFirst))).toEqual(['stripe']);
    expect(await recordedBy(sessionOf(viaEventBridgeFirst))).toEqual(['stripe-eventbridge']);
    for (const event of [viaWebhookFirst, viaEventBridgeFirst]) {
      expect(await w.writesFor(sessionOf(event), event.id)).toMatchObject({
        jobs: 1,
        processedEvents: 1,
        sends: 1,
      });
    }
  });

  it('makes one job when the same event comes through both intakes at once, and twice on the bus', async () => {
    const event = paid();
    const delivery = eventBridgeDelivery(event);

    await Promise.all([
      w.send(event),
      deliver([sqsRecord(delivery)]),
      deliver([sqsRecord(delivery, 1)]),
    ]);

    expect(await w.writesFor(sessionOf(event), event.id)).toMatchObject({
      jobs: 1,
      processedEvents: 1,
      sends: 1,
    });
  });

  it('records an event of the other Stripe mode once, and fails it on every receive, toward the dead-letter queue', async () => {
    const live = paid({ event: { livemode: true } });
    const delivery = eventBridgeDelivery(live);

    const first = await deliver([sqsRecord(delivery, 1, 'msg-live')]);
    const again = await deliver([sqsRecord(delivery, 2, 'msg-live')]);

    expect(first).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-live' }] });
    expect(again).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-live' }] });
    expect(await w.rejectionsOf(live.id)).toEqual([
      {
        source: 'stripe_eventbridge',
        reason: 'livemode: true, but this deployment serves Stripe test mode',
      },
    ]);
    expect((await w.writesFor(sessionOf(live), live.id)).jobs).toBe(0);
    expect(w.h.telemetry.counters.get('StripeEventWrongMode')).toBe(1);
  });

  it('returns a message to the queue while Aurora resumes past its budget, and records it on a later receive', async () => {
    const event = paid();
    const delivery = eventBridgeDelivery(event);
    // Longer than the executor's retry budget (2 s in tests; 60 s in AWS).
    const resumedAt = Date.now() + 3_000;
    w.h.bridge.resumeFor(3_000);

    const during = await deliver([sqsRecord(delivery, 1, 'msg-resume')]);
    await new Promise((resolve) => setTimeout(resolve, resumedAt - Date.now() + 50));
    const after = await deliver([sqsRecord(delivery, 2, 'msg-resume')]);

    expect(during).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-resume' }] });
    expect(after).toEqual({ batchItemFailures: [] });
    expect(await recordedBy(sessionOf(event))).toEqual(['stripe-eventbridge']);
  });

  it('fails only the message whose work could not be recorded; the others of the batch are done', async () => {
    const events = [paid(), paid()];
    w.h.bridge.failNext(databaseRefuses(), 1);

    const answer = await deliver(
      events.map((event, i) => sqsRecord(eventBridgeDelivery(event), 1, `msg-${i}`)),
    );

    expect(answer.batchItemFailures).toHaveLength(1);
    const failed = Number(answer.batchItemFailures[0]?.itemIdentifier.slice(4));
    for (const [i, event] of events.entries()) {
      expect((await w.writesFor(sessionOf(event), event.id)).jobs).toBe(i === failed ? 0 : 1);
    }
  });

  it('keeps an event that failed on every receive in the dead-letter queue, and records it once redriven', async () => {
    const event = paid();
    const queue = new LocalFifoQueue({
      clock: w.h.now,
      visibilityTimeoutSeconds: 720,
      maxReceiveCount: 3,
      queueArn: QUEUE_ARN,
    });
    const delivery = eventBridgeDelivery(event);
    queue.sendMessage({
      body: JSON.stringify(delivery),
      groupId: delivery.id,
      dedupId: delivery.id,
    });
    const pollOnce = async () => {
      const batch = queue.receive();
      if (batch.Records.length > 0) queue.acknowledge(batch, await deliver(batch.Records));
    };
    w.h.bridge.failNext(databaseRefuses(), 3);

    for (let receive = 1; receive <= 3; receive += 1) {
      await pollOnce();
      w.h.advance(721);
    }
    await pollOnce();

    expect(queue.deadLetters).toHaveLength(1);
    expect(queue.depth()).toMatchObject({ visible: 0, inFlight: 0, deadLetters: 1 });
    expect((await w.writesFor(sessionOf(event), event.id)).jobs).toBe(0);

    // The database is back; the operator redrives the dead letter onto the queue.
    const [dead] = queue.deadLetters.splice(0);
    queue.sendMessage({
      body: String(dead?.body),
      groupId: delivery.id,
      dedupId: `${delivery.id}:redrive`,
    });
    await pollOnce();

    expect(await recordedBy(sessionOf(event))).toEqual(['stripe-eventbridge']);
  });

  it('records and drops a message that is not an EventBridge event: it can never succeed', async () => {
    const answer = await deliver([
      { ...sqsRecord({}), messageId: 'msg-garbage', body: '{"detail-type":' },
    ]);

    expect(answer).toEqual({ batchItemFailures: [] });
    expect(await w.rejectionsOf('msg-garbage')).toEqual([
      { source: 'stripe_eventbridge', reason: 'body: not JSON' },
    ]);
  });
});

/** The Data API refuses the call outright (a permission or secret problem): nothing ran. */
function databaseRefuses(): ForbiddenException {
  return new ForbiddenException({ message: 'Access denied to the Data API', $metadata: {} });
}
