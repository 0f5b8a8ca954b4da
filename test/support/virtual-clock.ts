import type { RetryDeps } from '../../functions/core/retry.js';

export interface VirtualClock extends RetryDeps {
  /** Milliseconds slept so far. */
  readonly slept: () => number;
  /** Every sleep asked for, in order. */
  readonly sleeps: readonly number[];
}

/**
 * Time that moves only when the code under test sleeps on it: a retry loop waiting out
 * a 45 s resume finishes at once, and the bridge's `resumeFor` reads the same clock; the
 * reconciler takes it as its timer.
 * A sleep yields to the event loop, so runs started side by side interleave as they
 * would in real time. Jitter is off (each wait is its full ceiling) unless `random`
 * says otherwise.
 */
export function virtualClock(random = () => 1): VirtualClock {
  let now = 0;
  const sleeps: number[] = [];
  return {
    now: () => now,
    random,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
      await new Promise((resolve) => setImmediate(resolve));
    },
    slept: () => now,
    sleeps,
  };
}
