import { type HandoffMessage, handoffMessage } from '../adapters/handoff-queue.js';
import { publishQuietly } from '../adapters/lifecycle-events.js';
import type { OrchestratorTrigger } from '../adapters/orchestrator.js';
import { describeIssues } from '../core/errors.js';
import type { HandoffOutcome } from '../core/job.js';
import { recordHandoffOutcome } from '../db/jobs/handoff-outcomes.js';
import type { ServiceDependencies } from './dependencies.js';
import { keepRejection } from './rejections.js';

/**
 * The hand-off consumer's work on one queue message (SPEC 2.3): POST the job's stored
 * trigger payload to the orchestrator, then record how that attempt went on the job.
 *
 * Who retries what. A message is done once something is recorded for it:
 * - A classified trigger failure (`trigger_not_configured`, `fetch_error`, `timeout`,
 *   `http_4xx`, `http_5xx`) is written to the job's `last_error` and the message is
 *   done. The reconciler owns the retry: it re-drives the job once STALE, paced, within
 *   the attempt budget (`rules.maxAttempts`), and the job stays on the STUCK gauge
 *   meanwhile. SQS retrying it as well would spend the orchestrator's capacity twice
 *   and step around the budget.
 * - When nothing could be recorded (the database failed, or the trigger secret could
 *   not be read), the message fails: SQS redelivers it after the visibility timeout
 *   and dead-letters it after `maxReceiveCount`. The redelivery POSTs again under the
 *   same `Idempotency-Key` (the job id, which the orchestrator deduplicates) and
 *   records the same attempt, so nothing is lost and no attempt is counted twice.
 * - A malformed message can never succeed: it is recorded as rejected and dropped.
 */

export interface HandoffDependencies extends ServiceDependencies {
  readonly orchestrator: OrchestratorTrigger;
}

/** The part of an SQS record the consumer reads. */
export interface QueuedMessage {
  readonly messageId: string;
  readonly body: string;
}

export type HandoffResult =
  | { readonly kind: 'rejected'; readonly reason: string }
  | {
      readonly kind: 'handed_off';
      readonly outcome: HandoffOutcome;
      /** False when a newer attempt superseded this one, or the job is provisioned: nothing changed. */
      readonly recorded: boolean;
      /** This failed attempt spent the job's last one: the reconciler will not re-drive it. */
      readonly capped: boolean;
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
    return await triggerAndRecord(deps, message, ids);
  } catch (error) {
    deps.log.error('hand-off not recorded; the message returns to the queue', { ...ids, error });
    throw error;
  }
}

async function triggerAndRecord(
  deps: HandoffDependencies,
  message: HandoffMessage,
  ids: Readonly<Record<string, string | number>>,
): Promise<HandoffResult> {
  const outcome = await deps.orchestrator.trigger({
    jobId: message.jobId,
    payload: message.triggerPayload,
  });
  const now = deps.clock();
  const { recorded } = await recordHandoffOutcome(
    deps.db,
    { jobId: message.jobId, attempt: message.attempt, outcome },
    now,
  );
  deps.telemetry.count(outcome === 'accepted' ? 'HandoffAccepted' : 'HandoffFailed');
  const capped = recorded && outcome !== 'accepted' && message.attempt >= deps.rules.maxAttempts;

  if (!recorded) {
    // A newer attempt superseded this one, or the job is provisioned.
    deps.log.info('hand-off outcome ignored: attempt superseded', { ...ids, outcome });
  } else if (outcome === 'accepted') {
    deps.log.info('hand-off accepted by the orchestrator', ids);
  } else if (!capped) {
    deps.log.warn('hand-off failed; the reconciler re-drives the job once stale', {
      ...ids,
      outcome,
    });
  } else {
    await reportCapped(deps, message, outcome, ids, now);
  }
  return { kind: 'handed_off', outcome, recorded, capped };
}

/** The job spent its attempt budget: it stays on the gauge for an operator (runbook section 5). */
async function reportCapped(
  deps: HandoffDependencies,
  message: HandoffMessage,
  outcome: HandoffOutcome,
  ids: Readonly<Record<string, string | number>>,
  now: Date,
): Promise<void> {
  deps.telemetry.count('JobCapped');
  deps.log.error('hand-off failed on the last attempt; the job is capped and needs an operator', {
    ...ids,
    outcome,
    maxAttempts: deps.rules.maxAttempts,
  });
  await publishQuietly(
    deps.events,
    [
      {
        type: 'job.capped',
        jobId: message.jobId,
        stripeSessionId: message.stripeSessionId,
        occurredAt: now,
        detail: { attempt: message.attempt, last_error: outcome },
      },
    ],
    (error) => {
      deps.telemetry.count('LifecycleEventPublishFailed');
      deps.log.warn('lifecycle event not published', { ...ids, type: 'job.capped', error });
    },
  );
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
