import { describe, expect, it } from 'vitest';
import { expectDocumented, measure, published, rowsOf } from './harness/figures.js';
import { pipelinePerTest, STACK } from './harness/pipeline.js';
import { heartbeatingSaga, QUICK_SAGA } from './harness/scripted-orchestrator.js';

/**
 * An orchestrator that takes its time. Slow but healthy costs nothing more: every job is
 * triggered once and nobody is paged, however long the acceptance or the saga takes.
 * Hanging, it is treated as down: timeouts open the breaker, which holds every budget
 * until it answers again.
 */

const start = pipelinePerTest();

const JOBS = 20;
const MINUTE = 60;
const HOUR = 3600;
/** What a slow but healthy orchestrator must cost: nothing more. */
const ONCE_WITHOUT_A_PAGE = {
  triggers: 'one per job',
  lost: '0',
  duplicated: '0',
  pages: '0',
  provisioned: 'all',
} as const;

describe('fault matrix: an orchestrator that takes its time', () => {
  it('slow: a trigger accepted after 3× STALE, with queue backlog, is sent once per job and pages nobody', async () => {
    // STALE shrunk to 5 s so a trigger can outlast it three times within a deployable
    // trigger timeout (at most 25 s), and the reconciler runs every STALE window.
    const stale = 5;
    const p = await start({
      rules: { staleAfterSeconds: stale },
      triggerTimeoutMs: 20_000,
      reconcileEverySeconds: stale,
      firstReconcileSeconds: stale,
      script: () => ({
        kind: 'accept',
        afterMs: 3 * stale * 1000,
        // Progress within the quiet window, then the tenant.
        saga: [
          { afterMs: 1_000, status: 'provisioning', phase: 'cell' },
          { afterMs: 4_000, status: 'provisioned' },
        ],
      }),
    });
    for (let i = 0; i < JOBS; i += 1) p.checkout();

    await p.runUntil(20 * 60);
    const figures = await measure(p);

    const perJob = [...p.orchestrator.triggersPerJob().values()];
    expect(perJob).toEqual(Array(JOBS).fill(1));
    expect(p.runs.length).toBeGreaterThan(200);
    expect(figures).toMatchObject({ lost: 0, duplicated: 0, pages: 0, provisioned: JOBS });
    // The last of the backlog waited many STALE windows for its trigger, never re-driven.
    const { rows } = await p.h.db.pool.query<{ seconds: number }>(
      'SELECT extract(epoch FROM max(dispatched_at - created_at))::int AS seconds FROM provisioning_jobs',
    );
    const longestWait = rows[0]?.seconds ?? 0;
    expect(longestWait).toBeGreaterThan(3 * stale);
    expectDocumented(
      'slow',
      rowsOf(figures, ONCE_WITHOUT_A_PAGE, [
        {
          figure: 'seconds from checkout to trigger, longest',
          measured: longestWait,
          goal: `> 3× STALE (${3 * stale} s), not re-driven`,
        },
      ]),
    );
  });

  it('hanging: triggers that never answer time out; the breaker holds the budgets until it answers again', async () => {
    const hangsFor = 30 * MINUTE;
    const p = await start({
      script: ({ second }) =>
        second < hangsFor ? { kind: 'hang' } : { kind: 'accept', saga: QUICK_SAGA },
    });
    for (let i = 0; i < JOBS; i += 1) p.checkout();

    await p.runUntil(2 * HOUR);
    const figures = await measure(p);

    const duringHang = p.orchestrator.triggers.filter((t) => t.at < p.t0 + hangsFor * 1000);
    const runsDuringHang = p.runsBetween(0, hangsFor).length;
    expect(duringHang.length).toBeLessThanOrEqual(
      STACK.breakerFailureThreshold + 1 + runsDuringHang,
    );
    expect(p.h.log.text()).toContain('"outcome":"timeout"');
    expect(published(p, 'breaker.opened')).toHaveLength(1);
    expect(published(p, 'breaker.closed')).toHaveLength(1);
    expect(figures).toMatchObject({ lost: 0, duplicated: 0, capped: 0, provisioned: JOBS });
    expectDocumented(
      'hanging',
      rowsOf(figures, { capped: '0', lost: '0', duplicated: '0', provisioned: 'all' }, [
        {
          figure: 'triggers sent while it hung (30 min)',
          measured: duringHang.length,
          goal: `≤ breaker threshold + 1 + one probe per run (${STACK.breakerFailureThreshold + 1 + runsDuringHang})`,
        },
      ]),
    );
  });

  it('long saga: two hours of heartbeats before the tenant, with the default settings: one trigger per job, no page', async () => {
    const twoHours = 2 * 3600_000;
    const p = await start({
      // A heartbeat every 4 minutes: inside the 5-minute quiet window, as the contract asks.
      script: () => ({ kind: 'accept', saga: heartbeatingSaga(twoHours, 4 * 60_000) }),
    });
    for (let i = 0; i < JOBS; i += 1) p.checkout();

    await p.runUntil(twoHours / 1000 + 20 * 60);
    const figures = await measure(p);

    const perJob = [...p.orchestrator.triggersPerJob().values()];
    expect(perJob).toEqual(Array(JOBS).fill(1));
    // Twelve reconcile runs watched the sagas, and none re-drove or counted one.
    expect(p.runs.filter((run) => run.at < p.t0 + twoHours)).toHaveLength(12);
    expect(p.runs.every((run) => run.summary.redriven === 0)).toBe(true);
    expect(figures).toMatchObject({ lost: 0, duplicated: 0, pages: 0, provisioned: JOBS });
    expectDocumented('saga', rowsOf(figures, ONCE_WITHOUT_A_PAGE));
  });
});
