import { describe, expect, it } from 'vitest';
import { expectDocumented, measure, published, rowsOf } from './harness/figures.js';
import { type Pipeline, pipelinePerTest } from './harness/pipeline.js';
import { QUICK_SAGA } from './harness/scripted-orchestrator.js';

/**
 * An orchestrator that answers, but says no: a permanent refusal parks the job for an
 * operator at once and is never replayed; "not now" (429) is honoured for as long as the
 * orchestrator asks.
 */

const start = pipelinePerTest();

const JOBS = 20;
const HOUR = 3600;

/** The job ids parked, with the time of the trigger that was refused, and when each was parked. */
async function parkedJobs(p: Pipeline) {
  const { rows } = await p.h.db.pool.query<{ id: string; parked_at: Date }>(
    'SELECT id, parked_at FROM provisioning_jobs WHERE parked_at IS NOT NULL',
  );
  return rows;
}

describe('fault matrix: an orchestrator that refuses', () => {
  it.each([
    { status: 422, name: 'reject' },
    { status: 401, name: 'unauthorized' },
  ])(
    '$status: one trigger per job, parked at once and on the gauge, never replayed',
    async ({ status, name }) => {
      const p = await start({ script: () => ({ kind: 'refuse', status }) });
      for (let i = 0; i < JOBS; i += 1) p.checkout();

      await p.runUntil(HOUR);
      const figures = await measure(p);

      const perJob = [...p.orchestrator.triggersPerJob().values()];
      expect(perJob).toEqual(Array(JOBS).fill(1));
      // Parked by the outcome of its one trigger, not by a later run.
      const triggeredAt = new Map(p.orchestrator.triggers.map((t) => [t.jobId, t.at]));
      for (const job of await parkedJobs(p)) {
        expect(job.parked_at.getTime()).toBe(triggeredAt.get(job.id));
      }
      // On the gauge at the first run after, and announced once each.
      expect(p.runs[0]?.summary.stuck_total).toBe(JOBS);
      expect(new Set(published(p, 'job.parked')).size).toBe(JOBS);
      expect(published(p, 'job.parked')).toHaveLength(JOBS);
      // A refusal is not an outage: the breaker never opened.
      expect(published(p, 'breaker.opened')).toEqual([]);
      if (status === 401) {
        expect(p.h.telemetry.counters.get('TriggerUnauthorized')).toBe(JOBS);
        expect(p.h.log.text()).toContain('the trigger secret or URL is wrong');
      }
      expect(figures).toMatchObject({ lost: 0, duplicated: 0, parked: JOBS, capped: 0 });
      expectDocumented(
        name,
        rowsOf(figures, {
          triggers: 'one per job',
          parked: 'all, at once',
          lost: '0',
          duplicated: '0',
          pages: 'all (parked pages)',
        }),
      );
    },
  );

  it('429 with Retry-After: no job is triggered again before the orchestrator allows, none is capped', async () => {
    const throttledFor = 600;
    const retryAfterSeconds = 1800;
    const p = await start({
      script: ({ second }) =>
        second < throttledFor
          ? { kind: 'refuse', status: 429, retryAfterSeconds }
          : { kind: 'accept', saga: QUICK_SAGA },
    });
    for (let i = 0; i < JOBS; i += 1) p.checkout();

    await p.runUntil(2 * HOUR);
    const figures = await measure(p);

    const triggers = p.orchestrator.triggers;
    const throttled = triggers.filter((t) => t.answer.kind === 'refuse');
    expect(throttled.length).toBeGreaterThan(0);
    for (const refused of throttled) {
      const next = triggers.find((t) => t.jobId === refused.jobId && t.nth === refused.nth + 1);
      expect(next, `job ${refused.jobId} is triggered again`).toBeDefined();
      expect((next?.at ?? 0) - refused.at).toBeGreaterThanOrEqual(retryAfterSeconds * 1000);
    }
    expect(figures).toMatchObject({ lost: 0, duplicated: 0, capped: 0, provisioned: JOBS });
    expectDocumented(
      'throttle',
      rowsOf(figures, { capped: '0', lost: '0', duplicated: '0', provisioned: 'all' }, [
        {
          figure: 'triggers answered 429',
          measured: throttled.length,
          goal: 'each job re-triggered only after its Retry-After',
        },
      ]),
    );
  });
});
