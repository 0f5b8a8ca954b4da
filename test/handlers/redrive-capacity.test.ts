import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HandoffMessage, HandoffQueue } from '../../functions/adapters/handoff-queue.js';
import { RECONCILE_TIMEOUT_SECONDS } from '../../functions/core/reconcile-timing.js';
import type { SqlExecutor } from '../../functions/db/executor.js';
import { createReconcileHandler } from '../../functions/handlers/reconcile.js';
import type { ReconcileSummary, Timer } from '../../functions/services/reconcile.js';
import { type Harness, handlerHarness, lambdaContext } from '../support/handler-harness.js';

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

class VirtualTimer implements Timer {
  private ms = 0;
  now(): number {
    return this.ms;
  }
  async sleep(ms: number): Promise<void> {
    this.ms += ms;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The production executor, each call taking `DATA_API_LATENCY_MS` of virtual time. */
function slowed(db: SqlExecutor, timer: Timer): SqlExecutor {
  return {
    execute: async (sql, params, options) => {
      await timer.sleep(DATA_API_LATENCY_MS);
      return db.execute(sql, params, options);
    },
    transaction: (work) => db.transaction(work),
  };
}

let h: Harness;
beforeAll(async () => {
  h = await handlerHarness();
  // Stranded by an outage: attempt 1 handed off an hour ago, never heard of since.
  await h.db.pool.query(
    `WITH accounts AS (
       INSERT INTO customer_accounts (id, stripe_session_id, status, created_at, updated_at)
       SELECT gen_random_uuid(), 'cs_stranded_' || i, 'pending', $1, $1 FROM generate_series(1, $2::int) i
       RETURNING id, stripe_session_id)
     INSERT INTO provisioning_jobs (id, account_id, stripe_session_id, status, attempts, budget_spent,
       last_error, last_outcome, trigger_payload, last_attempt_at, next_attempt_at, created_at, updated_at)
     SELECT gen_random_uuid(), id, stripe_session_id, 'enqueued', 1, 1, 'http_5xx', 'transient',
       jsonb_build_object('stripe_session_id', stripe_session_id, 'package_slug', 'growth'),
       $1, $1, $1, $1
     FROM accounts`,
    [new Date(h.now().getTime() - 3_600_000), STRANDED],
  );
}, 120_000);
afterAll(async () => {
  await h.close();
});

describe('re-drive capacity at the default cap', () => {
  it('re-drives 10,000 stranded jobs within one tick at 20/s, and an overlapping run sends nothing', async () => {
    const timer = new VirtualTimer();
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
        db: slowed(h.deps.db, timer),
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
    // A second run starts while the first is under way.
    await timer.sleep(1_000);
    const overlapping = (await reconcilerFor()({}, context())) as ReconcileSummary;
    const summary = (await running) as ReconcileSummary;

    expect(summary).toMatchObject({ run: 'full', redriven: STRANDED, still_failing: STRANDED });
    expect(overlapping).toMatchObject({ run: 'overlap', redriven: 0 });
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
