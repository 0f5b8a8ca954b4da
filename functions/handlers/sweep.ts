import type { SecretSource } from '../adapters/secrets.js';
import {
  type CheckoutSessionSource,
  StripeCheckoutSessions,
  stripeClient,
} from '../adapters/stripe-checkout-sessions.js';
import { awsCheckoutIntakeDependencies, awsConfig, awsSecrets, lazyHandler } from '../aws.js';
import { NotConfiguredError } from '../core/errors.js';
import { describeStripeKeyProblem, stripeKeyProblem } from '../core/stripe-api-key.js';
import {
  type SweepDependencies,
  type SweepSummary,
  sweepCheckouts,
} from '../services/checkout-sweep.js';
import { realTimer } from '../services/reconcile.js';
import { lambdaHandler } from './middleware.js';

export interface SweepHandlerDependencies extends Omit<SweepDependencies, 'sessions'> {
  readonly secrets: SecretSource;
  readonly lookbackSeconds: number;
  /** Stripe's checkout sessions read with this key (the `stripe` library, or a test's). */
  readonly sessionsFor: (apiKey: string) => CheckoutSessionSource;
}

/**
 * Kept free at the end of the invocation: a page's recording after Aurora resumed,
 * releasing the pass, and the metrics flush.
 */
export const SWEEP_SAFETY_MARGIN_MS = 60_000;

/**
 * The EventBridge Scheduler invocation (hourly by default). Without a usable Stripe key
 * the run fails naming the secret, so the function's error alarm tells whoever turned
 * the schedule on that the safety net is not there; the schedule stays off until the
 * stack is told the key is configured (`stripeApiKeyConfigured`).
 */
export function createSweepHandler(deps: SweepHandlerDependencies) {
  const timer = deps.timer ?? realTimer;
  return lambdaHandler<unknown, SweepSummary>(async (_event, context) => {
    const apiKey = await deps.secrets.get('stripeApiKey');
    const problem = stripeKeyProblem(apiKey, deps.stripeMode);
    if (problem || !apiKey) {
      throw new NotConfiguredError(
        `the missed-checkout sweep cannot read Stripe: ${describeStripeKeyProblem(problem ?? 'missing', deps.stripeMode)}; fill the StripeApiKeySecretArn secret with a restricted key that can read Checkout Sessions`,
      );
    }
    const remainingMs = context.getRemainingTimeInMillis();
    return sweepCheckouts(
      { ...deps, timer, sessions: deps.sessionsFor(apiKey) },
      {
        lookbackSeconds: deps.lookbackSeconds,
        deadline: timer.now() + remainingMs - SWEEP_SAFETY_MARGIN_MS,
        // The pass is held for the whole invocation, and a little after a crash.
        leaseSeconds: Math.ceil(remainingMs / 1000) + 60,
      },
    );
  });
}

export const handler = lazyHandler(() => {
  const config = awsConfig();
  return createSweepHandler({
    ...awsCheckoutIntakeDependencies(config),
    secrets: awsSecrets(config),
    lookbackSeconds: config.sweep.lookbackSeconds,
    sessionsFor: (apiKey) =>
      new StripeCheckoutSessions(stripeClient(apiKey, { apiUrl: config.stripeApiUrl })),
  });
});
