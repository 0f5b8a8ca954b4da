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
  /** How Stripe tells the runtime: its webhook (default) or its EventBridge destination. */
  readonly via?: 'webhook' | 'eventbridge';
  /**
   * Paid, but no event ever reaches the runtime: only Stripe's records (the runtime's
   * stand-in) hold the session, and the missed-checkout sweep finds it there.
   */
  readonly lost?: boolean;
}

export interface SimulatedCheckoutResult {
  readonly sessionId: string;
  /** The answer of the route it went through (the webhook, the EventBridge door, or Stripe's records when lost). */
  readonly status: number;
  readonly body: string;
  /** The status route the success page polls, and the demo success page. */
  readonly statusUrl: string;
  readonly successUrl: string;
}

/**
 * A settled checkout as Stripe would tell the local runtime: the session is kept in
 * the runtime's stand-in for Stripe's records (where the sweep reads), then the
 * `checkout.session.completed` event goes through the real webhook route, signed the
 * way Stripe signs (Stripe's own test header), or through the stand-in for Stripe's
 * EventBridge destination; a lost checkout stops after the records.
 * `npm run simulate:checkout` and the console's button use it.
 */
export async function sendSimulatedCheckout(
  checkout: SimulatedCheckout,
): Promise<SimulatedCheckoutResult> {
  const sessionId = checkout.sessionId ?? `cs_test_${randomBytes(12).toString('hex')}`;
  const event = checkoutCompletedEvent(sessionId, checkout);
  const kept = await post(`${checkout.baseUrl}/local/stripe/checkout-sessions`, event.data.object);
  // 409: the runtime reads real Stripe (STRIPE_API_KEY set), which a simulation cannot reach.
  const answer = checkout.lost
    ? kept
    : checkout.via === 'eventbridge'
      ? await post(`${checkout.baseUrl}/local/stripe/eventbridge`, event)
      : await sendToWebhook(checkout, JSON.stringify(event));
  const query = `session_id=${encodeURIComponent(sessionId)}`;
  return {
    sessionId,
    status: answer.status,
    body: await answer.text(),
    statusUrl: `${checkout.baseUrl}/api/provisioning/status?${query}`,
    successUrl: `${checkout.baseUrl}/success?${query}`,
  };
}

function sendToWebhook(checkout: SimulatedCheckout, payload: string): Promise<Response> {
  const signature = new Stripe('sk_test_unused').webhooks.generateTestHeaderString({
    payload,
    secret: checkout.secret,
  });
  return fetch(`${checkout.baseUrl}/api/webhooks/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': signature },
    body: payload,
  });
}

function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

function checkoutCompletedEvent(sessionId: string, checkout: SimulatedCheckout) {
  return {
    id: `evt_${randomBytes(12).toString('hex')}`,
    object: 'event',
    api_version: '2025-09-30.clover',
    created: Math.floor(Date.now() / 1000),
    type: 'checkout.session.completed',
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    data: {
      object: {
        id: sessionId,
        object: 'checkout.session',
        created: Math.floor(Date.now() / 1000),
        livemode: false,
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
