import { createHmac, timingSafeEqual } from 'node:crypto';

/** A body as sent: text (UTF-8 when hashed) or the exact bytes received. */
export type RawBody = string | Uint8Array;

/** Lowercase hex HMAC-SHA256: the signature both directions of the orchestrator contract use. */
export function hmacHex(secret: string, message: RawBody): string {
  const hmac = createHmac('sha256', secret);
  if (typeof message === 'string') hmac.update(message, 'utf8');
  else hmac.update(message);
  return hmac.digest('hex');
}

/**
 * What a signature covers: `"<timestamp>.<body>"` when timestamped, else the raw body.
 * Bytes stay bytes, so a body that is not valid UTF-8 is hashed as sent, not as decoded.
 */
export function signedContent(rawBody: RawBody, timestamp?: string): RawBody {
  if (timestamp === undefined) return rawBody;
  if (typeof rawBody === 'string') return `${timestamp}.${rawBody}`;
  return Buffer.concat([Buffer.from(`${timestamp}.`, 'utf8'), rawBody]);
}

/**
 * Signs a body for either direction of the orchestrator contract, always timestamped:
 * a trigger (SPEC 2.3) and a callback (SPEC 2.2) are signed alike.
 */
export function signProvisioningBody(
  rawBody: string,
  secret: string,
  now: Date,
): { timestamp: string; signature: string } {
  const timestamp = String(Math.floor(now.getTime() / 1000));
  return { timestamp, signature: hmacHex(secret, signedContent(rawBody, timestamp)) };
}

export type SignatureCheck = 'valid' | 'mismatch' | 'expired' | 'malformed';

export interface ProvisioningSignature {
  readonly rawBody: RawBody;
  readonly signature: string | undefined;
  readonly timestamp: string | undefined;
  /** Secrets that may have signed it (the callback secret, or the trigger secret when unset). */
  readonly secrets: readonly string[];
  readonly now: Date;
  readonly toleranceSeconds?: number;
}

const HEX_SHA256 = /^[0-9a-f]{64}$/;

/**
 * Checks an `X-Provisioning-Signature` (SPEC 2.2) in constant time. When a timestamp
 * is present it is covered by the signature and must be within the tolerance.
 */
export function checkProvisioningSignature(input: ProvisioningSignature): SignatureCheck {
  const { signature, timestamp } = input;
  if (!signature || !HEX_SHA256.test(signature)) return 'malformed';
  if (timestamp !== undefined) {
    if (!/^\d{1,12}$/.test(timestamp)) return 'malformed';
    const skew = Math.abs(input.now.getTime() / 1000 - Number(timestamp));
    if (skew > (input.toleranceSeconds ?? 300)) return 'expired';
  }
  const given = Buffer.from(signature, 'hex');
  const content = signedContent(input.rawBody, timestamp);
  const matches = input.secrets.some((secret) =>
    timingSafeEqual(Buffer.from(hmacHex(secret, content), 'hex'), given),
  );
  return matches ? 'valid' : 'mismatch';
}
