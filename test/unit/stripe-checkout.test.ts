import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { SignatureError } from '../../functions/core/errors.js';
import { classifyStripeEvent, readStripeDelivery } from '../../functions/core/stripe-checkout.js';

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
    type,
    data: { object: { id: 'cs_test_1', payment_status: 'paid', ...fields } },
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

    expect(classifyStripeEvent(event)).toEqual({
      kind: 'settled',
      eventId: 'evt_1',
      type: 'checkout.session.completed',
      checkout: {
        stripeSessionId: 'cs_test_1',
        stripeCustomerId: 'cus_1',
        customerEmail: 'a@example.com',
        packageSlug: 'growth',
      },
    });
  });

  it('falls back to customer_email, accepts an expanded customer, and never guesses a blank package', () => {
    const event = session({
      customer: { id: 'cus_2', email: 'b@example.com' },
      customer_details: { email: null },
      customer_email: 'b@example.com',
      metadata: { package_slug: '  ' },
    });

    expect(classifyStripeEvent(event)).toMatchObject({
      checkout: { stripeCustomerId: 'cus_2', customerEmail: 'b@example.com', packageSlug: null },
    });
  });

  it.each([
    ['checkout.session.completed', 'unpaid', 'awaiting_payment'],
    ['checkout.session.completed', 'no_payment_required', 'settled'],
    ['checkout.session.async_payment_succeeded', 'paid', 'settled'],
    ['checkout.session.async_payment_failed', 'unpaid', 'payment_failed'],
  ])('reads %s with %s as %s', (type, paymentStatus, kind) => {
    expect(classifyStripeEvent(session({ payment_status: paymentStatus }, type)).kind).toBe(kind);
  });

  it('ignores other types without reading their body', () => {
    expect(classifyStripeEvent({ id: 'evt_2', type: 'customer.created' })).toEqual({
      kind: 'ignored',
      eventId: 'evt_2',
      type: 'customer.created',
    });
  });

  it('refuses what it cannot read, naming the field', () => {
    expect(classifyStripeEvent({ type: 'checkout.session.completed' })).toMatchObject({
      kind: 'rejected',
      eventId: null,
      reason: expect.stringMatching(/^id: /),
    });
    expect(classifyStripeEvent(session({ id: 'pi_123' }))).toMatchObject({
      kind: 'rejected',
      eventId: 'evt_1',
      reason: 'data.object.id: must be a Stripe checkout session id (cs_…)',
    });
  });
});

describe('verifying a delivery', () => {
  it('refuses an authentic body that is not JSON as unreadable, not as a bad signature', () => {
    expect(readStripeDelivery(delivery('not json'), [SECRET], NOW)).toEqual({
      kind: 'rejected',
      eventId: null,
      type: null,
      reason: 'body: not JSON',
    });
  });

  it('says the signature expired when one of several secrets matched an old timestamp', () => {
    const old = delivery('{}', SECRET, NOW.getTime() / 1000 - 301);

    const read = () => readStripeDelivery(old, ['whsec_other', SECRET], NOW);

    expect(read).toThrow(SignatureError);
    expect(read).toThrow('invalid Stripe-Signature: Timestamp outside the tolerance zone');
  });
});
