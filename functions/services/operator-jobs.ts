import { createHash, randomUUID } from 'node:crypto';
import * as z from 'zod';
import { ConflictError, describeIssues, InvalidInputError } from '../core/errors.js';
import type { Actor } from '../core/job.js';
import { parseJson } from '../core/json.js';
import { boundedText, referenceOf } from '../core/text.js';
import { isPackageInCatalogue } from '../db/catalogue-repository.js';
import { claimOperatorRequest } from '../db/operator-requests-repository.js';
import { ROUTES } from '../routes.js';
import { type CheckoutHandoffDependencies, recordAndHandOff } from './checkout-handoff.js';
import { keepRejection } from './rejections.js';

/**
 * Jobs an operator asks for (comped or manual tenants): the same path as a paid
 * checkout, under a synthetic session id, made idempotent by the caller's key.
 */

export function statusUrlFor(stripeSessionId: string): string {
  return `${ROUTES.status.path}?session_id=${encodeURIComponent(stripeSessionId)}`;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export const operatorJobRequest = z.strictObject({
  package_slug: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be a package slug'),
  customer_email: z.email().max(254),
  reason: boundedText(500).trim().min(1).optional(),
});
export type OperatorJobRequest = z.infer<typeof operatorJobRequest>;

export interface OperatorJobSubmission {
  /** The `Idempotency-Key` header, as received. */
  readonly idempotencyKey: string | undefined;
  /** The request body, as received. */
  readonly body: string;
  readonly actor: Actor;
}

export interface OperatorJob {
  readonly jobId: string;
  readonly stripeSessionId: string;
  readonly statusUrl: string;
}

/**
 * Records and hands off the job an operator asks for. The same key with the same body
 * is the same job (also when identical requests race); the same key with another body
 * is a 409. Claiming the key and recording the job are each one idempotent statement,
 * so a crash between them is completed by the operator's retry.
 */
export async function submitOperatorJob(
  deps: CheckoutHandoffDependencies,
  submission: OperatorJobSubmission,
): Promise<OperatorJob> {
  const { idempotencyKey, actor } = submission;
  const reject = (reason: string) =>
    refuse(deps, { reference: referenceOf(idempotencyKey) ?? null, reason, actor });
  if (idempotencyKey === undefined) return reject('Idempotency-Key: header is required');
  if (!IDEMPOTENCY_KEY.test(idempotencyKey)) {
    return reject('Idempotency-Key: must be 1 to 255 visible ASCII characters');
  }
  const body = parseJson(submission.body);
  if (body === undefined) return reject('body: must be a JSON object');
  const parsed = operatorJobRequest.safeParse(body);
  if (!parsed.success) return reject(describeIssues(parsed.error.issues));
  const request = parsed.data;
  // Unlike a Stripe checkout, an operator can fix a wrong package: refuse rather than record.
  if (!(await isPackageInCatalogue(deps.db, request.package_slug))) {
    return reject(`package_slug: no package '${request.package_slug}' in the catalogue`);
  }

  const requestHash = hashRequest(request);
  const claim = await claimOperatorRequest(
    deps.db,
    {
      idempotencyKey,
      requestHash,
      stripeSessionId: `op_${randomUUID().replaceAll('-', '')}`,
      actor,
    },
    deps.clock(),
  );
  if (claim.requestHash !== requestHash) {
    throw new ConflictError(
      `Idempotency-Key '${idempotencyKey}' was already used with a different body`,
    );
  }
  // Also on a replay: recording is idempotent, and completes a request whose first try
  // stopped after the claim.
  const job = await recordAndHandOff(
    deps,
    {
      stripeSessionId: claim.stripeSessionId,
      stripeCustomerId: null,
      stripeCustomerAccountId: null,
      customerEmail: request.customer_email,
      packageSlug: request.package_slug,
      reason: request.reason,
    },
    actor,
    { idempotencyKey },
  );
  deps.log.info('operator job requested', {
    jobId: job.jobId,
    stripeSessionId: job.stripeSessionId,
    idempotencyKey,
    actor,
    replay: !claim.created,
    reason: request.reason,
  });
  return {
    jobId: job.jobId,
    stripeSessionId: job.stripeSessionId,
    statusUrl: statusUrlFor(job.stripeSessionId),
  };
}

/** The request's meaning, not its bytes: key order and whitespace do not make a conflict. */
function hashRequest(request: OperatorJobRequest): string {
  const canonical = JSON.stringify([
    request.package_slug,
    request.customer_email,
    request.reason ?? null,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

async function refuse(
  deps: CheckoutHandoffDependencies,
  rejection: { reference: string | null; reason: string; actor: Actor },
): Promise<never> {
  await keepRejection(
    deps,
    { source: 'operator_api', reference: rejection.reference, reason: rejection.reason },
    { actor: rejection.actor },
  );
  throw new InvalidInputError(rejection.reason);
}
