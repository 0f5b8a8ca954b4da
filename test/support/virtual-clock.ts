import type { RetryDeps } from '../../functions/core/retry.js';

export interface VirtualClock extends RetryDeps {
  /** Milliseconds slept so far. */
  readonly slept: () => number;
}

/**
 * Time that moves only when the code under test sleeps on it: a retry loop waiting out
 * a 45 s resume finishes at once, and the bridge's `resumeFor` reads the same clock.
 * Jitter is off (each wait is its full ceiling) unless `random` says otherwise.
 */
export function virtualClock(random = () => 1): VirtualClock {
  let now = 0;
  return {
    now: () => now,
    random,
    sleep: async (ms) => {
      now += ms;
    },
    slept: () => now,
  };
}
