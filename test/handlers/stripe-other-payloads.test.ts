import { describe, expect, it } from 'vitest';
import {
  freshEvent,
  freshThinEvent,
  paidCheckoutFile,
  sessionOf,
  stripeSignature,
} from '../support/stripe-fixtures.js';
import {
  ANSWERED_IGNORED as IGNORED,
  NO_WRITES,
  stripeWebhookSuite,
} from '../support/stripe-webhook-harness.js';

/**
 * The rest of what Stripe publishes and sends, delivered signed through the real
 * handler against PostgreSQL: Accounts v2 customers, the Stripe CLI's checkout
 * triggers, and thin events from an event destination (test/fixtures/stripe/README.md).
 */
const SECRET = 'whsec_published_shapes_0123456789';

const w = stripeWebhookSuite({ secret: SECRET, stripeMode: 'test' });

describe('Accounts v2 (API version 2026-07-29.dahlia)', () => {
  const dahlia = (session: Record<string, unknown>) =>
    freshEvent(paidCheckoutFile('2026-07-29.dahlia'), w.h.now(), { session });

  it('keeps customer_account as the customer when customer is null', async () => {
    const event = dahlia({ customer: null, customer_account: 'acct_1RHandoffBuyer01' });

    const answer = await w.send(event);

    expect(answer.body.outcome).toBe('recorded');
    expect(await w.accountOf(sessionOf(event))).toMatchObject({
      stripe_customer_id: null,
      stripe_customer_account_id: 'acct_1RHandoffBuyer01',
    });
  });

  it('keeps both references when Stripe gives both', async () => {
    const event = dahlia({
      customer: 'cus_SxBothModels01',
      customer_account: 'acct_1RHandoffBuyer02',
    });

    await w.send(event);

    expect(await w.accountOf(sessionOf(event))).toMatchObject({
      stripe_customer_id: 'cus_SxBothModels01',
      stripe_customer_account_id: 'acct_1RHandoffBuyer02',
    });
  });

  it('keeps customer_account on an account waiting for a delayed payment', async () => {
    const event = dahlia({
      customer: null,
      customer_account: 'acct_1RHandoffBuyer03',
      payment_status: 'unpaid',
    });

    await w.send(event);

    expect(await w.accountOf(sessionOf(event))).toMatchObject({
      status: 'awaiting_payment',
      stripe_customer_account_id: 'acct_1RHandoffBuyer03',
    });
  });
});

describe('the Stripe CLI’s checkout triggers', () => {
  const trigger = (name: string, session: Record<string, unknown> = {}) =>
    freshEvent(`stripe-cli/${name}.json`, w.h.now(), { session });
  const OURS = { metadata: { package_slug: 'growth' } };

  it('`stripe trigger checkout.session.completed` alone is not ours: ignored, nothing written', async () => {
    const event = trigger('checkout.session.completed');

    const answer = await w.send(event);

    expect(answer).toEqual(IGNORED);
    expect(await w.writesFor(sessionOf(event), event.id)).toEqual(NO_WRITES);
  });

  it('with --add checkout_session:metadata.package_slug=growth it becomes a guest’s job', async () => {
    const event = trigger('checkout.session.completed', OURS);

    const answer = await w.send(event);

    expect(answer.body.outcome).toBe('recorded');
    expect(await w.accountOf(sessionOf(event))).toMatchObject({
      stripe_customer_id: null,
      email: 'cli-buyer@example.net',
    });
  });

  it('the delayed-payment triggers provision on success and fail the account on failure', async () => {
    const succeeded = trigger('checkout.session.async_payment_succeeded', OURS);
    const failedSession = trigger('checkout.session.async_payment_failed', OURS);
    const completedUnpaid = trigger('checkout.session.completed', {
      ...OURS,
      id: sessionOf(failedSession),
      payment_status: 'unpaid',
      payment_method_types: ['sepa_debit'],
    });

    const answers = [
      await w.send(succeeded),
      await w.send(completedUnpaid),
      await w.send(failedSession),
    ];

    expect(answers.map((answer) => answer.body.outcome)).toEqual([
      'recorded',
      'awaiting_payment',
      'payment_failed',
    ]);
    expect(await w.accountOf(sessionOf(failedSession))).toMatchObject({ status: 'failed' });
  });

  it('`stripe trigger checkout.session.expired` is a type this product ignores', async () => {
    const event = trigger('checkout.session.expired', OURS);

    const answer = await w.send(event);

    expect(answer).toEqual(IGNORED);
    expect(w.h.telemetry.counters.get('StripeEventIgnored')).toBe(1);
  });
});

describe('thin events (an event destination with thin payloads)', () => {
  it.each([
    'stripe-node/v2.core.event_destination.ping.json',
    'stripe-node/v1.billing.meter.error_report_triggered.json',
  ])('%s: 200 ignored without touching the database, counted and logged', async (file) => {
    const event = freshThinEvent(file);
    const callsBefore = w.h.bridge.calls.length;

    const answer = await w.send(event);

    expect(answer).toEqual(IGNORED);
    expect(w.h.bridge.calls.length).toBe(callsBefore);
    expect(w.h.telemetry.counters.get('StripeThinEventIgnored')).toBe(1);
    expect(w.h.log.entries).toEqual([
      {
        level: 'warn',
        message: 'Stripe thin event ignored: this endpoint needs snapshot payloads',
        extra: [{ stripeEventId: event.id, type: event.type }],
      },
    ]);
  });

  it('are ignored whatever mode they name: they are never acted on', async () => {
    const answer = await w.send(
      freshThinEvent('stripe-node/v2.core.event_destination.ping.json', { livemode: true }),
    );

    expect(answer).toEqual(IGNORED);
  });

  it('still need a valid signature', async () => {
    const body = JSON.stringify(freshThinEvent('stripe-node/v2.core.event_destination.ping.json'));

    const answer = await w.deliver(body, stripeSignature(body, 'whsec_someone_else', w.h.now()));

    expect(answer.statusCode).toBe(400);
    expect(answer.body.error).toMatch(/^invalid Stripe-Signature: /);
  });

  it('a signed body that is not JSON at all: 400 and recorded, never a 5xx', async () => {
    const body = '{"object":"v2.core.event","id":';
    const before = Number(
      (
        await w.h.db.pool.query(
          "SELECT count(*)::int AS n FROM rejected_inputs WHERE reason = 'body: not JSON'",
        )
      ).rows[0]?.n,
    );

    const answer = await w.deliver(body, stripeSignature(body, SECRET, w.h.now()));

    const after = Number(
      (
        await w.h.db.pool.query(
          "SELECT count(*)::int AS n FROM rejected_inputs WHERE reason = 'body: not JSON'",
        )
      ).rows[0]?.n,
    );
    expect(answer).toEqual({ statusCode: 400, body: { error: 'body: not JSON' } });
    expect(after - before).toBe(1);
  });
});
