import { describe, expect, it } from 'vitest';
import { type RetryDeps, retryTransient } from '../../functions/core/retry.js';

function fakeClock(random = 1): RetryDeps & { slept: number[] } {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    random: () => random,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  };
}

const policy = { baseDelayMs: 100, maxDelayMs: 1_000, budgetMs: 10_000 };
const transient = (error: unknown) => error instanceof Error && error.message === 'transient';

describe('retrying transient faults', () => {
  it('backs off exponentially up to the cap, then succeeds', async () => {
    const clock = fakeClock();
    let calls = 0;

    const result = await retryTransient(
      async () => {
        calls += 1;
        if (calls <= 6) throw new Error('transient');
        return 'done';
      },
      transient,
      policy,
      clock,
    );

    expect(result).toBe('done');
    expect(clock.slept).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it('spreads delays with full jitter', async () => {
    const clock = fakeClock(0.25);
    let calls = 0;

    await retryTransient(
      async () => {
        calls += 1;
        if (calls <= 3) throw new Error('transient');
      },
      transient,
      policy,
      clock,
    );

    expect(clock.slept).toEqual([25, 50, 100]);
  });

  it('never retries a fault that is not transient', async () => {
    const clock = fakeClock();
    let calls = 0;

    await expect(
      retryTransient(
        async () => {
          calls += 1;
          throw new Error('constraint violated');
        },
        transient,
        policy,
        clock,
      ),
    ).rejects.toThrow('constraint violated');
    expect(calls).toBe(1);
  });

  it('gives up with the last error once the time budget would be exceeded', async () => {
    const clock = fakeClock();

    await expect(
      retryTransient(
        async () => {
          throw new Error('transient');
        },
        transient,
        { ...policy, budgetMs: 2_500 },
        clock,
      ),
    ).rejects.toThrow('transient');
    expect(clock.slept.reduce((sum, ms) => sum + ms, 0)).toBeLessThanOrEqual(2_500);
  });

  it('tries to the end of its budget: the last wait is cut to end at the deadline', async () => {
    const clock = fakeClock();
    let calls = 0;

    await retryTransient(
      async () => {
        calls += 1;
        if (clock.now() < 2_450) throw new Error('transient');
        return 'awake';
      },
      transient,
      { ...policy, budgetMs: 2_450 },
      clock,
    );

    expect(clock.slept).toEqual([100, 200, 400, 800, 950]);
    expect(calls).toBe(6);
  });
});
