import Stripe from 'stripe';
import { parseRetryAfter } from '../core/attempts.js';

/**
 * Stripe's own records of checkout sessions, read through the `stripe` library with
 * a restricted key that can only read them. The sweep lists completed sessions a page
 * at a time. Tests and the local runtime point the same library at a stand-in
 * (`apiUrl`).
 */

/** A session as Stripe lists it: read by `decideListedSession`, never stored whole. */
export type ListedSession = { readonly id: string } & Readonly<Record<string, unknown>>;

export interface CheckoutSessionQuery {
  /** The window on the sessions' `created` time, both ends included. */
  readonly createdFrom: Date;
  readonly createdTo: Date;
  /** The last session of the previous page (Stripe's cursor); newest first. */
  readonly startingAfter?: string | undefined;
  readonly limit: number;
}

export interface CheckoutSessionPage {
  readonly sessions: readonly ListedSession[];
  readonly hasMore: boolean;
}

export interface CheckoutSessionSource {
  /** One page of completed sessions, newest first. */
  listCompleted(query: CheckoutSessionQuery): Promise<CheckoutSessionPage>;
}

/** Stripe answered 429: wait at least `retryAfterSeconds` (when it said) before asking again. */
export class StripeRateLimitedError extends Error {
  override readonly name = 'StripeRateLimitedError';
  constructor(readonly retryAfterSeconds: number | undefined) {
    super(
      `Stripe rate-limited the request${retryAfterSeconds === undefined ? '' : ` (Retry-After: ${retryAfterSeconds} s)`}`,
    );
  }
}

/** Stripe refused the key (401) or its permissions (403): retrying cannot help. */
export class StripeKeyRefusedError extends Error {
  override readonly name = 'StripeKeyRefusedError';
}

export interface StripeClientOptions {
  /** Another Stripe API base, e.g. a local stand-in (`http://127.0.0.1:12111`). */
  readonly apiUrl?: string | undefined;
  readonly timeoutMs?: number;
  /** The library's own retries of connection faults, 409 and 5xx (with its backoff). */
  readonly maxNetworkRetries?: number;
}

/** A client of the `stripe` library with this product's defaults. */
export function stripeClient(apiKey: string, options: StripeClientOptions = {}): Stripe {
  const base = options.apiUrl ? new URL(options.apiUrl) : undefined;
  return new Stripe(apiKey, {
    maxNetworkRetries: options.maxNetworkRetries ?? 2,
    timeout: options.timeoutMs ?? 20_000,
    ...(base
      ? {
          host: base.hostname,
          port: Number(base.port || (base.protocol === 'http:' ? 80 : 443)),
          protocol: base.protocol === 'http:' ? 'http' : 'https',
        }
      : {}),
  });
}

export class StripeCheckoutSessions implements CheckoutSessionSource {
  constructor(private readonly stripe: Stripe) {}

  async listCompleted(query: CheckoutSessionQuery): Promise<CheckoutSessionPage> {
    try {
      const page = await this.stripe.checkout.sessions.list({
        status: 'complete',
        created: {
          gte: Math.floor(query.createdFrom.getTime() / 1000),
          lte: Math.floor(query.createdTo.getTime() / 1000),
        },
        limit: query.limit,
        ...(query.startingAfter ? { starting_after: query.startingAfter } : {}),
      });
      return {
        sessions: page.data as unknown as ListedSession[],
        hasMore: page.has_more,
      };
    } catch (error) {
      throw classifyStripeError(error);
    }
  }
}

/** The library's errors the sweep acts on, as this module's; any other passes unchanged. */
function classifyStripeError(error: unknown): unknown {
  if (error instanceof Stripe.errors.StripeRateLimitError) {
    const header = error.headers?.['retry-after'];
    return new StripeRateLimitedError(
      parseRetryAfter(typeof header === 'string' ? header : undefined, new Date()),
    );
  }
  if (
    error instanceof Stripe.errors.StripeAuthenticationError ||
    error instanceof Stripe.errors.StripePermissionError
  ) {
    return new StripeKeyRefusedError(`Stripe refused the API key: ${error.message}`, {
      cause: error,
    });
  }
  return error;
}
