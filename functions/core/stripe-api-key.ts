import type { StripeMode } from './stripe-mode.js';

/**
 * A Stripe API key as the product reads it: a secret key (`sk_…`) or, as advised, a
 * restricted one (`rk_…`) that can only read checkout sessions. The stack creates its
 * secret with a random placeholder until someone fills it, so a value that is not a
 * Stripe key means "not configured", never a key to try.
 */
const STRIPE_API_KEY = /^(sk|rk)_(test|live)_[A-Za-z0-9_]+$/;

/** The mode a Stripe API key belongs to, or undefined when the value is no Stripe key. */
export function stripeKeyMode(value: string): StripeMode | undefined {
  const mode = STRIPE_API_KEY.exec(value)?.[2];
  return mode === 'live' || mode === 'test' ? mode : undefined;
}

export type StripeKeyProblem = 'missing' | 'not_a_key' | 'other_mode';

/**
 * Why a configured value cannot serve a deployment of `mode`, or undefined when it
 * can: a test key never lists a live deployment's sessions (nor the reverse), so
 * using one would report every paid checkout as absent.
 */
export function stripeKeyProblem(
  value: string | undefined,
  mode: StripeMode,
): StripeKeyProblem | undefined {
  if (!value) return 'missing';
  const keyMode = stripeKeyMode(value);
  if (!keyMode) return 'not_a_key';
  return keyMode === mode ? undefined : 'other_mode';
}

/** What an operator reads about a key problem: never the value. */
export function describeStripeKeyProblem(problem: StripeKeyProblem, mode: StripeMode): string {
  switch (problem) {
    case 'missing':
      return 'no Stripe API key is configured';
    case 'not_a_key':
      return 'the Stripe API key secret holds no Stripe key (sk_… or rk_…)';
    case 'other_mode':
      return `the Stripe API key is not a ${mode}-mode key, and this deployment serves Stripe ${mode} mode`;
  }
}
