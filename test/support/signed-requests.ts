import Stripe from 'stripe';
import { signCallback } from '../../contract/callback.js';
import type { CallbackBody } from '../../functions/core/callback-body.js';
import { httpEvent } from './http-events.js';

/**
 * Requests as Stripe and the orchestrator send them, signed as they sign them: for the
 * tests and the bench, which both drive the real handlers with them.
 */

let sequence = 0;
export function uniqueId(prefix: string): string {
  sequence += 1;
  return `${prefix}_${sequence}_${Math.random().toString(36).slice(2, 10)}`;
}

/** A checkout session event as Stripe sends it, for a session of the `growth` package. */
export function checkoutEvent(
  now: Date,
  sessionId: string,
  type = 'checkout.session.completed',
  paymentStatus = 'paid',
) {
  return {
    id: uniqueId('evt'),
    object: 'event',
    api_version: '2025-10-29.clover',
    created: Math.floor(now.getTime() / 1000),
    type,
    livemode: false,
    data: {
      object: {
        id: sessionId,
        object: 'checkout.session',
        customer: 'cus_intake',
        customer_details: { email: 'buyer@example.com' },
        metadata: { package_slug: 'growth' },
        mode: 'payment',
        payment_status: paymentStatus,
        status: 'complete',
      },
    },
  };
}

/** A Stripe delivery of `event` to the webhook route, signed with `secret` as Stripe signs. */
export function signedStripeDelivery(event: object, secret: string, now: Date) {
  const body = JSON.stringify(event);
  const signature = Stripe.webhooks.generateTestHeaderString({
    payload: body,
    secret,
    timestamp: Math.floor(now.getTime() / 1000),
  });
  return httpEvent({
    method: 'POST',
    path: '/api/webhooks/stripe',
    headers: { 'Content-Type': 'application/json', 'Stripe-Signature': signature },
    body,
  });
}

/** An orchestrator callback to the callback route, signed as the contract kit signs it. */
export function signedCallback(report: CallbackBody, secret: string, now: Date) {
  const { body, headers } = signCallback(report, secret, now);
  return httpEvent({ method: 'POST', path: '/api/internal/provisioning/callback', headers, body });
}
