/**
 * The reconciler's tick and how long a run may take. A run ends before the next tick
 * starts, and a lease in the database keeps any two from overlapping (a retried
 * invocation, an operator's forced run), so its cap on re-drives per second is one
 * global pace. At the default 20/s, a run drains more than 10,000 stranded jobs.
 */
export const RECONCILE_EVERY_MINUTES = 10;

/** The Lambda timeout: the tick less half a minute, so a run never meets the next one. */
export const RECONCILE_TIMEOUT_SECONDS = RECONCILE_EVERY_MINUTES * 60 - 30;
