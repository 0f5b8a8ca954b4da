import { describe, expect, it } from 'vitest';
import { expectDocumented, measure, published, rowsOf } from './harness/figures.js';
import { pipelinePerTest, STACK } from './harness/pipeline.js';

/**
 * An orchestrator that is gone for an hour while a thousand customers pay: the breaker
 * stops the product from spending budgets against it, one probe per reconcile run finds
 * it back, and everyone waiting is provisioned without an operator.
 */

const start = pipelinePerTest();

const MINUTE = 60;
const HOUR = 3600;

describe('fault matrix: an orchestrator that is down', () => {
  it('1-hour outage with 1,000 jobs waiting: few triggers during it, none capped, all provisioned within 2 runs of recovery', async () => {
    const jobs = 1000;
    const outage = HOUR;
    const p = await start({
      script: ({ second }) =>
        second < outage
          ? { kind: 'unreachable' }
          : // One report per job keeps a thousand sagas lean.
            { kind: 'accept', saga: [{ afterMs: 30_000, status: 'provisioned' }] },
    });
    // A thousand checkouts over the outage's first ten minutes.
    for (let i = 0; i < jobs; i += 1) p.checkout((i * 10 * MINUTE) / jobs);

    await p.runUntil(outage + 30 * MINUTE);
    const figures = await measure(p);

    const duringOutage = p.orchestrator.triggers.filter((t) => t.at < p.t0 + outage * 1000);
    const runsDuringOutage = p.runsBetween(0, outage).length;
    expect(duringOutage.length).toBeLessThanOrEqual(jobs + runsDuringOutage);
    const [, secondAfter, third] = p.runsBetween(outage, outage + HOUR);
    if (!secondAfter) throw new Error('no second run after the recovery');
    const { rows } = await p.h.db.pool.query<{ last: Date }>(
      "SELECT max(provisioned_at) AS last FROM provisioning_jobs WHERE status = 'provisioned'",
    );
    const lastProvisioned = rows[0]?.last.getTime() ?? Number.POSITIVE_INFINITY;
    expect(lastProvisioned).toBeGreaterThan(secondAfter.at);
    if (third) expect(lastProvisioned).toBeLessThan(third.at);
    expect(secondAfter.summary.redriven).toBeGreaterThan(900);
    // One opening, one closing: a probe per run in between, no flapping.
    expect(published(p, 'breaker.opened')).toHaveLength(1);
    expect(published(p, 'breaker.closed')).toHaveLength(1);
    expect(figures).toMatchObject({ lost: 0, duplicated: 0, capped: 0, provisioned: jobs });
    const drained = Math.ceil((lastProvisioned - p.t0 - outage * 1000) / 1000);
    expectDocumented(
      'outage',
      rowsOf(
        figures,
        { capped: '0 capped by the outage', lost: '0', duplicated: '0', provisioned: 'all' },
        [
          {
            figure: 'triggers sent during the outage',
            measured: duringOutage.length,
            goal: `≤ jobs + one probe per run (${jobs} + ${runsDuringOutage})`,
          },
          {
            figure: 're-driven by the 2nd run after recovery',
            measured: secondAfter.summary.redriven,
            goal: 'every job the breaker held, in one run',
          },
          {
            figure: 'last job provisioned, seconds after recovery',
            measured: drained,
            goal: `within 2 reconcile runs (the 2nd starts at 900 s), at ${STACK.reconcileMaxRedrivesPerSecond} re-drives/s`,
          },
        ],
      ),
    );
  }, 120_000);
});
