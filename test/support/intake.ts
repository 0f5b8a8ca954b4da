import type { QuietMarker } from '../../functions/adapters/quiet-marker.js';
import type { CallbackBody } from '../../functions/core/callback-body.js';
import { createCallbackHandler } from '../../functions/handlers/callback.js';
import { createStripeWebhookHandler } from '../../functions/handlers/stripe-webhook.js';
import { CALLBACK_URL, type Harness, lambdaContext } from './handler-harness.js';
import { signedCallback, signedStripeDelivery } from './signed-requests.js';

export { checkoutEvent, uniqueId } from './signed-requests.js';

/**
 * Stripe's deliveries and the orchestrator's callbacks, signed as they sign them, to the
 * real webhook and callback handlers over a handler harness: for tests that count what
 * one request costs or wakes.
 */
export const INTAKE_WEBHOOK_SECRET = 'whsec_intake_0123456789abcdef';
export const INTAKE_CALLBACK_SECRET = 'callback-intake-secret';

export interface Intake {
  /** Delivers a Stripe event as Stripe does; answers the status and the parsed body. */
  deliver(event: object): Promise<{ statusCode: number; body: Record<string, unknown> }>;
  /** Posts an orchestrator callback body, signed with the callback secret. */
  report(body: CallbackBody): Promise<{ statusCode: number; body: Record<string, unknown> }>;
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
      const request = signedStripeDelivery(event, INTAKE_WEBHOOK_SECRET, h.now());
      return answer(await webhook(request, lambdaContext()));
    },
    async report(callbackBody) {
      const request = signedCallback(callbackBody, INTAKE_CALLBACK_SECRET, h.now());
      return answer(await callback(request, lambdaContext()));
    },
  };
}
