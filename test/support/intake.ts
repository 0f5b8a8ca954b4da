import { createHmac } from 'node:crypto';
import Stripe from 'stripe';
import type { QuietMarker } from '../../functions/adapters/quiet-marker.js';
import { createCallbackHandler } from '../../functions/handlers/callback.js';
import { createStripeWebhookHandler } from '../../functions/handlers/stripe-webhook.js';
import { CALLBACK_URL, type Harness, lambdaContext } from './handler-harness.js';
import { httpEvent } from './http-events.js';

/**
 * Stripe's deliveries and the orchestrator's callbacks, signed as they sign them, to the
 * real webhook and callback handlers over a handler harness: for tests that count what
 * one request costs or wakes.
 */
export const INTAKE_WEBHOOK_SECRET = 'whsec_intake_0123456789abcdef';
export const INTAKE_CALLBACK_SECRET = 'callback-intake-secret';

let sequence = 0;
export function uniqueId(prefix: string): string {
  sequence += 1;
  return `${prefix}_${sequence}_${Math.random().toString(36).slice(2, 10)}`;
}

export function checkoutEvent(
  h: Harness,
  sessionId: string,
  type = 'checkout.session.completed',
  paymentStatus = 'paid',
) {
  return {
    id: uniqueId('evt'),
    object: 'event',
    api_version: '2025-10-29.clover',
    created: Math.floor(h.now().getTime() / 1000),
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

export interface Intake {
  /** Delivers a Stripe event as Stripe does; answers the status and the parsed body. */
  deliver(event: object): Promise<{ statusCode: number; body: Record<string, unknown> }>;
  /** Posts an orchestrator callback body, signed with the callback secret. */
  report(body: object): Promise<{ statusCode: number; body: Record<string, unknown> }>;
}

/** `quiet`: the marker the writers wake (the harness's own unless a test brings one). */
export function intake(h: Harness, quiet: QuietMarker = h.deps.quiet): Intake {
  h.setSecret('stripeWebhookSecrets', INTAKE_WEBHOOK_SECRET);
  h.setSecret('callbackSecret', INTAKE_CALLBACK_SECRET);
  const webhook = createStripeWebhookHandler({
    ...h.deps,
    quiet,
    queue: h.queue,
    secrets: h.secrets,
    callbackUrl: CALLBACK_URL,
    stripeMode: 'test',
  });
  const callback = createCallbackHandler({ ...h.deps, quiet, secrets: h.secrets });
  const answer = (response: { statusCode?: number; body?: string }) => ({
    statusCode: response.statusCode ?? 0,
    body: JSON.parse(response.body ?? '{}') as Record<string, unknown>,
  });
  return {
    async deliver(event) {
      const body = JSON.stringify(event);
      const signature = Stripe.webhooks.generateTestHeaderString({
        payload: body,
        secret: INTAKE_WEBHOOK_SECRET,
        timestamp: Math.floor(h.now().getTime() / 1000),
      });
      const request = httpEvent({
        method: 'POST',
        path: '/api/webhooks/stripe',
        headers: { 'Content-Type': 'application/json', 'Stripe-Signature': signature },
        body,
      });
      return answer(await webhook(request, lambdaContext()));
    },
    async report(callbackBody) {
      const body = JSON.stringify(callbackBody);
      const signature = createHmac('sha256', INTAKE_CALLBACK_SECRET).update(body).digest('hex');
      const request = httpEvent({
        method: 'POST',
        path: '/api/internal/provisioning/callback',
        headers: { 'content-type': 'application/json', 'X-Provisioning-Signature': signature },
        body,
      });
      return answer(await callback(request, lambdaContext()));
    },
  };
}
