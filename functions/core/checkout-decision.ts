import * as z from 'zod';
import { describeIssues } from './errors.js';
import { CHECKOUT_SESSION_ID } from './session-id.js';
import { boundedText } from './text.js';

/**
 * Which Checkout Sessions become tenants (SPEC 2.4, and the decision table in the
 * README): only this product's sessions (`metadata.package_slug` present), only in
 * `payment` or `subscription` mode, only once paid. Stripe types `mode` and
 * `payment_status` as open strings: a value this table does not know is refused, so
 * Stripe retries the event once the table knows it, instead of guessing today.
 */

/** The checkout events this product acts on, by Stripe event type. */
export const CHECKOUT_EVENT_TYPES = {
  'checkout.session.completed': 'completed',
  'checkout.session.async_payment_succeeded': 'async_payment_succeeded',
  'checkout.session.async_payment_failed': 'async_payment_failed',
} as const;

export type CheckoutEventType = (typeof CHECKOUT_EVENT_TYPES)[keyof typeof CHECKOUT_EVENT_TYPES];

export function checkoutEventTypeOf(type: string): CheckoutEventType | undefined {
  return Object.hasOwn(CHECKOUT_EVENT_TYPES, type)
    ? CHECKOUT_EVENT_TYPES[type as keyof typeof CHECKOUT_EVENT_TYPES]
    : undefined;
}

export const CHECKOUT_MODES = ['payment', 'subscription', 'setup'] as const;
export const PAYMENT_STATUSES = ['paid', 'unpaid', 'no_payment_required'] as const;

/** What the hand-off keeps of one of this product's checkout sessions. */
export interface CheckoutFacts {
  readonly stripeSessionId: string;
  /** `customer` (cus_…); null for a guest checkout or with Accounts v2. */
  readonly stripeCustomerId: string | null;
  /** Accounts v2: `customer_account` (acct_…), the customer when `customer` is null. */
  readonly stripeCustomerAccountId: string | null;
  readonly customerEmail: string | null;
  /** `metadata.package_slug`, mapped to a quota by the catalogue. */
  readonly packageSlug: string;
}

export type CheckoutDecision =
  /** Paid (or nothing to pay): record the job and hand it off. */
  | { readonly kind: 'settled'; readonly checkout: CheckoutFacts }
  /** Completed with a delayed payment method: the account waits, no job yet. */
  | { readonly kind: 'awaiting_payment'; readonly checkout: CheckoutFacts }
  | { readonly kind: 'payment_failed'; readonly checkout: CheckoutFacts }
  /** No `metadata.package_slug`: another product's session (or a bare `stripe trigger`). */
  | { readonly kind: 'not_ours'; readonly stripeSessionId: string }
  /** A setup-mode session saves a payment method; nothing was paid, nothing is provisioned. */
  | { readonly kind: 'setup_mode'; readonly stripeSessionId: string }
  /** A session of ours this product cannot read, or with a value it does not know. */
  | { readonly kind: 'refused'; readonly reason: string };

const blankToNull = (value: string | null | undefined) => (value?.trim() ? value : null);

// Stripe's ids run to 255 characters; an e-mail address to 254 (RFC 5321), with room to spare.
const stripeId = boundedText(255);
const email = boundedText(512);

/** The event's own fields this product reads, capped (SPEC 2.5a). */
export const STRIPE_EVENT_FIELDS = {
  id: stripeId.min(1),
  type: boundedText(255).min(1),
};

/** The fields of a checkout session this product reads, with their limits; the rest is dropped. */
export const CHECKOUT_SESSION_FIELDS = {
  id: z.string().regex(CHECKOUT_SESSION_ID, 'must be a Stripe checkout session id (cs_…)'),
  // Stripe caps metadata values at 500 characters.
  metadata: z.object({ package_slug: boundedText(500).nullish() }).nullish(),
  mode: boundedText(100),
  payment_status: boundedText(100),
  // A webhook never expands `customer` (a deleted one is `{id, deleted}`): the id is all that is kept.
  customer: z
    .union([stripeId, z.object({ id: stripeId }).transform((customer) => customer.id)], {
      error: `must be a customer id, or an object with one (${stripeId.maxLength} characters at most, no control characters)`,
    })
    .nullish(),
  customer_account: stripeId.nullish(),
  customer_email: email.nullish(),
  customer_details: z.object({ email: email.nullish() }).nullish(),
};
const { id: sessionId, metadata, ...paymentFields } = CHECKOUT_SESSION_FIELDS;

/** Enough of any session to tell whose it is. */
const sessionHead = z.object({
  data: z.object({ object: z.object({ id: sessionId, metadata }) }),
});

/** The fields of one of our sessions the hand-off reads. */
const ourSession = z.object({ data: z.object({ object: z.object(paymentFields) }) });

/** Reads the session of an authentic checkout event and decides what it means. */
export function decideCheckout(type: CheckoutEventType, event: unknown): CheckoutDecision {
  const head = sessionHead.safeParse(event);
  if (!head.success) return { kind: 'refused', reason: describeIssues(head.error.issues) };
  const { id: stripeSessionId, metadata } = head.data.data.object;
  const packageSlug = blankToNull(metadata?.package_slug);
  if (!packageSlug) return { kind: 'not_ours', stripeSessionId };

  const body = ourSession.safeParse(event);
  if (!body.success) return { kind: 'refused', reason: describeIssues(body.error.issues) };
  const session = body.data.data.object;
  const kind = settlementOf(type, session.mode, session.payment_status);
  if (typeof kind !== 'string') return kind;
  if (kind === 'setup_mode') return { kind, stripeSessionId };
  return {
    kind,
    checkout: {
      stripeSessionId,
      stripeCustomerId: blankToNull(session.customer),
      stripeCustomerAccountId: blankToNull(session.customer_account),
      customerEmail: blankToNull(session.customer_details?.email ?? session.customer_email),
      packageSlug,
    },
  };
}

/** The decision table for one of our sessions, by event type, `mode` and `payment_status`. */
function settlementOf(
  type: CheckoutEventType,
  mode: string,
  paymentStatus: string,
): 'settled' | 'awaiting_payment' | 'payment_failed' | 'setup_mode' | RefusedDecision {
  if (mode === 'setup') return 'setup_mode';
  if (mode !== 'payment' && mode !== 'subscription') {
    return unknownValue('mode', mode, CHECKOUT_MODES);
  }
  if (!(PAYMENT_STATUSES as readonly string[]).includes(paymentStatus)) {
    return unknownValue('payment_status', paymentStatus, PAYMENT_STATUSES);
  }
  switch (type) {
    case 'completed':
      return paymentStatus === 'unpaid' ? 'awaiting_payment' : 'settled';
    // The event itself says the delayed payment settled, whatever the snapshot's status.
    case 'async_payment_succeeded':
      return 'settled';
    case 'async_payment_failed':
      return 'payment_failed';
  }
}

type RefusedDecision = Extract<CheckoutDecision, { kind: 'refused' }>;

function unknownValue(field: string, value: string, known: readonly string[]): RefusedDecision {
  // JSON quoting keeps any character of Stripe's value printable (and storable).
  const shown = JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return {
    kind: 'refused',
    reason: `data.object.${field}: ${shown} is not a value this product knows (${known.join(', ')})`,
  };
}
