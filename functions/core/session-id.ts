import * as z from 'zod';

/**
 * The sessions a job can belong to: a Stripe checkout (`cs_…`) or an operator's
 * request (`op_` and 32 hex digits, never confused with Stripe's). Kept apart from
 * the Stripe event schema so routes that only need the pattern do not bundle Stripe.
 */
export const CHECKOUT_SESSION_ID = /^cs_[A-Za-z0-9_]{1,250}$/;
export const OPERATOR_SESSION_ID = /^op_[0-9a-f]{32}$/;

export function isJobSessionId(value: string): boolean {
  return CHECKOUT_SESSION_ID.test(value) || OPERATOR_SESSION_ID.test(value);
}

const unanchored = (pattern: RegExp) => pattern.source.replace(/^\^|\$$/g, '');

export const jobSessionId = z
  .string()
  .refine(isJobSessionId, 'must be a checkout session id (cs_…) or an operator session id (op_…)')
  // The same rule as a pattern, for the JSON Schema documents (a refinement has none).
  .meta({
    pattern: `^(?:${unanchored(CHECKOUT_SESSION_ID)}|${unanchored(OPERATOR_SESSION_ID)})$`,
  });
