/**
 * Which Stripe mode a deployment serves (SPEC 2.4): `live` in production, `test`
 * otherwise. An event of the other mode is refused. Kept apart from the Stripe event
 * reader so configuration can name the modes without bundling the Stripe library.
 */
export const STRIPE_MODES = ['live', 'test'] as const;

export type StripeMode = (typeof STRIPE_MODES)[number];

/** The `livemode` every event of this mode carries. */
export function livemodeOf(mode: StripeMode): boolean {
  return mode === 'live';
}
