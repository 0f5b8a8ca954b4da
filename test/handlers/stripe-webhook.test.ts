import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import Stripe from 'stripe';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handoffMessage } from '../../functions/adapters/handoff-queue.js';
import { claimStaleJobs } from '../../functions/db/jobs/reconcile-claims.js';
import { CALLBACK_URL, type Harness } from '../support/handler-harness.js';
import { uniqueId } from '../support/signed-requests.js';
import { stripeWebhookSuite } from '../support/stripe-webhook-harness.js';

const SECRET = 'whsec_test_current_0123456789abcdef';
const PREVIOUS_SECRET = 'whsec_test_previous_fedcba9876543210';
const EMAIL = 'buyer@example.com';

const w = stripeWebhookSuite({ secret: SECRET, stripeMode: 'test' });
let h: Harness;

beforeAll(() => {
  h = w.h;
});
beforeEach(() => {
  h.setSecret('stripeWebhookSecrets', SECRET);
  h.sqs.reset();
  h.sqs.resolves({});
  h.eventBridge.reset();
  h.eventBridge.resolves({ FailedEntryCount: 0, Entries: [] });
  h.telemetry.counters.clear();
  h.log.entries.length = 0;
});

interface SessionOptions {
  readonly eventId?: string;
  readonly type?: string;
  readonly paymentStatus?: string;
  readonly packageSlug?: string | null;
}

/** A Stripe event as Stripe sends it for a Checkout Session (the fields we read, and some we do not). */
function checkoutEvent(sessionId: string, options: SessionOptions = {}) {
  const metadata =
    options.packageSlug === null ? {} : { package_slug: options.packageSlug ?? 'growth' };
  return {
    id: options.eventId ?? uniqueId('evt'),
    object: 'event',
    api_version: '2025-10-29.clover',
    created: Math.floor(h.now().getTime() / 1000),
    type: options.type ?? 'checkout.session.completed',
    livemode: false,
    data: {
      object: {
        id: sessionId,
        object: 'checkout.session',
        amount_total: 4900,
        currency: 'eur',
        customer: 'cus_test_1',
        customer_details: { email: EMAIL, name: 'Ada Buyer', address: { country: 'FR' } },
        customer_email: null,
        metadata,
        mode: 'payment',
        payment_status: options.paymentStatus ?? 'paid',
        status: 'complete',
      },
    },
  };
}

function signed(body: string, secret = SECRET, timestamp = Math.floor(h.now().getTime() / 1000)) {
  return Stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp });
}

const deliver = (body: string | undefined, signature: string | undefined, base64 = false) =>
  w.deliver(body, signature, base64);

/** Signs and delivers an event, as Stripe does. */
async function send(event: object) {
  const body = JSON.stringify(event);
  return deliver(body, signed(body));
}

