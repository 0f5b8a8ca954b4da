import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { insertStrandedJobs, withLatency } from '../../bench/stranded.js';
import type { HandoffMessage, HandoffQueue } from '../../functions/adapters/handoff-queue.js';
import { RECONCILE_TIMEOUT_SECONDS } from '../../functions/core/reconcile-timing.js';
import { createReconcileHandler } from '../../functions/handlers/reconcile.js';
import type { ReconcileSummary } from '../../functions/services/reconcile.js';
import { type Harness, handlerHarness, lambdaContext } from '../support/handler-harness.js';
import { virtualClock } from '../support/virtual-clock.js';

/**
 * Re-drive capacity in AWS: after an outage, 10,000 stranded jobs are re-driven within
 * one scheduled tick at the default cap of 20 per second, on a virtual clock where every
 * Data API call costs 50 ms and the invocation has the stack's own timeout. The cap is
 * global: a second run started meanwhile (a retried invocation, an operator) finds the
 * lease held and sends nothing.
 */

const STRANDED = 10_000;
const RATE = 20;
const DATA_API_LATENCY_MS = 50;

let h: Harness;
beforeAll(async () => {
  h = await handlerHarness();
  await insertStrandedJobs(h.db.pool, STRANDED, new Date(h.now().getTime() - 3_600_000));
}, 120_000);
afterAll(async () => {
  await h.close();
});

describe('re-drive capacity at the default cap', () => {
  it('re-drives 10,000 stranded jobs within one tick at 20/s, and an overlapping run sends nothing', async () => {
    const timer = virtualClock();
    const sentAt: number[] = [];
    const sqsQueue = h.queue;
    const queue: HandoffQueue = {
      send: async (message: HandoffMessage) => {
        sentAt.push(timer.now());
        await sqsQueue.send(message);
      },
    };
    const reconcilerFor = () =>
      createReconcileHandler({
        ...h.deps,
        db: withLatency(h.deps.db, timer, DATA_API_LATENCY_MS),
        queue,
        timer,
        settings: { batchSize: 25, maxRedrivesPerSecond: RATE },
      });
    const timeoutMs = RECONCILE_TIMEOUT_SECONDS * 1000;
    const context = () => {
      const startedAt = timer.now();
      return {
        ...lambdaContext(),
        getRemainingTimeInMillis: () => timeoutMs - (timer.now() - startedAt),
      };
    };

    const running = reconcilerFor()({}, context());
    // A second run starts while the first is under way: once it has sent (it holds the
    // lease then). Waited for in real time, so the virtual clock only moves with the runs.
    await vi.waitFor(() => expect(sentAt.length).toBeGreaterThan(0), { timeout: 60_000 });
    const overlapping = (await reconcilerFor()({}, context())) as ReconcileSummary;
    const summary = (await running) as ReconcileSummary;

    expect(summary).toMatchObject({ run: 'full', redriven: STRANDED, still_failing: STRANDED });
    // The run that found the lease held still reported the gauge.
    expect(overlapping).toMatchObject({ run: 'overlap', redriven: 0, stuck_total: STRANDED });
    const sent = h.sqs.commandCalls(SendMessageCommand).map((call) => call.args[0].input);
    expect(new Set(sent.map((message) => message.MessageGroupId)).size).toBe(STRANDED);
    // Within the tick: the last send before the invocation's timeout, itself shorter
    // than the schedule, so the next tick never meets this run.
    expect(Math.max(...sentAt)).toBeLessThan(timeoutMs);
    // Never more than the cap in any second.
    let busiest = 0;
    for (let i = 0, j = 0; i < sentAt.length; i += 1) {
      while ((sentAt[i] ?? 0) - (sentAt[j] ?? 0) >= 1_000) j += 1;
      busiest = Math.max(busiest, i - j + 1);
    }
    expect(busiest).toBeLessThanOrEqual(RATE);
  }, 300_000);
});
