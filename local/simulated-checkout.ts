import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { ROUTES } from '../functions/routes.js';

/** What a settled checkout is made of: the session, its package and how it was paid. */
export interface CheckoutFacts {
  readonly packageSlug: string;
  readonly email?: string;
  /** A delayed payment method: the account waits for `async_payment_succeeded`. */
  readonly unpaid?: boolean;
  /** Repeat a delivery for an existing session; a new `cs_test_…` otherwise. */
  readonly sessionId?: string;
  /** A live-mode event, for a runtime or stack serving live mode; test mode by default. */
  readonly livemode?: boolean;
}

export interface SimulatedCheckout extends CheckoutFacts {
  /** Where the local runtime listens, e.g. `http://localhost:3000`. */
  readonly baseUrl: string;
  /** The webhook signing secret the runtime verifies with (`STRIPE_WEBHOOK_SECRET`). */
  readonly secret: string;
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
  const event = checkoutCompletedEvent(
    sessionId,
    `evt_${randomBytes(12).toString('hex')}`,
    checkout,
  );
  const kept = await post(`${checkout.baseUrl}/local/stripe/checkout-sessions`, event.data.object);
  // 409: the runtime reads real Stripe (STRIPE_API_KEY set), which a simulation cannot reach.
  const answer = checkout.lost
    ? kept
    : checkout.via === 'eventbridge'
      ? await post(`${checkout.baseUrl}/local/stripe/eventbridge`, event)
      : await postSigned(
          `${checkout.baseUrl}${ROUTES.stripeWebhook.path}`,
          JSON.stringify(event),
          checkout.secret,
          fetch,
        );
  const query = `session_id=${encodeURIComponent(sessionId)}`;
  return {
    sessionId,
    status: answer.status,
    body: await answer.text(),
    statusUrl: `${checkout.baseUrl}${ROUTES.status.path}?${query}`,
    successUrl: `${checkout.baseUrl}/success?${query}`,
  };
}

export interface SignedCheckoutEvent {
  readonly eventId: string;
  readonly status: number;
  readonly body: string;
  /** The Retry-After of a 503 (the database resuming), in seconds. */
  readonly retryAfterSeconds: number | undefined;
}

/**
 * One `checkout.session.completed` signed as Stripe signs it, POSTed to a webhook route
 * (a deployed stack's `WebhookUrl`: `ops smoke`). The same `eventId` sends the same
 * event again, as Stripe retries it.
 */
export async function sendSignedCheckoutEvent(
  webhook: { readonly url: string; readonly secret: string; readonly fetch?: typeof fetch },
  checkout: CheckoutFacts & { readonly sessionId: string; readonly eventId?: string },
): Promise<SignedCheckoutEvent> {
  const eventId = checkout.eventId ?? `evt_${randomBytes(12).toString('hex')}`;
  const event = checkoutCompletedEvent(checkout.sessionId, eventId, checkout);
  const answer = await postSigned(
    webhook.url,
    JSON.stringify(event),
    webhook.secret,
    webhook.fetch ?? fetch,
  );
  return {
    eventId,
    status: answer.status,
    body: await answer.text(),
    retryAfterSeconds: Number(answer.headers.get('retry-after')) || undefined,
  };
}

function postSigned(
  url: string,
  payload: string,
  secret: string,
  send: typeof fetch,
): Promise<Response> {
  const signature = new Stripe('sk_test_unused').webhooks.generateTestHeaderString({
    payload,
    secret,
  });
  return send(url, {
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

function checkoutCompletedEvent(sessionId: string, eventId: string, checkout: CheckoutFacts) {
  const livemode = checkout.livemode ?? false;
  return {
    id: eventId,
    object: 'event',
    api_version: '2025-09-30.clover',
    created: Math.floor(Date.now() / 1000),
    type: 'checkout.session.completed',
    livemode,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    data: {
      object: {
        id: sessionId,
        object: 'checkout.session',
        created: Math.floor(Date.now() / 1000),
        livemode,
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
