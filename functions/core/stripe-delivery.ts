import Stripe from 'stripe';
import { SignatureError } from './errors.js';
import { classifyStripeEvent, type StripeCheckoutEvent } from './stripe-checkout.js';
import type { StripeMode } from './stripe-mode.js';
import { readStripeSignatureHeader, refuseFutureTimestamp } from './stripe-signature-header.js';

/**
 * A webhook delivery verified with Stripe's own library over the exact bytes received:
 * the one place that needs the library, so only the webhook's bundle carries it (the
 * EventBridge intake's events are authenticated by the bus).
 */

export interface StripeDelivery {
  /** The request body exactly as received (after base64 decoding, never re-serialised). */
  readonly rawBody: Buffer;
  /** The `Stripe-Signature` header. */
  readonly signature: string | undefined;
}

/**
 * Verifies a delivery against every live webhook secret (several during a rotation)
 * with Stripe's default 300 s tolerance, measured at `receivedAt` in both directions
 * (a malformed header is refused before Stripe's library reads it), and reads the event
 * for a deployment serving `mode`. Throws a 400 SignatureError that names the problem
 * when no secret verifies it.
 */
export function readStripeDelivery(
  delivery: StripeDelivery,
  secrets: readonly string[],
  receivedAt: Date,
  mode: StripeMode,
): StripeCheckoutEvent {
  if (delivery.rawBody.length === 0) throw new SignatureError('missing body', 400);
  if (!delivery.signature) throw new SignatureError('missing Stripe-Signature header', 400);
  const header = readStripeSignatureHeader(delivery.signature);
  const verifier = Stripe.webhooks.signature;
  if (!verifier) throw new Error('the Stripe library offers no webhook signature verifier');
  const failures: string[] = [];
  for (const secret of secrets) {
    try {
      // The check both `constructEvent` (snapshot events) and `parseEventNotification`
      // (thin events) run first; the body is read below, once it is known to be Stripe's.
      verifier.verifyHeader(
        delivery.rawBody,
        delivery.signature,
        secret,
        Stripe.webhooks.DEFAULT_TOLERANCE,
        undefined,
        receivedAt.getTime(),
      );
    } catch (error) {
      if (error instanceof Stripe.errors.StripeSignatureVerificationError) {
        failures.push(firstSentence(error.message));
        continue;
      }
      throw error;
    }
    refuseFutureTimestamp(header, receivedAt, Stripe.webhooks.DEFAULT_TOLERANCE);
    return readAuthenticBody(delivery.rawBody, mode);
  }
  // Stripe reports an expired timestamp only for the secret whose signature matched:
  // that report says more than the other secrets' mismatches.
  const reason = failures.find((failure) => /tolerance/i.test(failure)) ?? failures[0];
  throw new SignatureError(`invalid Stripe-Signature: ${reason ?? 'not verified'}`, 400);
}

function firstSentence(message: string): string {
  return (message.split(/\.\s|\n/)[0] ?? message).trim().replace(/\.$/, '');
}

/** Parses an authentic body as Stripe's library does (UTF-8 JSON) and classifies it. */
function readAuthenticBody(rawBody: Buffer, mode: StripeMode): StripeCheckoutEvent {
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder('utf8').decode(rawBody));
  } catch {
    return {
      kind: 'rejected',
      cause: 'unreadable',
      eventId: null,
      type: null,
      reason: 'body: not JSON',
    };
  }
  return classifyStripeEvent(payload, mode);
}
