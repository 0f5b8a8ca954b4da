import type { QuietMarker } from '../adapters/quiet-marker.js';
import { type SecretSource, splitSecretList } from '../adapters/secrets.js';
import { type DatabaseReport, parseCallbackBody } from '../core/callback-body.js';
import {
  InvalidInputError,
  NotConfiguredError,
  NotFoundError,
  SignatureError,
} from '../core/errors.js';
import { type CallbackReport, type JobStatus, ORCHESTRATOR_FAILED } from '../core/job.js';
import { checkProvisioningSignature, type SignatureCheck } from '../core/signatures.js';
import { applyCallback, type CallbackResult } from '../db/jobs/callbacks.js';
import { announce, type JobEvent } from './announcements.js';
import type { ServiceDependencies } from './dependencies.js';
import { wakeReconciler } from './quiet.js';
import { keepRejection } from './rejections.js';

/**
 * The orchestrator's callback (SPEC 2.2): verify the signature over the exact bytes,
 * then validate, then apply the report to the job in one statement, and only after it
 * commits tell subscribers. Every refusal writes nothing but the operator's trail of a
 * rejected body.
 */

export interface CallbackDependencies extends ServiceDependencies {
  readonly secrets: SecretSource;
  /**
   * Refuse a callback without `X-Provisioning-Timestamp` (a body signed alone can be
   * replayed forever). On unless a deployment turns it off while its orchestrator moves
   * to timestamped signatures (`requireCallbackTimestamp`).
   */
  readonly requireTimestamp?: boolean;
  /** Woken when a tenant database is reported after an idle period (`services/quiet.ts`). */
  readonly quiet: QuietMarker;
  /** Jitter for the backoff after a failed saga; Math.random unless a test fixes it. */
  readonly random?: () => number;
}

export interface SignedCallback {
  /** The body exactly as received: the signature covers these bytes. */
  readonly rawBody: Uint8Array;
  readonly signature: string | undefined;
  readonly timestamp: string | undefined;
}

export const NO_JOB_FOR_SESSION = 'no provisioning job for stripe_session_id';

const SIGNATURE_TOLERANCE_SECONDS = 300;

const UNTIMED =
  'X-Provisioning-Timestamp is missing: sign "<timestamp>.<body>" and send the timestamp';

const REFUSED_SIGNATURE: Record<Exclude<SignatureCheck, 'valid'>, string> = {
  malformed:
    'X-Provisioning-Signature must be 64 lowercase hex characters, and X-Provisioning-Timestamp (when sent) unix seconds',
  expired: `X-Provisioning-Timestamp is more than ${SIGNATURE_TOLERANCE_SECONDS} seconds away from now`,
  mismatch: 'X-Provisioning-Signature does not match the body',
};

/** Answers the job's status after the callback: `provisioned` for any report on a provisioned job. */
export async function receiveCallback(
  deps: CallbackDependencies,
  request: SignedCallback,
): Promise<{ readonly status: JobStatus }> {
  await verifySignature(deps, request);
  const { report, database } = await validateBody(deps, request.rawBody);
  return applyReport(deps, report, database);
}

async function verifySignature(deps: CallbackDependencies, request: SignedCallback): Promise<void> {
  // The trigger secret signs callbacks only while no dedicated callback secret is set:
  // locally; the stack always sets one and gives this function no trigger secret.
  // During a rotation the secret holds the new and the old value, comma-separated.
  const secrets = splitSecretList(
    (await deps.secrets.get('callbackSecret')) ?? (await deps.secrets.get('triggerSecret')),
  );
  if (secrets.length === 0) {
    deps.log.error('callback refused: neither the callback nor the trigger secret is configured');
    throw new NotConfiguredError('the callback secret is not configured; retry later');
  }
  const check = checkProvisioningSignature({
    rawBody: request.rawBody,
    signature: request.signature,
    timestamp: request.timestamp,
    secrets,
    now: deps.clock(),
    toleranceSeconds: SIGNATURE_TOLERANCE_SECONDS,
  });
  const untimed = request.timestamp === undefined && (deps.requireTimestamp ?? true);
  if (check === 'valid' && !untimed) return;
  deps.telemetry.count('CallbackSignatureRejected');
  deps.log.warn('callback signature rejected', { reason: check === 'valid' ? 'untimed' : check });
  throw new SignatureError(refusalOf(check, request), 401);
}

