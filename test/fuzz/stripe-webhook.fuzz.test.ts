import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createStripeWebhookHandler } from '../../functions/handlers/stripe-webhook.js';
import { httpEvent } from '../support/http-events.js';
import {
  checkoutSessionIds,
  type DrawnSignature,
  drawnSignature,
  field,
  type Hostility,
  mutation,
  record,
  signing,
  underHostility,
} from './arbitraries.js';
import {
  appRouteUnderFuzz,
  FUZZ_RUNS,
  FUZZ_TIMEOUT_MS,
  fuzzRoute,
  NOW,
  STRIPE_SECRET,
  withBody,
} from './fuzz-harness.js';

/**
 * `POST /api/webhooks/stripe` under fire: events drawn from the subset of Stripe's
 * event this product reads (every field made hostile in turn), their bytes mutated,
 * signed as Stripe signs, or not, or badly. Never a 5xx; a refusal writes nothing but
 * its trail (kept only once the signature verified) and names its field.
 */

const FIELDS = ['Stripe-Signature', 'body', 'id', 'type', 'object', 'livemode', 'data'];
const SESSIONS = Array.from({ length: 40 }, (_, i) => `cs_test_fuzz_${i}`);

const EVENT_FIELDS = [
  'id',
  'object',
  'type',
  'livemode',
  'session',
  'mode',
  'payment_status',
  'package_slug',
  'customer',
  'customer_id',
  'customer_account',
  'customer_email',
  'details_email',
];

const customerId = fc.stringMatching(/^cus_[A-Za-z0-9]{6,14}$/);

function stripeEvent(how: Hostility) {
  const f = (name: string, valid: fc.Arbitrary<unknown>) => field(how, name, valid);
  return record(how, {
    id: f('id', fc.stringMatching(/^evt_[A-Za-z0-9]{8,24}$/)),
    object: f('object', fc.constantFrom('event', 'event', 'event', 'v2.core.event')),
    type: f(
      'type',
      fc.constantFrom(
        'checkout.session.completed',
        'checkout.session.completed',
        'checkout.session.async_payment_succeeded',
        'checkout.session.async_payment_failed',
        'invoice.paid',
      ),
    ),
    livemode: f(
      'livemode',
      fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, fc.constant(true)),
    ),
    data: record(how, {
      object: record(how, {
        id: f('session', checkoutSessionIds(SESSIONS)),
        object: fc.constant('checkout.session'),
        mode: f('mode', fc.constantFrom('payment', 'subscription', 'setup')),
        payment_status: f(
          'payment_status',
          fc.constantFrom('paid', 'paid', 'unpaid', 'no_payment_required'),
        ),
        metadata: record(how, {
          package_slug: f('package_slug', fc.constantFrom('growth', 'starter', 'enterprise')),
        }),
        customer: f(
          'customer',
          fc.oneof(
            customerId,
            record(how, { id: f('customer_id', customerId), deleted: fc.boolean() }),
          ),
        ),
        customer_account: f(
          'customer_account',
          fc.option(fc.stringMatching(/^acct_[A-Za-z0-9]{6,16}$/)),
        ),
        customer_email: f('customer_email', fc.option(fc.emailAddress())),
        customer_details: record(how, { email: f('details_email', fc.option(fc.emailAddress())) }),
      }),
    }),
  });
}

const delivery = fc.record({
  event: underHostility(EVENT_FIELDS, stripeEvent),
  mutate: mutation,
  signing,
  base64: fc.boolean(),
});

function stripeSignature(signature: DrawnSignature): string | undefined {
  switch (signature.kind) {
    case 'none':
      return undefined;
    case 'garbage':
      return signature.header;
    case 'signed':
      return `t=${signature.timestamp},v1=${signature.signature}`;
  }
}

const under = appRouteUnderFuzz((deps) =>
  createStripeWebhookHandler({ ...deps, stripeMode: 'test' }),
);

describe('the Stripe webhook under hostile input', () => {
  it(
    `answers ${FUZZ_RUNS} deliveries without a 5xx, writing nothing for a refusal but its trail`,
    async () => {
      const tally = await fuzzRoute({
        name: 'POST /api/webhooks/stripe',
        ...under,
        inputs: delivery,
        request: ({ event, mutate, signing: how, base64 }) => {
          const original = Buffer.from(JSON.stringify(event));
          const sent = mutate(original);
          const signature = stripeSignature(
            drawnSignature(how, { secret: STRIPE_SECRET, now: NOW, original, sent, timed: true }),
          );
          const headers: Record<string, string> =
            signature === undefined ? {} : { 'stripe-signature': signature };
          return withBody(
            httpEvent({ method: 'POST', path: '/api/webhooks/stripe', headers }),
            sent,
            base64,
          );
        },
        fields: FIELDS,
        // The trail is kept for a signed event refused for its content, never for a
        // request whose signature did not verify (anyone can send those).
        refusalsKept: ({ status, error }) =>
          status >= 400 && !/Stripe-Signature|missing body/.test(error ?? '') ? 1 : 0,
      });

      // The suite reached past the signature: events were recorded and refused for their content.
      expect(tally.count(200)).toBeGreaterThan(FUZZ_RUNS / 10);
    },
    FUZZ_TIMEOUT_MS,
  );
});
