import Stripe from 'stripe';
import { z } from 'zod';
import { describeIssues, SignatureError } from './errors.js';
import { CHECKOUT_SESSION_ID } from './session-id.js';

/**
 * What a Stripe webhook delivery means to the hand-off (SPEC 2.4): verified with
 * Stripe's own library over the exact bytes received, then read through the subset of
 * the event this product uses. Nothing else of the payload is kept: it carries
 * personal data.
 */

/** A Stripe Checkout session id, as the status route and the job read accept it. */

/** What the hand-off keeps of a checkout session. */
export interface CheckoutFacts {
  readonly stripeSessionId: string;
  readonly stripeCustomerId: string | null;
  readonly customerEmail: string | null;
  /** `metadata.package_slug`, mapped to a quota by the catalogue; null when absent. */
  readonly packageSlug: string | null;
}

export type StripeCheckoutEvent =
  /** Paid (or nothing to pay): record the job and hand it off. */
  | CheckoutEventOf<'settled'>
  /** Completed with a delayed payment method: the account waits, no job yet. */
  | CheckoutEventOf<'awaiting_payment'>
  | CheckoutEventOf<'payment_failed'>
  | { readonly kind: 'ignored'; readonly eventId: string; readonly type: string }
  /** Authenticated, but not an event this product can read: refused and recorded. */
  | {
      readonly kind: 'rejected';
      readonly eventId: string | null;
      readonly type: string | null;
      readonly reason: string;
    };

interface CheckoutEventOf<K extends string> {
  readonly kind: K;
  readonly eventId: string;
  readonly type: string;
  readonly checkout: CheckoutFacts;
}

export interface StripeDelivery {
  /** The request body exactly as received (after base64 decoding, never re-serialised). */
  readonly rawBody: Buffer;
  /** The `Stripe-Signature` header. */
  readonly signature: string | undefined;
}

/**
 * Verifies a delivery against every live webhook secret (several during a rotation)
 * with Stripe's default 300 s tolerance, measured at `receivedAt`, and reads the event.
 * Throws a 400 SignatureError that names the problem when no secret verifies it.
 */
export function readStripeDelivery(
  delivery: StripeDelivery,
  secrets: readonly string[],
  receivedAt: Date,
): StripeCheckoutEvent {
  if (delivery.rawBody.length === 0) throw new SignatureError('missing body', 400);
  if (!delivery.signature) throw new SignatureError('missing Stripe-Signature header', 400);
  const failures: string[] = [];
  for (const secret of secrets) {
    let payload: unknown;
    try {
      payload = Stripe.webhooks.constructEvent(
        delivery.rawBody,
        delivery.signature,
        secret,
        undefined,
        undefined,
        receivedAt.getTime(),
      );
    } catch (error) {
      if (error instanceof Stripe.errors.StripeSignatureVerificationError) {
        failures.push(firstSentence(error.message));
        continue;
      }
      // Stripe parses only after the signature verified: the body is authentic but not JSON.
      if (error instanceof SyntaxError) {
        return { kind: 'rejected', eventId: null, type: null, reason: 'body: not JSON' };
      }
      throw error;
    }
    return classifyStripeEvent(payload);
  }
  // Stripe reports an expired timestamp only for the secret whose signature matched:
  // that report says more than the other secrets' mismatches.
  const reason = failures.find((failure) => /tolerance/i.test(failure)) ?? failures[0];
  throw new SignatureError(`invalid Stripe-Signature: ${reason ?? 'not verified'}`, 400);
}

function firstSentence(message: string): string {
  return (message.split(/\.\s|\n/)[0] ?? message).trim().replace(/\.$/, '');
}

const CHECKOUT_TYPES = {
  'checkout.session.completed': 'completed',
  'checkout.session.async_payment_succeeded': 'async_payment_succeeded',
  'checkout.session.async_payment_failed': 'async_payment_failed',
} as const;

const envelope = z.object({ id: z.string().min(1), type: z.string().min(1) });

const blankToNull = (value: string | null | undefined) => (value?.trim() ? value : null);

/** The fields of a Checkout Session the hand-off reads; everything else is dropped. */
const checkoutSession = z.object({
  id: z.string().regex(CHECKOUT_SESSION_ID, 'must be a Stripe checkout session id (cs_…)'),
  payment_status: z.enum(['paid', 'unpaid', 'no_payment_required']),
  // A webhook never expands `customer`; an id or nothing is all that is kept either way.
  customer: z
    .union([z.string(), z.object({ id: z.string() }).transform((customer) => customer.id)])
    .nullish(),
  customer_email: z.string().nullish(),
  customer_details: z.object({ email: z.string().nullish() }).nullish(),
  metadata: z.object({ package_slug: z.string().nullish() }).nullish(),
});

const checkoutEventBody = z.object({ data: z.object({ object: checkoutSession }) });

/** Reads an authenticated event: its kind for the hand-off and the checkout facts it carries. */
export function classifyStripeEvent(payload: unknown): StripeCheckoutEvent {
  const head = envelope.safeParse(payload);
  if (!head.success) {
    return {
      kind: 'rejected',
      eventId: null,
      type: null,
      reason: describeIssues(head.error.issues),
    };
  }
  const { id: eventId, type } = head.data;
  const checkoutType = Object.hasOwn(CHECKOUT_TYPES, type)
    ? CHECKOUT_TYPES[type as keyof typeof CHECKOUT_TYPES]
    : undefined;
  if (!checkoutType) return { kind: 'ignored', eventId, type };

  const body = checkoutEventBody.safeParse(payload);
  if (!body.success) {
    return { kind: 'rejected', eventId, type, reason: describeIssues(body.error.issues) };
  }
  const session = body.data.data.object;
  const checkout: CheckoutFacts = {
    stripeSessionId: session.id,
    stripeCustomerId: blankToNull(session.customer),
    customerEmail: blankToNull(session.customer_details?.email ?? session.customer_email),
    packageSlug: blankToNull(session.metadata?.package_slug),
  };
  switch (checkoutType) {
    case 'completed':
      return {
        kind: session.payment_status === 'unpaid' ? 'awaiting_payment' : 'settled',
        eventId,
        type,
        checkout,
      };
    // The event itself says the delayed payment settled, whatever the snapshot's status.
    case 'async_payment_succeeded':
      return { kind: 'settled', eventId, type, checkout };
    case 'async_payment_failed':
      return { kind: 'payment_failed', eventId, type, checkout };
  }
}
