import { splitSecretList } from '../adapters/secrets.js';
import { awsCheckoutIntakeDependencies, awsConfig, awsSecrets, lazyHandler } from '../aws.js';
import { NotConfiguredError, SignatureError } from '../core/errors.js';
import { type StripeCheckoutEvent, sessionIdOf } from '../core/stripe-checkout.js';
import { readStripeDelivery } from '../core/stripe-delivery.js';
import { type HttpEvent, type HttpResult, header, json, rawBody } from '../http.js';
import { tagLogs } from '../observability.js';
import { handleStripeEvent, type StripeWebhookDependencies } from '../services/checkout-handoff.js';
import { httpHandler } from './middleware.js';

/**
 * `POST /api/webhooks/stripe`: 200 for every verified event (ignored types, thin
 * events and other products' sessions too), 400 for a bad signature, an event it
 * cannot read or one of the other Stripe mode, 503 without a webhook secret, 500 for
 * a transient fault so Stripe retries.
 */
export async function answerStripeWebhook(
  deps: StripeWebhookDependencies,
  event: HttpEvent,
): Promise<HttpResult> {
  const stripeEvent = await verify(deps, event);
  tagLogs({
    stripeEventId: stripeEvent.eventId ?? undefined,
    stripeSessionId: sessionIdOf(stripeEvent),
  });
  const result = await handleStripeEvent(deps, stripeEvent);
  if ('jobId' in result) tagLogs({ jobId: result.jobId });
  return json(200, { received: true, outcome: result.outcome });
}

/** Verifies the delivery with every live webhook secret (several during a rotation). */
async function verify(
  deps: StripeWebhookDependencies,
  event: HttpEvent,
): Promise<StripeCheckoutEvent> {
  const secrets = splitSecretList(await deps.secrets.get('stripeWebhookSecrets'));
  if (secrets.length === 0) {
    throw new NotConfiguredError('the Stripe webhook secret is not configured');
  }
  try {
    const delivery = { rawBody: rawBody(event), signature: header(event, 'Stripe-Signature') };
    return readStripeDelivery(delivery, secrets, deps.clock(), deps.stripeMode);
  } catch (error) {
    if (error instanceof SignatureError) deps.telemetry.count('StripeSignatureRejected');
    throw error;
  }
}

export function createStripeWebhookHandler(deps: StripeWebhookDependencies) {
  return httpHandler((event) => answerStripeWebhook(deps, event), {
    route: 'stripeWebhook',
    telemetry: deps.telemetry,
  });
}

export const handler = lazyHandler(() => {
  const config = awsConfig();
  return createStripeWebhookHandler({
    ...awsCheckoutIntakeDependencies(config),
    secrets: awsSecrets(config),
  });
});
