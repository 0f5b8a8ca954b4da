import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { SignatureError } from '../../functions/core/errors.js';
import { classifyStripeEvent } from '../../functions/core/stripe-checkout.js';
import { readStripeDelivery } from '../../functions/core/stripe-delivery.js';

const NOW = new Date('2026-11-23T10:00:00Z');
const SECRET = 'whsec_unit';

function delivery(body: string, secret = SECRET, timestamp = NOW.getTime() / 1000) {
  return {
    rawBody: Buffer.from(body),
    signature: Stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp }),
  };
}

function session(fields: Record<string, unknown>, type = 'checkout.session.completed') {
  return {
    id: 'evt_1',
    object: 'event',
    type,
    livemode: false,
    data: {
      object: {
        id: 'cs_test_1',
        mode: 'payment',
        payment_status: 'paid',
        metadata: { package_slug: 'growth' },
        ...fields,
      },
    },
  };
}

describe('reading a checkout event', () => {
  it('keeps only the facts the hand-off uses', () => {
    const event = session({
      customer: 'cus_1',
      customer_details: { email: 'a@example.com', phone: '+33 1 23' },
      metadata: { package_slug: 'growth', campaign: 'x' },
      amount_total: 4900,
    });

    expect(classifyStripeEvent(event, 'test')).toEqual({
      kind: 'settled',
      eventId: 'evt_1',
      type: 'checkout.session.completed',
      checkout: {
        stripeSessionId: 'cs_test_1',
        stripeCustomerId: 'cus_1',
        stripeCustomerAccountId: null,
        customerEmail: 'a@example.com',
        packageSlug: 'growth',
      },
    });
  });

  it('falls back to customer_email, and accepts an expanded or deleted customer', () => {
    const expanded = session({
      customer: { id: 'cus_2', object: 'customer', email: 'b@example.com' },
      customer_details: { email: null },
      customer_email: 'b@example.com',
    });
    const deleted = session({ customer: { id: 'cus_3', object: 'customer', deleted: true } });

    expect(classifyStripeEvent(expanded, 'test')).toMatchObject({
      checkout: { stripeCustomerId: 'cus_2', customerEmail: 'b@example.com' },
    });
    expect(classifyStripeEvent(deleted, 'test')).toMatchObject({
      checkout: { stripeCustomerId: 'cus_3', customerEmail: null },
    });
  });

  it('keeps an Accounts v2 customer_account beside a null customer', () => {
    const event = session({ customer: null, customer_account: 'acct_1Nv0FGQ9RKHgCVdK' });

    expect(classifyStripeEvent(event, 'test')).toMatchObject({
      checkout: { stripeCustomerId: null, stripeCustomerAccountId: 'acct_1Nv0FGQ9RKHgCVdK' },
    });
  });

  it('ignores a session without a package, or with a blank one, as another product’s', () => {
    for (const metadata of [{}, null, { package_slug: '  ' }, { package_slug: null }]) {
      expect(classifyStripeEvent(session({ metadata }), 'test')).toEqual({
        kind: 'ignored',
        reason: 'not_ours',
        eventId: 'evt_1',
        type: 'checkout.session.completed',
        stripeSessionId: 'cs_test_1',
      });
    }
  });

  it('does not read the rest of another product’s session, so its new values never refuse it', () => {
    const event = session({ metadata: {}, mode: 'bespoke', payment_status: undefined });

    expect(classifyStripeEvent(event, 'test')).toMatchObject({
      kind: 'ignored',
      reason: 'not_ours',
    });
  });

  it('ignores other types without reading their body', () => {
    expect(
      classifyStripeEvent(
        { id: 'evt_2', object: 'event', type: 'customer.created', livemode: false },
        'test',
      ),
    ).toEqual({
      kind: 'ignored',
      reason: 'unhandled_type',
      eventId: 'evt_2',
      type: 'customer.created',
    });
  });

  it('ignores a thin event (the destination ping too) whatever else it carries', () => {
    const ping = {
      id: 'evt_test_65RM',
      object: 'v2.core.event',
      type: 'v2.core.event_destination.ping',
      livemode: true,
      created: '2026-08-01T09:30:00.000Z',
    };

    expect(classifyStripeEvent(ping, 'test')).toEqual({
      kind: 'ignored',
      reason: 'thin_event',
      eventId: 'evt_test_65RM',
      type: 'v2.core.event_destination.ping',
    });
  });

  it('refuses an event of the other Stripe mode, in both directions', () => {
    const live = { ...session({}), livemode: true };

    expect(classifyStripeEvent(live, 'test')).toEqual({
      kind: 'rejected',
      cause: 'wrong_mode',
      eventId: 'evt_1',
      type: 'checkout.session.completed',
      reason: 'livemode: true, but this deployment serves Stripe test mode',
    });
    expect(classifyStripeEvent(session({}), 'live')).toMatchObject({
      cause: 'wrong_mode',
      reason: 'livemode: false, but this deployment serves Stripe live mode',
    });
    expect(classifyStripeEvent(live, 'live')).toMatchObject({ kind: 'settled' });
  });

  it('refuses a NUL, another control character or an overlong value in every field it reads, naming the field', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ ...session({}), id: 'evt_\u0000' }, 'id'],
      [{ ...session({}), type: `checkout.session.completed${'x'.repeat(250)}` }, 'type'],
      [
        session({ metadata: { package_slug: 'growth\u0000' } }),
        'data.object.metadata.package_slug',
      ],
      [
        session({ metadata: { package_slug: 'g'.repeat(501) } }),
        'data.object.metadata.package_slug',
      ],
      [session({ customer_email: 'a@b.c\u0000' }), 'data.object.customer_email'],
      [
        session({ customer_email: `${'a'.repeat(2_000_000)}@example.com` }),
        'data.object.customer_email',
      ],
      [
        session({ customer_details: { email: 'x\ry@example.com' } }),
        'data.object.customer_details.email',
      ],
      [session({ customer: 'cus_\u0000' }), 'data.object.customer'],
      [session({ customer: { id: `cus_${'1'.repeat(300)}` } }), 'data.object.customer'],
      [session({ customer_account: 'acct_\u0085' }), 'data.object.customer_account'],
      [session({ mode: 'payment\u0000' }), 'data.object.mode'],
      [session({ payment_status: 'paid\u007f' }), 'data.object.payment_status'],
    ];

    for (const [event, field] of cases) {
      const read = classifyStripeEvent(event, 'test');
      expect(read, field).toMatchObject({ kind: 'rejected', cause: 'unreadable' });
      expect(read.kind === 'rejected' && read.reason.startsWith(`${field}: must`), field).toBe(
        true,
      );
      // The refused value itself is never the reference kept for the operator.
      if (read.kind === 'rejected') expect(read.eventId ?? '').not.toMatch(/[\p{Cc}]/u);
    }
  });

  it('refuses what it cannot read, naming the field', () => {
    expect(classifyStripeEvent({ type: 'checkout.session.completed' }, 'test')).toMatchObject({
      kind: 'rejected',
      cause: 'unreadable',
      eventId: null,
      reason: expect.stringMatching(/^id: /),
    });
    expect(classifyStripeEvent({ ...session({}), object: 'invoice' }, 'test')).toMatchObject({
      reason: 'object: must be "event" (a snapshot event) or "v2.core.event" (a thin event)',
    });
    expect(classifyStripeEvent({ ...session({}), livemode: undefined }, 'test')).toMatchObject({
      reason: expect.stringMatching(/^livemode: /),
    });
    expect(classifyStripeEvent(session({ id: 'pi_123' }), 'test')).toMatchObject({
      kind: 'rejected',
      eventId: 'evt_1',
      reason: 'data.object.id: must be a Stripe checkout session id (cs_…)',
    });
    expect(classifyStripeEvent(session({ mode: undefined }), 'test')).toMatchObject({
      reason: expect.stringMatching(/^data\.object\.mode: /),
    });
  });

  it('names an unknown mode or payment status with the values it knows, quoted safely', () => {
    expect(classifyStripeEvent(session({ mode: 'instalments' }), 'test')).toMatchObject({
      kind: 'rejected',
      cause: 'unreadable',
      reason:
        'data.object.mode: "instalments" is not a value this product knows (payment, subscription, setup)',
    });
    expect(
      classifyStripeEvent(session({ payment_status: `pending "${'x'.repeat(50)}` }), 'test'),
    ).toMatchObject({
      reason: `data.object.payment_status: "pending \\"${'x'.repeat(31)}…" is not a value this product knows (paid, unpaid, no_payment_required)`,
    });
  });
});

