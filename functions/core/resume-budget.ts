/**
 * How long each function waits for Aurora Serverless v2 to answer. With a minimum of
 * 0 ACU the cluster pauses when idle, and every Data API call answers
 * `DatabaseResumingException` until it is awake again: about 15 s usually, about 30 s
 * or more after a pause longer than a day (reported from live clusters). Faults that
 * happen before a statement runs are retried within these budgets; each function's
 * timeout exceeds its budget (asserted by the CDK tests).
 */
export const LONGEST_REPORTED_RESUME_SECONDS = 30;

/** API Gateway HTTP APIs end an integration after 30 s, whatever the function's timeout. */
export const HTTP_INTEGRATION_LIMIT_SECONDS = 30;

export const DATA_API_RETRY_BUDGET_SECONDS = {
  /**
   * HTTP routes cannot wait out the longest wake-up within API Gateway's limit: they
   * ride out the usual one, then answer 503 with Retry-After, so Stripe and the
   * orchestrator retry once the cluster is awake.
   */
  http: 20,
  /** The queue consumer and the schedules wait out the longest reported wake-up twice over. */
  background: 2 * LONGEST_REPORTED_RESUME_SECONDS,
  /** The deploy-time migrator: a deploy after a quiet weekend must not fail on a paused cluster. */
  migration: 4 * LONGEST_REPORTED_RESUME_SECONDS,
} as const;
