import { type CallbackBody, callbackBody } from '../functions/core/callback-body.js';
import { describeIssues } from '../functions/core/errors.js';
import { signProvisioningBody } from '../functions/core/signatures.js';
import { HEADERS } from './headers.js';

/** A callback ready to POST to the trigger payload's `callback_url`: `fetch(url, { method: 'POST', ...signed })`. */
export interface SignedCallback {
  readonly body: string;
  readonly headers: {
    readonly 'Content-Type': 'application/json';
    readonly [HEADERS.timestamp]: string;
    readonly [HEADERS.signature]: string;
  };
}

/** The report would be refused by the callback route (400); the message names the field. */
export class InvalidCallbackError extends Error {
  override readonly name = 'InvalidCallbackError';
}

/**
 * Signs a callback (SPEC 2.2) as the callback route verifies it: timestamped, the
 * lowercase hex HMAC-SHA256 of `"<timestamp>.<body>"` with the callback secret. Checks
 * the report first, so a malformed one fails here, not as a 400 in production.
 */
export function signCallback(
  report: CallbackBody,
  secret: string,
  now: Date = new Date(),
): SignedCallback {
  const checked = callbackBody.safeParse(report);
  if (!checked.success) throw new InvalidCallbackError(describeIssues(checked.error.issues));
  const body = JSON.stringify(report);
  const { timestamp, signature } = signProvisioningBody(body, secret, now);
  return {
    body,
    headers: {
      'Content-Type': 'application/json',
      [HEADERS.timestamp]: timestamp,
      [HEADERS.signature]: signature,
    },
  };
}