describe('the decision table, cell by cell', () => {
  const MODES = ['payment', 'subscription', 'setup', 'instalments'] as const;
  const STATUSES = ['paid', 'no_payment_required', 'unpaid', 'pending'] as const;
  /** The README's table for checkout.session.completed, one of our sessions. */
  const COMPLETED: Record<(typeof MODES)[number], Record<(typeof STATUSES)[number], string>> = {
    payment: {
      paid: 'settled',
      no_payment_required: 'settled',
      unpaid: 'awaiting_payment',
      pending: 'rejected',
    },
    subscription: {
      paid: 'settled',
      no_payment_required: 'settled',
      unpaid: 'awaiting_payment',
      pending: 'rejected',
    },
    setup: {
      paid: 'setup_mode',
      no_payment_required: 'setup_mode',
      unpaid: 'setup_mode',
      pending: 'setup_mode',
    },
    instalments: {
      paid: 'rejected',
      no_payment_required: 'rejected',
      unpaid: 'rejected',
      pending: 'rejected',
    },
  };
  const cells = MODES.flatMap((mode) =>
    STATUSES.map((status) => [mode, status, COMPLETED[mode][status]] as const),
  );

  it.each(cells)('completed, mode %s, payment_status %s: %s', (mode, status, expected) => {
    const read = classifyStripeEvent(session({ mode, payment_status: status }), 'test');

    expect(read.kind === 'ignored' ? read.reason : read.kind).toBe(expected);
  });

  it.each([
    ['checkout.session.async_payment_succeeded', 'payment', 'settled'],
    ['checkout.session.async_payment_succeeded', 'subscription', 'settled'],
    ['checkout.session.async_payment_succeeded', 'setup', 'setup_mode'],
    ['checkout.session.async_payment_succeeded', 'instalments', 'rejected'],
    ['checkout.session.async_payment_failed', 'payment', 'payment_failed'],
    ['checkout.session.async_payment_failed', 'subscription', 'payment_failed'],
    ['checkout.session.async_payment_failed', 'setup', 'setup_mode'],
    ['checkout.session.async_payment_failed', 'instalments', 'rejected'],
  ])('%s, mode %s: %s', (type, mode, expected) => {
    const read = classifyStripeEvent(session({ mode, payment_status: 'unpaid' }, type), 'test');

    expect(read.kind === 'ignored' ? read.reason : read.kind).toBe(expected);
  });
});

