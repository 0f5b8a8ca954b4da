import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';

export interface SimulatedCheckout {
  /** Where the local runtime listens, e.g. `http://localhost:3000`. */
  readonly baseUrl: string;
  /** The webhook signing secret the runtime verifies with (`STRIPE_WEBHOOK_SECRET`). */
  readonly secret: string;
  readonly packageSlug: string;
  readonly email?: string;
  /** A delayed payment method: the account waits for `async_payment_succeeded`. */
  readonly unpaid?: boolean;
  /** Repeat a delivery for an existing session; a new `cs_test_…` otherwise. */
  readonly sessionId?: string;
  /** A live-mode event, for a runtime serving STRIPE_MODE=live; test mode by default. */
  readonly livemode?: boolean;
  /** Send the same event again (as Stripe retries it); a new `evt_…` otherwise. */
  readonly eventId?: string;
  readonly fetch?: typeof fetch;
}

export interface SimulatedCheckoutResult {
  readonly sessionId: string;
  readonly eventId: string;
  /** The webhook route's answer. */
  readonly status: number;
  readonly body: string;
  /** The Retry-After of a 503 (the database resuming), in seconds. */
  readonly retryAfterSeconds: number | undefined;
  /** The status route the success page polls, and the demo success page. */
  readonly statusUrl: string;
  readonly successUrl: string;
}

/**
 * Sends the local runtime a `checkout.session.completed` event signed the way Stripe
 * signs it (Stripe's own test header), through the real webhook route, as a settled
 * checkout would arrive. `npm run simulate:checkout` and the console's button use it.
 */
export async function sendSimulatedCheckout(
  checkout: SimulatedCheckout,
): Promise<SimulatedCheckoutResult> {
  const sessionId = checkout.sessionId ?? `cs_test_${randomBytes(12).toString('hex')}`;
  const eventId = checkout.eventId ?? `evt_${randomBytes(12).toString('hex')}`;
  const payload = JSON.stringify(checkoutCompletedEvent(sessionId, eventId, checkout));
  const signature = new Stripe('sk_test_unused').webhooks.generateTestHeaderString({
    payload,
    secret: checkout.secret,
  });
  const response = await (checkout.fetch ?? fetch)(`${checkout.baseUrl}/api/webhooks/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': signature },
    body: payload,
  });
  const query = `session_id=${encodeURIComponent(sessionId)}`;
  return {
    sessionId,
    eventId,
    status: response.status,
    body: await response.text(),
    retryAfterSeconds: Number(response.headers.get('retry-after')) || undefined,
    statusUrl: `${checkout.baseUrl}/api/provisioning/status?${query}`,
    successUrl: `${checkout.baseUrl}/success?${query}`,
  };
}

function checkoutCompletedEvent(sessionId: string, eventId: string, checkout: SimulatedCheckout) {
  return {
    id: eventId,
    object: 'event',
    api_version: '2025-09-30.clover',
    created: Math.floor(Date.now() / 1000),
    type: 'checkout.session.completed',
    livemode: checkout.livemode ?? false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    data: {
      object: {
        id: sessionId,
        object: 'checkout.session',
        mode: 'payment',
        status: 'complete',
        payment_status: checkout.unpaid ? 'unpaid' : 'paid',
        customer: `cus_${randomBytes(7).toString('hex')}`,
        customer_details: { email: checkout.email ?? 'customer@example.com' },
        metadata: { package_slug: checkout.packageSlug },
      },
    },
  };
}
