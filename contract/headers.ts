/** The headers of the trigger and callback contract (SPEC 2.2, 2.3). */
export const HEADERS = {
  /** Lowercase hex HMAC-SHA256, over `"<timestamp>.<body>"` when timestamped. */
  signature: 'X-Provisioning-Signature',
  /** Unix seconds, signed with the body: required on a trigger and on a callback. */
  timestamp: 'X-Provisioning-Timestamp',
  /** On a trigger: the job id, the same on every re-drive. */
  idempotencyKey: 'Idempotency-Key',
} as const;

/** How far a signature's timestamp may be from now, in either direction (SPEC 2.2, 2.5a). */
export const SIGNATURE_TOLERANCE_SECONDS = 300;