describe('verifying a delivery', () => {
  it('refuses an authentic body that is not JSON as unreadable, not as a bad signature', () => {
    expect(readStripeDelivery(delivery('not json'), [SECRET], NOW, 'test')).toEqual({
      kind: 'rejected',
      cause: 'unreadable',
      eventId: null,
      type: null,
      reason: 'body: not JSON',
    });
  });

  it('reads an authentic thin event instead of throwing as constructEvent does', () => {
    const body = JSON.stringify({ id: 'evt_thin', object: 'v2.core.event', type: 'x.y' });

    expect(() => Stripe.webhooks.constructEvent(body, delivery(body).signature, SECRET)).toThrow();
    expect(readStripeDelivery(delivery(body), [SECRET], NOW, 'test')).toMatchObject({
      kind: 'ignored',
      reason: 'thin_event',
    });
  });

  it('never reads the body of a delivery no secret verifies', () => {
    const read = () =>
      readStripeDelivery(delivery('not json', 'whsec_other'), [SECRET], NOW, 'test');

    expect(read).toThrow(SignatureError);
    expect(read).toThrow(
      'invalid Stripe-Signature: No signatures found matching the expected signature for payload',
    );
  });

  it('says the signature expired when one of several secrets matched an old timestamp', () => {
    const old = delivery('{}', SECRET, NOW.getTime() / 1000 - 301);

    const read = () => readStripeDelivery(old, ['whsec_other', SECRET], NOW, 'test');

    expect(read).toThrow(SignatureError);
    expect(read).toThrow('invalid Stripe-Signature: Timestamp outside the tolerance zone');
  });
});
