import * as z from 'zod';
import {
  type CheckoutFacts,
  checkoutEventTypeOf,
  decideCheckout,
  STRIPE_EVENT_FIELDS,
} from './checkout-decision.js';
import { describeIssues } from './errors.js';
import { livemodeOf, type StripeMode } from './stripe-mode.js';
import { referenceOf } from './text.js';

/**
 * What a Stripe webhook delivery means to the hand-off (SPEC 2.4): verified with
 * Stripe's own library over the exact bytes received, then read through the subset of
 * the event this product uses. Nothing else of the payload is kept: it carries
 * personal data.
 */

export type { CheckoutFacts } from './checkout-decision.js';

export type StripeCheckoutEvent =
  /** Paid (or nothing to pay): record the job and hand it off. */
  | CheckoutEventOf<'settled'>
  /** Completed with a delayed payment method: the account waits, no job yet. */
  | CheckoutEventOf<'awaiting_payment'>
  | CheckoutEventOf<'payment_failed'>
  | IgnoredStripeEvent
  | RejectedStripeEvent;

interface CheckoutEventOf<K extends string> {
  readonly kind: K;
  readonly eventId: string;
  readonly type: string;
  readonly checkout: CheckoutFacts;
}

/** Why an authentic event is answered 200 without any work. */
export type IgnoredReason =
  /** Not one of the checkout events this product acts on. */
  | 'unhandled_type'
  /** A thin payload (`v2.core.event`, the destination ping too): this product reads snapshots. */
  | 'thin_event'
  /** A session without `metadata.package_slug`: another product's checkout. */
  | 'not_ours'
  /** A setup-mode session: nothing was paid, it never provisions. */
  | 'setup_mode';

export interface IgnoredStripeEvent {
  readonly kind: 'ignored';
  readonly reason: IgnoredReason;
  readonly eventId: string;
  readonly type: string;
  /** The session it was about, when the event is one of a checkout session. */
  readonly stripeSessionId?: string;
}

/** Authenticated, but refused (400) and recorded, so Stripe retries it after a fix. */
export interface RejectedStripeEvent {
  readonly kind: 'rejected';
  /** `unreadable`: not an event this product can read; `wrong_mode`: of the mode it does not serve. */
  readonly cause: 'unreadable' | 'wrong_mode';
  readonly eventId: string | null;
  readonly type: string | null;
  readonly reason: string;
}

/** A thin event: its id and type, and a reference to fetch the rest (never fetched here). */
const thinEnvelope = z.object({ object: z.literal('v2.core.event'), ...STRIPE_EVENT_FIELDS });

/** A snapshot event: the object it is about is inside it, as it was when the event occurred. */
const snapshotEnvelope = z.object({
  ...STRIPE_EVENT_FIELDS,
  object: z.literal(
    'event',
    'must be "event" (a snapshot event) or "v2.core.event" (a thin event)',
  ),
  livemode: z.boolean(),
});

/**
 * Reads an authenticated event for a deployment serving `mode`: its kind for the
 * hand-off and the checkout facts it carries.
 */
export function classifyStripeEvent(payload: unknown, mode: StripeMode): StripeCheckoutEvent {
  const thin = thinEnvelope.safeParse(payload);
  if (thin.success) {
    return { kind: 'ignored', reason: 'thin_event', eventId: thin.data.id, type: thin.data.type };
  }
  const head = snapshotEnvelope.safeParse(payload);
  if (!head.success) {
    const claimed = (field: string) =>
      typeof payload === 'object' && payload !== null
        ? (referenceOf((payload as Record<string, unknown>)[field]) ?? null)
        : null;
    return {
      kind: 'rejected',
      cause: 'unreadable',
      // What the event says it is, when that can be kept as it is: the operator's lead.
      eventId: claimed('id'),
      type: claimed('type'),
      reason: describeIssues(head.error.issues),
    };
  }
  const { id: eventId, type, livemode } = head.data;
  if (livemode !== livemodeOf(mode)) {
    return {
      kind: 'rejected',
      cause: 'wrong_mode',
      eventId,
      type,
      reason: `livemode: ${livemode}, but this deployment serves Stripe ${mode} mode`,
    };
  }
  const checkoutType = checkoutEventTypeOf(type);
  if (!checkoutType) return { kind: 'ignored', reason: 'unhandled_type', eventId, type };

  const decision = decideCheckout(checkoutType, payload);
  switch (decision.kind) {
    case 'refused':
      return { kind: 'rejected', cause: 'unreadable', eventId, type, reason: decision.reason };
    case 'not_ours':
    case 'setup_mode':
      return {
        kind: 'ignored',
        reason: decision.kind,
        eventId,
        type,
        stripeSessionId: decision.stripeSessionId,
      };
    default:
      return { kind: decision.kind, eventId, type, checkout: decision.checkout };
  }
}

/** The checkout session an event is about, when it is known (for log correlation). */
export function sessionIdOf(event: StripeCheckoutEvent): string | undefined {
  if ('checkout' in event) return event.checkout.stripeSessionId;
  return event.kind === 'ignored' ? event.stripeSessionId : undefined;
}
