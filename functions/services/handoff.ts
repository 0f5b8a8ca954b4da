import { type HandoffMessage, handoffMessage } from '../adapters/handoff-queue.js';
import type { OrchestratorTrigger } from '../adapters/orchestrator.js';
import { isCredentialRefusal, outcomeClass, type TriggerResult } from '../core/attempts.js';
import { describeIssues } from '../core/errors.js';
import {
  type Dispatch,
  dispatchAttempt,
  type RecordedOutcome,
  recordAttemptOutcome,
} from '../db/jobs/handoff-attempts.js';
import { announceBreaker, announceJob } from './announcements.js';
import type { ServiceDependencies } from './dependencies.js';
import { keepRejection } from './rejections.js';

/**
 * The hand-off consumer's work on one queue message (SPEC 2.3, 2.5): one attempt of one
 * job. It dispatches the attempt (only the job's newest, never twice at once, only the
 * probe while the breaker is open), POSTs the stored payload's business fields with the
 * callback URL this stack serves now, and records the outcome.
 *
 * Who retries what. A message is done once something is recorded for it:
 * - The outcome decides the job's next step: accepted waits for the orchestrator's
 *   progress; a transient failure (`timeout`, `fetch_error`, 5xx, 408, 429) is re-driven
 *   by the reconciler after the job's backoff, within its retry budget; a permanent
 *   refusal (another 4xx, no trigger URL or secret) parks the job for an operator. SQS
 *   retrying as well would spend the orchestrator's capacity twice and step around the
 *   budget and the breaker.
 * - When nothing could be recorded (the database failed, or the trigger secret could
 *   not be read), the message fails: SQS redelivers it after the visibility timeout
 *   and dead-letters it after `maxReceiveCount`. The redelivery is the same attempt: it
 *   is sent again only if its outcome was never recorded and its lease has lapsed.
 * - A malformed message can never succeed: it is recorded as rejected and dropped.
 */

export interface HandoffDependencies extends ServiceDependencies {
  readonly orchestrator: OrchestratorTrigger;
  /** The callback route this stack serves now: replaces the stored payload's. */
  readonly callbackUrl: string;
  /** How long a dispatch holds the job: see `dispatchLeaseSeconds`. */
  readonly dispatchLeaseSeconds: number;
  /** Jitter for the backoff; Math.random unless a test fixes it. */
  readonly random?: () => number;
}

/** The part of an SQS record the consumer reads. */
export interface QueuedMessage {
  readonly messageId: string;
  readonly body: string;
}

export type HandoffResult =
  | { readonly kind: 'rejected'; readonly reason: string }
  /** Not sent: superseded by a newer attempt, closed, done, in flight, or held by the breaker. */
  | { readonly kind: 'not_sent'; readonly decision: Exclude<Dispatch['decision'], 'dispatch'> }
  | {
      readonly kind: 'handed_off';
      readonly result: TriggerResult;
      readonly probe: boolean;
      readonly recorded: RecordedOutcome;
    };

/**
 * Hands one queued attempt off and records its outcome. Throws only when nothing could
 * be recorded, so the message goes back to the queue.
 */
export async function handOff(
  deps: HandoffDependencies,
  queued: QueuedMessage,
): Promise<HandoffResult> {
  const parsed = parseMessage(queued.body);
  if (!parsed.ok) return reject(deps, queued.messageId, parsed.reason);
  const message = parsed.message;
  const ids = {
    messageId: queued.messageId,
    jobId: message.jobId,
    stripeSessionId: message.stripeSessionId,
    attempt: message.attempt,
  };
  try {
    return await dispatchAndRecord(deps, message, ids);
  } catch (error) {
    deps.log.error('hand-off not recorded; the message returns to the queue', { ...ids, error });
    throw error;
  }
}

type Ids = Readonly<Record<string, string | number>>;