async function count(sql: string, ...params: unknown[]): Promise<number> {
  const { rows } = await h.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n ${sql}`, params);
  return rows[0]?.n ?? 0;
}

async function jobOf(sessionId: string) {
  const { rows } = await h.db.pool.query(
    'SELECT * FROM provisioning_jobs WHERE stripe_session_id = $1',
    [sessionId],
  );
  return rows[0];
}

async function accountStatus(sessionId: string): Promise<string | undefined> {
  const { rows } = await h.db.pool.query<{ status: string }>(
    'SELECT status FROM customer_accounts WHERE stripe_session_id = $1',
    [sessionId],
  );
  return rows[0]?.status;
}

function sends() {
  return h.sqs.commandCalls(SendMessageCommand).map((call) => call.args[0].input);
}

/** Nothing at all written for this session or event. */
async function nothingWrittenFor(sessionId: string, eventId: string) {
  return {
    accounts: await count('FROM customer_accounts WHERE stripe_session_id = $1', sessionId),
    jobs: await count('FROM provisioning_jobs WHERE stripe_session_id = $1', sessionId),
    events: await count('FROM stripe_events WHERE id = $1', eventId),
    sends: sends().filter((message) => message.MessageBody?.includes(sessionId)).length,
  };
}
const NOTHING = { accounts: 0, jobs: 0, events: 0, sends: 0 };

describe('a settled checkout', () => {
  it('records one job and hands attempt 1 off to the queue, keyed by the job', async () => {
    const sessionId = uniqueId('cs_test');
    const event = checkoutEvent(sessionId);

    const response = await send(event);

    const job = await jobOf(sessionId);
    expect(response).toEqual({ statusCode: 200, body: { received: true, outcome: 'recorded' } });
    expect(job).toMatchObject({ status: 'enqueued', attempts: 1, package_slug: 'growth' });
    expect(job.trigger_payload).toMatchObject({
      job_id: job.id,
      stripe_session_id: sessionId,
      package_slug: 'growth',
      tokens_quota: 1_100_000,
      customer_email: EMAIL,
      callback_url: CALLBACK_URL,
    });
    const [message, ...more] = sends();
    expect(more).toEqual([]);
    expect(message?.MessageGroupId).toBe(job.id);
    expect(message?.MessageDeduplicationId).toBe(`${job.id}:1`);
    expect(handoffMessage.parse(JSON.parse(message?.MessageBody ?? '{}'))).toEqual({
      jobId: job.id,
      attempt: 1,
      stripeSessionId: sessionId,
      triggerPayload: job.trigger_payload,
    });
    expect(await count('FROM stripe_events WHERE id = $1', event.id)).toBe(1);
    expect(h.telemetry.counters.get('CheckoutRecorded')).toBe(1);
    expect(h.telemetry.counters.get('HandoffEnqueued')).toBe(1);
  });

  it('publishes job.recorded after the record, without personal data', async () => {
    const sessionId = uniqueId('cs_test');

    await send(checkoutEvent(sessionId));

    const job = await jobOf(sessionId);
    const entries = h.eventBridge
      .commandCalls(PutEventsCommand)
      .flatMap((call) => call.args[0].input.Entries ?? []);
    expect(entries).toHaveLength(1);
    expect(entries[0]?.DetailType).toBe('job.recorded');
    expect(JSON.parse(entries[0]?.Detail ?? '{}')).toEqual({
      job_id: job.id,
      stripe_session_id: sessionId,
      package_slug: 'growth',
      actor: 'stripe',
    });
  });

  it('still answers 200 when the lifecycle event cannot be published, and counts it', async () => {
    h.eventBridge.reset();
    h.eventBridge.rejects(new Error('EventBridge unavailable'));
    const sessionId = uniqueId('cs_test');

    const response = await send(checkoutEvent(sessionId));

    expect(response.statusCode).toBe(200);
    expect(await jobOf(sessionId)).toBeDefined();
    expect(sends()).toHaveLength(1);
    expect(h.telemetry.counters.get('LifecycleEventPublishFailed')).toBe(1);
  });

  it('provisions a checkout with nothing to pay like a paid one', async () => {
    const sessionId = uniqueId('cs_test');

    const response = await send(checkoutEvent(sessionId, { paymentStatus: 'no_payment_required' }));

    expect(response.body.outcome).toBe('recorded');
    expect(await jobOf(sessionId)).toMatchObject({ status: 'enqueued', attempts: 1 });
    expect(sends()).toHaveLength(1);
  });

  it('records a package missing from the catalogue with no payload and never hands it off', async () => {
    const unknown = uniqueId('cs_test');

    const response = await send(checkoutEvent(unknown, { packageSlug: 'platinum' }));

    expect(response.statusCode).toBe(200);
    expect(await jobOf(unknown)).toMatchObject({
      trigger_payload: null,
      last_error: 'unknown_package',
      attempts: 0,
      package_slug: 'platinum',
    });
    expect(sends()).toEqual([]);
  });

  it('ignores a session without a package as another product’s: no job, no account, no write', async () => {
    const missing = uniqueId('cs_test');
    const event = checkoutEvent(missing, { packageSlug: null });
    const callsBefore = h.bridge.calls.length;

    const response = await send(event);

    expect(response).toEqual({ statusCode: 200, body: { received: true, outcome: 'ignored' } });
    expect(h.bridge.calls.length).toBe(callsBefore);
    expect(await nothingWrittenFor(missing, event.id)).toEqual(NOTHING);
    expect(h.telemetry.counters.get('StripeSessionNotOurs')).toBe(1);
  });
});

describe('delayed payment methods', () => {
  it('waits on an unpaid checkout and provisions when the payment succeeds', async () => {
    const sessionId = uniqueId('cs_test');

    const completed = await send(checkoutEvent(sessionId, { paymentStatus: 'unpaid' }));
    const waiting = { account: await accountStatus(sessionId), job: await jobOf(sessionId) };
    const succeeded = await send(
      checkoutEvent(sessionId, { type: 'checkout.session.async_payment_succeeded' }),
    );

    expect(completed.body.outcome).toBe('awaiting_payment');
    expect(waiting).toEqual({ account: 'awaiting_payment', job: undefined });
    expect(succeeded.body.outcome).toBe('recorded');
    expect(await accountStatus(sessionId)).toBe('pending');
    expect(await jobOf(sessionId)).toMatchObject({ status: 'enqueued', attempts: 1 });
    expect(sends()).toHaveLength(1);
  });

  it('marks the waiting account failed when the payment fails, and records no job', async () => {
    const sessionId = uniqueId('cs_test');
    await send(checkoutEvent(sessionId, { paymentStatus: 'unpaid' }));

    const failed = await send(
      checkoutEvent(sessionId, {
        type: 'checkout.session.async_payment_failed',
        paymentStatus: 'unpaid',
      }),
    );

    expect(failed).toEqual({
      statusCode: 200,
      body: { received: true, outcome: 'payment_failed' },
    });
    expect(await accountStatus(sessionId)).toBe('failed');
    expect(await jobOf(sessionId)).toBeUndefined();
    expect(sends()).toEqual([]);
  });

  it('provisions exactly once when the success arrives before the completion', async () => {
    const sessionId = uniqueId('cs_test');

    await send(checkoutEvent(sessionId, { type: 'checkout.session.async_payment_succeeded' }));
    await send(checkoutEvent(sessionId, { paymentStatus: 'unpaid' }));
    await send(checkoutEvent(sessionId, { type: 'checkout.session.async_payment_succeeded' }));

    expect(await count('FROM provisioning_jobs WHERE stripe_session_id = $1', sessionId)).toBe(1);
    expect(await accountStatus(sessionId)).toBe('pending');
    expect(sends()).toHaveLength(1);
  });
});

describe('repeated deliveries', () => {
  it('answers a repeat of a processed event without any work, and counts it', async () => {
    const sessionId = uniqueId('cs_test');
    const event = checkoutEvent(sessionId);
    const body = JSON.stringify(event);
    await deliver(body, signed(body));
    const callsBefore = h.bridge.calls.length;

    const repeat = await deliver(body, signed(body));

    expect(repeat).toEqual({ statusCode: 200, body: { received: true, outcome: 'duplicate' } });
    // One statement: its check finds the event processed, and it writes nothing.
    expect(h.bridge.calls.slice(callsBefore).map((call) => call.command)).toEqual([
      'ExecuteStatementCommand',
    ]);
    expect(sends()).toHaveLength(1);
    expect(h.telemetry.counters.get('StripeEventDuplicate')).toBe(1);
  });

  it('gives one job and one queue message for 20 concurrent deliveries of one event', async () => {
    const sessionId = uniqueId('cs_test');
    const body = JSON.stringify(checkoutEvent(sessionId));

    const responses = await Promise.all(
      Array.from({ length: 20 }, () => deliver(body, signed(body))),
    );

    const job = await jobOf(sessionId);
    expect(responses.map((r) => r.statusCode)).toEqual(Array(20).fill(200));
    expect(await count('FROM provisioning_jobs WHERE stripe_session_id = $1', sessionId)).toBe(1);
    expect(await count('FROM customer_accounts WHERE stripe_session_id = $1', sessionId)).toBe(1);
    const messages = sends();
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      MessageGroupId: job.id,
      MessageDeduplicationId: `${job.id}:1`,
    });
    expect(h.telemetry.counters.get('CheckoutRecorded')).toBe(1);
  });

  it('gives one job when distinct events for one session race, and says which one recorded it', async () => {
    const sessionId = uniqueId('cs_test');
    const events = Array.from({ length: 10 }, (_, i) =>
      checkoutEvent(sessionId, {
        type: i % 2 ? 'checkout.session.completed' : 'checkout.session.async_payment_succeeded',
      }),
    );

    const answers = await Promise.all(events.map((event) => send(event)));

    expect(await count('FROM provisioning_jobs WHERE stripe_session_id = $1', sessionId)).toBe(1);
    expect(sends()).toHaveLength(1);
    expect(answers.map((answer) => answer.body.outcome).sort()).toEqual([
      ...Array(9).fill('duplicate'),
      'recorded',
    ]);
  });

  it('answers duplicate, 200, to a new event for a session already recorded, and sends nothing', async () => {
    const sessionId = uniqueId('cs_test');
    await send(checkoutEvent(sessionId));

    const resent = await send(checkoutEvent(sessionId));

    expect(resent).toEqual({ statusCode: 200, body: { received: true, outcome: 'duplicate' } });
    expect(await count('FROM provisioning_jobs WHERE stripe_session_id = $1', sessionId)).toBe(1);
    expect(sends().filter((message) => message.MessageBody?.includes(sessionId))).toHaveLength(1);
  });
});

describe('signatures', () => {
  it('refuses a missing signature with a 400 that names it, and writes nothing', async () => {
    const sessionId = uniqueId('cs_test');
    const event = checkoutEvent(sessionId);

    const response = await deliver(JSON.stringify(event), undefined);

    expect(response).toEqual({
      statusCode: 400,
      body: { error: 'missing Stripe-Signature header' },
    });
    expect(await nothingWrittenFor(sessionId, event.id)).toEqual(NOTHING);
    expect(h.telemetry.counters.get('StripeSignatureRejected')).toBe(1);
  });

  it('refuses a missing body', async () => {
    const response = await deliver(undefined, signed(''));

    expect(response).toEqual({ statusCode: 400, body: { error: 'missing body' } });
  });

  it('refuses an event signed with another secret', async () => {
    const sessionId = uniqueId('cs_test');
    const event = checkoutEvent(sessionId);
    const body = JSON.stringify(event);

    const response = await deliver(body, signed(body, 'whsec_attacker'));

    expect(response.statusCode).toBe(400);
    expect(response.body.error).toBe(
      'invalid Stripe-Signature: No signatures found matching the expected signature for payload',
    );
    expect(await nothingWrittenFor(sessionId, event.id)).toEqual(NOTHING);
  });

  it('refuses every malformed signature header with a 400 that names it, before Stripe’s library reads it', async () => {
    const sessionId = uniqueId('cs_test');
    const event = checkoutEvent(sessionId);
    const body = JSON.stringify(event);
    const valid = signed(body);
    const garbled = [
      'sha256=deadbeef',
      't=1,v1=',
      'v1=',
      `t=,${valid.split(',')[1]}`,
      `t=abc,${valid.split(',')[1]}`,
      `${valid.split(',')[0]},v1=${'g'.repeat(64)}`,
      `${valid},${valid}`,
      `${valid},v1=${'a'.repeat(63)}`,
      `${valid}\u0000`,
      `${valid},x=${'y'.repeat(1100)}`,
    ];

    const responses = await Promise.all(garbled.map((header) => deliver(body, header)));

    for (const response of responses) {
      expect(response.statusCode).toBe(400);
      expect(response.body.error).toMatch(/^invalid Stripe-Signature: /);
    }
    expect(await nothingWrittenFor(sessionId, event.id)).toEqual(NOTHING);
    expect(h.telemetry.counters.get('StripeSignatureRejected')).toBe(garbled.length);
  });

  it('refuses a signature older than Stripe’s 300 s tolerance and accepts one within it', async () => {
    const stale = checkoutEvent(uniqueId('cs_test'));
    const fresh = checkoutEvent(uniqueId('cs_test'));
    const now = Math.floor(h.now().getTime() / 1000);

    const expired = await deliver(
      JSON.stringify(stale),
      signed(JSON.stringify(stale), SECRET, now - 301),
    );
    const recent = await deliver(
      JSON.stringify(fresh),
      signed(JSON.stringify(fresh), SECRET, now - 299),
    );

    expect(expired).toEqual({
      statusCode: 400,
      body: { error: 'invalid Stripe-Signature: Timestamp outside the tolerance zone' },
    });
    expect(await nothingWrittenFor(stale.data.object.id, stale.id)).toEqual(NOTHING);
    expect(recent.statusCode).toBe(200);
  });

  it('refuses a signature made more than 300 s ahead of this clock, and accepts one within it', async () => {
    const ahead = checkoutEvent(uniqueId('cs_test'));
    const close = checkoutEvent(uniqueId('cs_test'));
    const now = Math.floor(h.now().getTime() / 1000);

    const future = await deliver(
      JSON.stringify(ahead),
      signed(JSON.stringify(ahead), SECRET, now + 10 * 365 * 86_400),
    );
    const skewed = await deliver(
      JSON.stringify(close),
      signed(JSON.stringify(close), SECRET, now + 299),
    );

    expect(future.statusCode).toBe(400);
    expect(future.body.error).toMatch(
      /^invalid Stripe-Signature: Timestamp outside the tolerance zone \(\d+ s ahead/,
    );
    expect(await nothingWrittenFor(ahead.data.object.id, ahead.id)).toEqual(NOTHING);
    expect(skewed.statusCode).toBe(200);
  });

  it('refuses a body changed by one byte after signing, and writes nothing', async () => {
    const sessionId = uniqueId('cs_test');
    const event = checkoutEvent(sessionId);
    const body = JSON.stringify(event);
    const signature = signed(body);
    const altered = body.replace('"amount_total":4900', '"amount_total":4901');

    const response = await deliver(altered, signature);

    expect(altered).not.toBe(body);
    expect(response.statusCode).toBe(400);
    expect(await nothingWrittenFor(sessionId, event.id)).toEqual(NOTHING);
  });

  it('accepts an event signed with either secret while the secret rotates', async () => {
    h.setSecret('stripeWebhookSecrets', `${SECRET},${PREVIOUS_SECRET}`);
    const byNew = checkoutEvent(uniqueId('cs_test'));
    const byOld = checkoutEvent(uniqueId('cs_test'));
    const expiredByOld = checkoutEvent(uniqueId('cs_test'));
    const now = Math.floor(h.now().getTime() / 1000);

    const responses = [
      await deliver(JSON.stringify(byNew), signed(JSON.stringify(byNew), SECRET)),
      await deliver(JSON.stringify(byOld), signed(JSON.stringify(byOld), PREVIOUS_SECRET)),
    ];
    const expired = await deliver(
      JSON.stringify(expiredByOld),
      signed(JSON.stringify(expiredByOld), PREVIOUS_SECRET, now - 600),
    );

    expect(responses.map((r) => r.body.outcome)).toEqual(['recorded', 'recorded']);
    expect(sends()).toHaveLength(2);
    expect(expired.body.error).toBe(
      'invalid Stripe-Signature: Timestamp outside the tolerance zone',
    );
  });

  it('verifies the exact bytes of a base64-encoded body', async () => {
    const sessionId = uniqueId('cs_test');
    // Non-ASCII bytes: a re-encoding anywhere between receipt and verification breaks the signature.
    const event = { ...checkoutEvent(sessionId), note: 'Zoë’s café' };
    const body = JSON.stringify(event);

    const response = await deliver(body, signed(body), true);

    expect(response.body.outcome).toBe('recorded');
    expect(await jobOf(sessionId)).toBeDefined();
  });

  it('answers 503 when no webhook secret is configured, so Stripe retries later', async () => {
    h.setSecret('stripeWebhookSecrets', undefined);
    const sessionId = uniqueId('cs_test');
    const event = checkoutEvent(sessionId);

    const response = await send(event);

    expect(response).toEqual({
      statusCode: 503,
      body: { error: 'the Stripe webhook secret is not configured' },
    });
    expect(await nothingWrittenFor(sessionId, event.id)).toEqual(NOTHING);
  });

  it('never writes a secret or the customer’s email to the logs', async () => {
    h.setSecret('stripeWebhookSecrets', `${SECRET} ${PREVIOUS_SECRET}`);
    const body = JSON.stringify(checkoutEvent(uniqueId('cs_test')));
    h.sqs.reset();
    h.sqs.rejects(new Error('SQS unavailable'));

    await deliver(body, signed(body));
    await deliver(body, signed(body, 'whsec_wrong'));
    await deliver(body, signed(body));
    await send(checkoutEvent(uniqueId('cs_test'), { paymentStatus: 'mystery' }));

    const logged = h.log.text();
    expect(logged).not.toContain(SECRET);
    expect(logged).not.toContain(PREVIOUS_SECRET);
    expect(logged).not.toContain(EMAIL);
    expect(logged).not.toContain('Ada Buyer');
  });
});

describe('other events', () => {
  it('answers 200 to types it does not handle, logs type and id only, and writes nothing', async () => {
    const callsBefore = h.bridge.calls.length;
    const expired = checkoutEvent(uniqueId('cs_test'), { type: 'checkout.session.expired' });
    const invoice = {
      id: uniqueId('evt'),
      object: 'event',
      type: 'invoice.paid',
      livemode: false,
      data: { object: {} },
    };

    const responses = [await send(expired), await send(invoice)];

    expect(responses).toEqual([
      { statusCode: 200, body: { received: true, outcome: 'ignored' } },
      { statusCode: 200, body: { received: true, outcome: 'ignored' } },
    ]);
    expect(h.bridge.calls.length).toBe(callsBefore);
    expect(h.telemetry.counters.get('StripeEventIgnored')).toBe(2);
    expect(h.log.entries.map((entry) => entry.extra)).toEqual([
      [{ stripeEventId: expired.id, type: 'checkout.session.expired' }],
      [{ stripeEventId: invoice.id, type: 'invoice.paid' }],
    ]);
  });

  it('refuses an authentic checkout event it cannot read with a 400 naming the field, and records why', async () => {
    const sessionId = uniqueId('cs_test');
    const event = checkoutEvent(sessionId, { paymentStatus: 'mystery' });

    const response = await send(event);

    expect(response.statusCode).toBe(400);
    expect(response.body.error).toMatch(
      new RegExp(`^event ${event.id}: data\\.object\\.payment_status: `),
    );
    const { rows } = await h.db.pool.query(
      'SELECT source, reason FROM rejected_inputs WHERE reference = $1',
      [event.id],
    );
    expect(rows).toEqual([
      {
        source: 'stripe_webhook',
        reason: expect.stringMatching(/^data\.object\.payment_status: /),
      },
    ]);
    // Not remembered as processed: once the reader is fixed, Stripe's retry is acted on.
    expect(await nothingWrittenFor(sessionId, event.id)).toEqual(NOTHING);
    expect(h.telemetry.counters.get('InputRejected')).toBe(1);
  });
});

describe('faults', () => {
  it('answers 200 when the queue send fails after the job is recorded, and the reconciler re-drives it once the lease lapses', async () => {
    h.sqs.reset();
    h.sqs.on(SendMessageCommand).rejects(new Error('SQS unavailable'));
    const sessionId = uniqueId('cs_test');

    const response = await send(checkoutEvent(sessionId));
    const job = await jobOf(sessionId);
    const early = await claimStaleJobs(h.deps.db, 100, h.now(), h.deps.rules);
    h.advance(h.deps.rules.handoffLeaseSeconds + 1);
    const later = await claimStaleJobs(h.deps.db, 100, h.now(), h.deps.rules);

    expect(response.body.outcome).toBe('recorded');
    expect(job).toMatchObject({ status: 'enqueued', attempts: 1 });
    expect(h.telemetry.counters.get('HandoffEnqueueFailed')).toBe(1);
    expect(h.log.entries).toContainEqual(
      expect.objectContaining({
        level: 'error',
        extra: [expect.objectContaining({ jobId: job.id, stripeSessionId: sessionId })],
      }),
    );
    expect(early.jobs.map((claimed) => claimed.id)).not.toContain(job.id);
    expect(later.jobs.find((claimed) => claimed.id === job.id)).toEqual({
      id: job.id,
      stripeSessionId: sessionId,
      attempt: 2,
      triggerPayload: job.trigger_payload,
      lastError: null,
      lastOutcome: null,
    });
  });

  it('answers 500 while the database is down, so Stripe retries, and the retry succeeds', async () => {
    const sessionId = uniqueId('cs_test');
    const event = checkoutEvent(sessionId);
    const body = JSON.stringify(event);
    h.bridge.failNext(new Error('Communications link failure'));

    const down = await deliver(body, signed(body));
    const afterDown = await nothingWrittenFor(sessionId, event.id);
    const retried = await deliver(body, signed(body));

    expect(down.statusCode).toBe(500);
    expect(afterDown).toEqual(NOTHING);
    expect(retried.body.outcome).toBe('recorded');
  });

  it('answers 500 when remembering the event fails after its work, and the retry sends nothing twice', async () => {
    const sessionId = uniqueId('cs_test');
    const event = checkoutEvent(sessionId);
    const body = JSON.stringify(event);
    await h.db.pool.query(`
      CREATE FUNCTION refuse_stripe_event() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'disk full'; END $$;
      CREATE TRIGGER refuse_stripe_event BEFORE INSERT ON stripe_events
        FOR EACH ROW EXECUTE FUNCTION refuse_stripe_event();`);

    let crashed: Awaited<ReturnType<typeof deliver>>;
    try {
      crashed = await deliver(body, signed(body));
    } finally {
      await h.db.pool.query(`
        DROP TRIGGER refuse_stripe_event ON stripe_events;
        DROP FUNCTION refuse_stripe_event();`);
    }
    const retried = await deliver(body, signed(body));

    expect(crashed.statusCode).toBe(500);
    // The event's work and its mark are one statement: the failed mark took the job back
    // with it, and the retry records it, once.
    expect(retried).toEqual({ statusCode: 200, body: { received: true, outcome: 'recorded' } });
    expect(await count('FROM provisioning_jobs WHERE stripe_session_id = $1', sessionId)).toBe(1);
    expect(await count('FROM stripe_events WHERE id = $1', event.id)).toBe(1);
    expect(sends()).toHaveLength(1);
  });

  it('tags its log lines with the event, session and job ids', async () => {
    const sessionId = uniqueId('cs_test');
    const event = checkoutEvent(sessionId);

    await send(event);

    const job = await jobOf(sessionId);
    expect(h.log.entries).toContainEqual({
      level: 'info',
      message: 'checkout recorded',
      extra: [
        {
          stripeEventId: event.id,
          stripeSessionId: sessionId,
          jobId: job.id,
          packageSlug: 'growth',
          actor: 'stripe',
        },
      ],
    });
  });
});
