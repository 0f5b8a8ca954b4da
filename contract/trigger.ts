import { describeIssues } from '../functions/core/errors.js';
import { parseJson } from '../functions/core/json.js';
import { type OnboardingInput, onboardingInput } from '../functions/core/onboarding-input.js';
import {
  checkProvisioningSignature,
  type RawBody,
  type SignatureCheck,
} from '../functions/core/signatures.js';
import { HEADERS, SIGNATURE_TOLERANCE_SECONDS } from './headers.js';

/** A fetch `Headers`, or Node's `request.headers` (names in any case). */
export type HeadersLike =
  | Pick<Headers, 'get'>
  | Readonly<Record<string, string | readonly string[] | undefined>>;

export interface TriggerRequest {
  /** The body exactly as received: the signature covers these bytes, not a re-serialisation. */
  readonly body: RawBody;
  readonly headers: HeadersLike;
}

export interface TriggerVerificationOptions {
  /** The trigger secret; during a rotation both values, so neither is refused. */
  readonly secret: string | readonly string[];
  /** The clock the timestamp is judged by. */
  readonly now?: Date;
}

export type TriggerVerification =
  | {
      readonly ok: true;
      readonly input: OnboardingInput;
      /** The job id: deduplicate on it, every re-drive of the job carries the same one. */
      readonly idempotencyKey: string;
    }
  | {
      readonly ok: false;
      /** What to answer: 401 for the signature, 400 for the body. Both are final for the sender. */
      readonly status: 400 | 401;
      readonly reason: string;
    };

/** Why a signature was refused, in words that name the header and the likely cause. */
export const SIGNATURE_REFUSALS: Record<Exclude<SignatureCheck, 'valid'>, string> = {
  malformed: `${HEADERS.signature} must be 64 lowercase hex characters and ${HEADERS.timestamp} unix seconds`,
  expired: `${HEADERS.timestamp} is more than ${SIGNATURE_TOLERANCE_SECONDS} seconds away from now: a replay, or a clock that is off`,
  mismatch: `${HEADERS.signature} does not match the body: another secret, or a body changed on the way`,
};

/**
 * Verifies a trigger (SPEC 2.3) the way an orchestrator must, before reading anything
 * of it: the signature over `"<timestamp>.<body>"` in constant time, the timestamp
 * within 300 s either way, then the body as an OnboardingInput. A trigger is always
 * timestamped, so one without is refused.
 */
export function verifyTrigger(
  request: TriggerRequest,
  options: TriggerVerificationOptions,
): TriggerVerification {
  const timestamp = headerOf(request.headers, HEADERS.timestamp);
  const signature = headerOf(request.headers, HEADERS.signature);
  if (timestamp === undefined) return refuse(401, `${HEADERS.timestamp} is missing`);
  if (signature === undefined) return refuse(401, `${HEADERS.signature} is missing`);
  const check = checkProvisioningSignature({
    rawBody: request.body,
    signature,
    timestamp,
    secrets: typeof options.secret === 'string' ? [options.secret] : options.secret,
    now: options.now ?? new Date(),
    toleranceSeconds: SIGNATURE_TOLERANCE_SECONDS,
  });
  if (check !== 'valid') return refuse(401, SIGNATURE_REFUSALS[check]);

  const text =
    typeof request.body === 'string' ? request.body : new TextDecoder().decode(request.body);
  const parsed = onboardingInput.safeParse(parseJson(text));
  if (!parsed.success) return refuse(400, describeIssues(parsed.error.issues));
  const key = headerOf(request.headers, HEADERS.idempotencyKey);
  if (key !== undefined && key !== parsed.data.job_id) {
    return refuse(400, `${HEADERS.idempotencyKey} must be the job id of the body (job_id)`);
  }
  return { ok: true, input: parsed.data, idempotencyKey: parsed.data.job_id };
}

export function headerOf(headers: HeadersLike, name: string): string | undefined {
  if (typeof headers.get === 'function') return headers.get(name) ?? undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers as Record<string, unknown>)) {
    if (key.toLowerCase() !== wanted) continue;
    if (typeof value === 'string') return value;
    if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  }
  return undefined;
}

function refuse(status: 400 | 401, reason: string): TriggerVerification {
  return { ok: false, status, reason };
}
