/**
 * Capped exponential backoff with full jitter, bounded by a time budget. Used where
 * a fault is known to be transient and a repeat is safe; the caller decides which.
 */
export interface RetryPolicy {
  /** First delay's upper bound; each retry doubles it up to `maxDelayMs`. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /**
   * Total time after which the last error is thrown instead of waiting again; the last
   * wait is cut short to end at the deadline, so the budget is tried to its end.
   */
  readonly budgetMs: number;
}

export interface RetryDeps {
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
  readonly now: () => number;
}

export const realRetryDeps: RetryDeps = {
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
  now: Date.now,
};

export async function retryTransient<T>(
  work: () => Promise<T>,
  isTransient: (error: unknown) => boolean,
  policy: RetryPolicy,
  deps: RetryDeps = realRetryDeps,
  onRetry: (error: unknown, attempt: number, delayMs: number) => void = () => {},
): Promise<T> {
  const deadline = deps.now() + policy.budgetMs;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      if (!isTransient(error)) throw error;
      const remainingMs = deadline - deps.now();
      if (remainingMs <= 0) throw error;
      const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      const delayMs = Math.min(Math.round(deps.random() * ceiling), remainingMs);
      onRetry(error, attempt, delayMs);
      await deps.sleep(delayMs);
    }
  }
}
