import { SignatureError } from './errors.js';

/**
 * The `Stripe-Signature` header read strictly before Stripe's library sees it: the
 * library reads any text as a header and throws plain errors on some shapes (an empty
 * `v1=`), which would answer 500 to a stranger. Stripe sends
 * `t=<unix seconds>,v1=<64 hex>[,v1=…][,v0=…]`.
 */

/** Longer than any header Stripe sends, several signatures during a rotation included. */
const MAX_HEADER_LENGTH = 1024;
const ITEM = /^([A-Za-z0-9_]+)=([\x21-\x2b\x2d-\x7e]*)$/;
const TIMESTAMP = /^\d{1,12}$/;
const SIGNATURE = /^[0-9a-f]{64}$/;

const MALFORMED =
  'invalid Stripe-Signature: malformed: expected t=<unix seconds>,v1=<64 hex digits>';

export interface StripeSignatureHeader {
  /** Unix seconds the sender signed at. */
  readonly timestamp: number;
}

/** Reads the header's shape, or throws a 400 that names it. */
export function readStripeSignatureHeader(header: string): StripeSignatureHeader {
  if (header.length > MAX_HEADER_LENGTH) {
    throw new SignatureError(
      `invalid Stripe-Signature: longer than ${MAX_HEADER_LENGTH} characters`,
      400,
    );
  }
  const timestamps: string[] = [];
  let signatures = 0;
  for (const item of header.split(',')) {
    const [, key, value = ''] = ITEM.exec(item) ?? [];
    if (!key) throw new SignatureError(MALFORMED, 400);
    if (key === 't') timestamps.push(value);
    if (key === 'v1') {
      if (!SIGNATURE.test(value)) throw new SignatureError(MALFORMED, 400);
      signatures += 1;
    }
  }
  const [timestamp] = timestamps;
  if (timestamps.length !== 1 || !timestamp || !TIMESTAMP.test(timestamp) || signatures === 0) {
    throw new SignatureError(MALFORMED, 400);
  }
  return { timestamp: Number(timestamp) };
}

/**
 * Stripe's library refuses a signature older than the tolerance; one signed further
 * ahead of this clock than that is refused here, so a signature made for the future
 * (a leaked secret, a replay prepared in advance) is never trusted.
 */
export function refuseFutureTimestamp(
  header: StripeSignatureHeader,
  receivedAt: Date,
  toleranceSeconds: number,
): void {
  const ahead = header.timestamp - Math.floor(receivedAt.getTime() / 1000);
  if (ahead > toleranceSeconds) {
    throw new SignatureError(
      `invalid Stripe-Signature: Timestamp outside the tolerance zone (${ahead} s ahead of this server's clock)`,
      400,
    );
  }
}
