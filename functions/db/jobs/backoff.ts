import type { ProvisioningRules } from '../../core/rules.js';

/**
 * When a job whose attempt failed transiently (or whose saga the orchestrator reported
 * failed) may be re-driven, in SQL: exponential backoff with full jitter over the job's
 * spent budget (the first ceiling is the quiet window, doubling up to
 * `retryMaxDelaySeconds`), never sooner than the orchestrator's `Retry-After`. `job` is
 * the alias of the provisioning_jobs row, read after this attempt's budget was spent.
 */
export function retryAtSql(job: string): string {
  return `CAST(:now AS timestamptz) + make_interval(secs => greatest(
    floor(CAST(:jitterPpm AS float8) / 1000000 * least(CAST(:retryMaxDelaySeconds AS float8),
      CAST(:staleAfterSeconds AS float8) * power(2, greatest(${job}.budget_spent - 1, 0)))),
    least(coalesce(CAST(:retryAfterSeconds AS float8), 0), CAST(:retryMaxDelaySeconds AS float8))))`;
}

export const RETRY_AT_PARAMS = {
  jitterPpm: 'int',
  retryAfterSeconds: 'int',
  retryMaxDelaySeconds: 'int',
  staleAfterSeconds: 'int',
} as const;

/** The values of `retryAtSql`: a fresh jitter in millionths, and the rules' bounds. */
export function retryAtValues(
  rules: Pick<ProvisioningRules, 'staleAfterSeconds' | 'retryMaxDelaySeconds'>,
  random: () => number,
  retryAfterSeconds?: number,
) {
  return {
    jitterPpm: Math.floor(random() * 1_000_000),
    retryAfterSeconds: retryAfterSeconds ?? null,
    retryMaxDelaySeconds: rules.retryMaxDelaySeconds,
    staleAfterSeconds: rules.staleAfterSeconds,
  };
}
