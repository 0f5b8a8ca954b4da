/**
 * How long one hand-off may take: the trigger's own timeout and the recording after
 * it. The consumer returns a message it has less time for to the queue untouched; the
 * stack sizes the consumer's timeout (and so the queue's visibility) from it.
 */
const RECORDING_MS = 2_000;

/** Messages per consumer invocation (the SQS FIFO maximum). */
export const HANDOFF_BATCH_SIZE = 10;

export function reserveFor(triggerTimeoutMs: number): number {
  return triggerTimeoutMs + RECORDING_MS;
}

/** A consumer timeout that lets a whole batch wait out its triggers. */
export function consumerTimeoutSeconds(triggerTimeoutMs: number): number {
  return Math.ceil((HANDOFF_BATCH_SIZE * reserveFor(triggerTimeoutMs)) / 1000) + 10;
}

/**
 * How long a dispatched attempt holds its job: its trigger, then the recording of its
 * outcome, which may wait out the database's retry budget (Aurora resuming). A job is
 * never re-driven while a trigger may still be on its way or its outcome unrecorded.
 */
export function dispatchLeaseSeconds(triggerTimeoutMs: number, databaseRetryBudgetMs = 0): number {
  return Math.ceil((reserveFor(triggerTimeoutMs) + databaseRetryBudgetMs) / 1000);
}
