import { randomUUID } from 'node:crypto';
import type { EventBridgeEvent } from 'aws-lambda';

/** The partner event source of the local runtime's stand-in for Stripe's event destination. */
export const LOCAL_STRIPE_EVENT_SOURCE = 'aws.partner/stripe.com/ed_test_local';

/**
 * A Stripe event as Amazon EventBridge delivers it from Stripe's event destination:
 * the EventBridge envelope, the source being the partner event source, the
 * `detail-type` the Stripe event type, and the whole Stripe event under `detail`.
 */
export function eventBridgeDelivery(
  stripeEvent: { readonly type: string } & Record<string, unknown>,
  options: { readonly source?: string; readonly account?: string; readonly region?: string } = {},
): EventBridgeEvent<string, unknown> {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': stripeEvent.type,
    source: options.source ?? LOCAL_STRIPE_EVENT_SOURCE,
    account: options.account ?? '000000000000',
    time: new Date().toISOString(),
    region: options.region ?? 'local',
    resources: [],
    detail: stripeEvent,
  };
}