/** Why a callback is refused; a valid signature is refused only for its missing timestamp. */
function refusalOf(check: SignatureCheck, request: SignedCallback): string {
  if (!request.signature) return 'X-Provisioning-Signature is missing';
  return check === 'valid' ? UNTIMED : REFUSED_SIGNATURE[check];
}

async function validateBody(deps: CallbackDependencies, rawBody: Uint8Array) {
  const parsed = parseCallbackBody(rawBody);
  if (parsed.ok) return parsed;
  // The trail is for the operator; failing to keep it must not turn the caller's
  // mistake into a 5xx that it would retry forever.
  await keepRejection(deps, {
    source: 'callback',
    reference: parsed.stripeSessionId ?? null,
    reason: parsed.reason,
  }).catch((error: unknown) =>
    deps.log.error('could not record the rejected callback', { error: errorMessage(error) }),
  );
  throw new InvalidInputError(parsed.reason);
}

async function applyReport(
  deps: CallbackDependencies,
  report: CallbackReport,
  database: DatabaseReport | undefined,
): Promise<{ readonly status: JobStatus }> {
  const sessionId = report.stripeSessionId;
  const now = deps.clock();
  const result = await applyCallback(
    deps.db,
    report,
    now,
    deps.rules,
    deps.random,
    'orchestrator',
    database,
  );
  if (result.kind === 'unknown_session') {
    deps.log.warn('callback for an unknown session', { stripeSessionId: sessionId });
    throw new NotFoundError(NO_JOB_FOR_SESSION);
  }
  await wakeReconciler(deps.quiet, result.reconcilerQuietSince);
  const context = { stripeSessionId: sessionId, jobId: result.jobId };
  deps.log.info('callback applied', {
    ...context,
    reported: report.status,
    prior_status: result.priorStatus,
    status: result.status,
    applied: result.applied,
  });

  if (result.applied) {
    await announce(deps, transitionsOf(report, result, now));
  } else if (result.lateForCancelled) {
    deps.telemetry.count('CallbackForCancelledJob');
    deps.log.error(
      'the orchestrator reports a tenant for a cancelled job: kept in its history, not applied; an operator must decide (runbook: provisioning-stuck.md, cancelled jobs)',
      { ...context, reported_deployment_id: report.deploymentId, reported_cell_id: report.cellId },
    );
  } else if (report.status === 'provisioned') {
    warnOnOtherCoordinates(deps, report, result, context);
  }
  if (result.database === 'other_account') {
    deps.log.warn('database report names a database of another account; not recorded', {
      ...context,
      database_id: database?.id,
    });
  }
  return { status: result.status };
}

/** What subscribers (and the counters) hear of an applied report: provisioned, failed, capped. */
function transitionsOf(report: CallbackReport, job: AppliedCallback, occurredAt: Date): JobEvent[] {
  const ids = { jobId: job.jobId, stripeSessionId: report.stripeSessionId, occurredAt };
  const moved = job.priorStatus !== job.status;
  const error = report.error ?? ORCHESTRATOR_FAILED;
  const events: JobEvent[] = [];
  if (moved && job.status === 'provisioned') {
    events.push({
      ...ids,
      type: 'job.provisioned',
      detail: {
        deployment_id: report.deploymentId,
        cell_id: report.cellId,
        account_id: job.accountId,
      },
    });
  }
  if (moved && job.status === 'failed') {
    events.push({ ...ids, type: 'job.failed', detail: { error, account_id: job.accountId } });
  }
  if (job.capped) events.push({ ...ids, type: 'job.capped', detail: { last_error: error } });
  return events;
}

/**
 * A provisioned job is never relinked. A second `provisioned` naming other coordinates
 * means the orchestrator minted two tenants for one checkout: it is answered 200 (the
 * job is provisioned; a 4xx would only make the orchestrator retry), and logged for a
 * human to reconcile.
 */
function warnOnOtherCoordinates(
  deps: CallbackDependencies,
  report: CallbackReport,
  linked: AppliedCallback,
  context: { stripeSessionId: string; jobId: string },
): void {
  if (linked.deploymentId === report.deploymentId && linked.cellId === report.cellId) return;
  deps.log.warn('callback names other coordinates than the provisioned job; not relinked', {
    ...context,
    linked_deployment_id: linked.deploymentId,
    linked_cell_id: linked.cellId,
    reported_deployment_id: report.deploymentId,
    reported_cell_id: report.cellId,
  });
}

type AppliedCallback = Extract<CallbackResult, { kind: 'known' }>;

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
