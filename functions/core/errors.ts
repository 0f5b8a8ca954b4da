/**
 * Errors a handler answers with a status of their own. Only these reach a caller's
 * response; anything else is logged and answered with a bare 500, so internals
 * never leak.
 */
export abstract class ClientFacingError extends Error {
  abstract readonly status: number;
}

/** The request is malformed; the message names what is wrong. Nothing was written. */
export class InvalidInputError extends ClientFacingError {
  override readonly name = 'InvalidInputError';
  readonly status = 400;
}

export class SignatureError extends ClientFacingError {
  override readonly name = 'SignatureError';
  /** Stripe's contract answers a bad signature with 400; ours (the callback) with 401. */
  constructor(
    message: string,
    readonly status: 400 | 401,
  ) {
    super(message);
  }
}

export class NotFoundError extends ClientFacingError {
  override readonly name = 'NotFoundError';
  readonly status = 404;
}

export class ConflictError extends ClientFacingError {
  override readonly name = 'ConflictError';
  readonly status = 409;
}

/** A secret the route needs is not configured: the caller may retry once it is. */
export class NotConfiguredError extends ClientFacingError {
  override readonly name = 'NotConfiguredError';
  readonly status = 503;
}

/** Names the fields of a zod error as `field.path: message; …`. */
export function describeIssues(
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
): string {
  return issues
    .map(
      (issue) =>
        `${issue.path.length ? issue.path.map(String).join('.') : 'body'}: ${issue.message}`,
    )
    .join('; ');
}