async function dispatchAndRecord(
  deps: HandoffDependencies,
  message: HandoffMessage,
  ids: Ids,
): Promise<HandoffResult> {
  const dispatch = await dispatchAttempt(deps.db, message, deps.clock(), deps.dispatchLeaseSeconds);
  if (dispatch.decision !== 'dispatch') {
    if (dispatch.decision === 'deferred') {
      deps.telemetry.count('HandoffDeferred');
      deps.log.info('hand-off held: the breaker is open; re-driven once it closes', ids);
    } else {
      deps.telemetry.count('HandoffNotSent');
      deps.log.info('hand-off not sent', { ...ids, decision: dispatch.decision });
    }
    return { kind: 'not_sent', decision: dispatch.decision };
  }

  const result = await deps.orchestrator.trigger({
    jobId: message.jobId,
    payload: { ...message.triggerPayload, callback_url: deps.callbackUrl },
  });
  const outcome = outcomeClass(result);
  const now = deps.clock();
  const recorded = await recordAttemptOutcome(
    deps.db,
    {
      jobId: message.jobId,
      attempt: message.attempt,
      outcome,
      failure: result.outcome === 'accepted' ? null : result.outcome,
      httpStatus: result.httpStatus,
      retryAfterSeconds: result.retryAfterSeconds,
    },
    now,
    deps.rules,
    deps.random,
  );
  report(deps, result, dispatch, recorded, { ...ids, probe: String(dispatch.probe) });
  await announceTransitions(deps, message, result, recorded, now);
  return { kind: 'handed_off', result, probe: dispatch.probe, recorded };
}

function report(
  deps: HandoffDependencies,
  result: TriggerResult,
  dispatch: Dispatch,
  recorded: RecordedOutcome,
  ids: Ids,
): void {
  const outcome = outcomeClass(result);
  const details = {
    ...ids,
    outcome: result.outcome,
    httpStatus: result.httpStatus,
    retryAfterSeconds: result.retryAfterSeconds,
    budgetSpent: dispatch.budgetSpent,
  };
  deps.telemetry.count(outcome === 'accepted' ? 'HandoffAccepted' : 'HandoffFailed');
  if (isCredentialRefusal(result)) {
    deps.telemetry.count('TriggerUnauthorized');
    deps.log.error(
      'the orchestrator refused our signature: the trigger secret or URL is wrong (runbook: provisioning-stuck.md, parked jobs)',
      details,
    );
  }
  if (!recorded.recorded) {
    deps.log.info('hand-off outcome not recorded: attempt superseded or reported before', details);
  } else if (outcome === 'accepted') {
    deps.log.info('hand-off accepted by the orchestrator', details);
  } else if (recorded.parked) {
    deps.log.error('the orchestrator refused the job; it is parked for an operator', details);
  } else if (recorded.capped) {
    deps.log.error('hand-off failed with no retry budget left; the job is capped', {
      ...details,
      maxAttempts: deps.rules.maxAttempts,
    });
  } else {
    deps.log.warn('hand-off failed; the reconciler re-drives the job after its backoff', details);
  }
}

async function announceTransitions(
  deps: HandoffDependencies,
  message: HandoffMessage,
  result: TriggerResult,
  recorded: RecordedOutcome,
  now: Date,
): Promise<void> {
  const job = { jobId: message.jobId, stripeSessionId: message.stripeSessionId, occurredAt: now };
  const detail = {
    attempt: message.attempt,
    last_error: result.outcome,
    http_status: result.httpStatus,
  };
  if (recorded.parked) await announceJob(deps, { ...job, type: 'job.parked', detail });
  if (recorded.capped) await announceJob(deps, { ...job, type: 'job.capped', detail });
  if (recorded.breaker) {
    await announceBreaker(deps, recorded.breaker, now, {
      job_id: message.jobId,
      attempt: message.attempt,
      last_error: result.outcome === 'accepted' ? null : result.outcome,
    });
  }
}

type ParsedMessage =
  | { readonly ok: true; readonly message: HandoffMessage }
  | { readonly ok: false; readonly reason: string };

function parseMessage(body: string): ParsedMessage {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, reason: 'body is not JSON' };
  }
  const parsed = handoffMessage.safeParse(json);
  return parsed.success
    ? { ok: true, message: parsed.data }
    : { ok: false, reason: describeIssues(parsed.error.issues) };
}

/**
 * A malformed message is kept where an operator sees it (its id and why, never its
 * body) and then dropped: no redelivery can mend it. Failing to keep the trail throws,
 * so the message returns and ends in the dead-letter queue rather than vanishing.
 */
async function reject(
  deps: HandoffDependencies,
  messageId: string,
  reason: string,
): Promise<HandoffResult> {
  try {
    await keepRejection(deps, { source: 'handoff_queue', reference: messageId, reason });
  } catch (error) {
    deps.log.error('malformed hand-off message not recorded; it returns to the queue', {
      messageId,
      reason,
      error,
    });
    throw error;
  }
  deps.log.error('hand-off message rejected: malformed, dropped', { messageId, reason });
  return { kind: 'rejected', reason };
}
