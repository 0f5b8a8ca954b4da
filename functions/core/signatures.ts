import { createHmac, timingSafeEqual } from 'node:crypto';

/** Lowercase hex HMAC-SHA256: the signature both directions of the orchestrator contract use. */
export function hmacHex(secret: string, message: string): string {
  return createHmac('sha256', secret).update(message, 'utf8').digest('hex');
}

/** What a signature covers: `"<timestamp>.<body>"` when timestamped, else the raw body. */
export function signedContent(rawBody: string, timestamp?: string): string {
  return timestamp === undefined ? rawBody : `${timestamp}.${rawBody}`;
}

/** Signs an outgoing trigger (SPEC 2.3): always timestamped. */
export function signTrigger(
  rawBody: string,
  secret: string,
  now: Date,
): { timestamp: string; signature: string } {
  const timestamp = String(Math.floor(now.getTime() / 1000));
  return { timestamp, signature: hmacHex(secret, signedContent(rawBody, timestamp)) };
}

export type SignatureCheck = 'valid' | 'mismatch' | 'expired' | 'malformed';

export interface ProvisioningSignature {
  readonly rawBody: string;
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
