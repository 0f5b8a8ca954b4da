import { afterEach, describe, expect, it } from 'vitest';
import { deduplicationId } from '../../functions/adapters/handoff-queue.js';
import { mockStack, STACK as OPS_STACK, opsRunner, stackOutputs } from '../ops/ops-harness.js';
import { QUEUE_URL } from '../support/handler-harness.js';
import { expectDocumented, measure, rowsOf } from './harness/figures.js';
import { type Pipeline, pipelinePerTest } from './harness/pipeline.js';
import { QUICK_SAGA } from './harness/scripted-orchestrator.js';

/**
 * The product's own remedies and its own crashes: an operator's re-arm is never swallowed
 * by the queue's deduplication, and a job whose attempt was claimed but never sent is
 * sent once the claim's lease lapses.
 */

const start = pipelinePerTest();
let stack: ReturnType<typeof mockStack> | undefined;
afterEach(() => {
  stack?.restore();
  stack = undefined;
});

const JOBS = 20;
const DEDUP_WINDOW_MS = 5 * 60_000;

/** Each job's hand-off messages as the queue received them, attempt by attempt. */
function sendsByJob(p: Pipeline) {
  const byJob = new Map<string, { attempt: number; at: number; swallowed: boolean }[]>();
  for (const { at, message, swallowed } of p.sent) {
    byJob.set(message.jobId, [
      ...(byJob.get(message.jobId) ?? []),
      { attempt: message.attempt, at, swallowed },
    ]);
  }
  return byJob;
}

describe('fault matrix: remedies and crashes', () => {
  it('re-arm inside the SQS 5-minute dedup window: the re-armed job gets a new attempt number and is triggered', async () => {
    const fixedAfter = 60;
    const p = await start({
      script: ({ second }) =>
        second < fixedAfter
          ? { kind: 'refuse', status: 422 }
          : { kind: 'accept', saga: QUICK_SAGA },
    });
    stack = mockStack(
      stackOutputs({ HandoffQueueUrl: QUEUE_URL, ProvisioningRules: JSON.stringify(p.rules) }),
    );
    const ops = opsRunner({
      env: { AWS_REGION: 'us-east-1' },
      collaborators: {
        clock: p.time.clock,
        timer: p.time,
        rdsDataClient: () => p.h.bridge.client(),
        dataApiRetry: { baseDelayMs: 5, maxDelayMs: 50, budgetMs: 2_000 },
      },
    });
    for (let i = 0; i < JOBS; i += 1) p.checkout();
    // The runbook, two minutes in: the orchestrator team fixed the refusal; re-arm the
    // parked jobs and force a reconcile rather than wait for the schedule.
    const answers: { code: number; json: unknown }[] = [];
    const operator = (argv: string[]) => async () => {
      const result = await ops([...argv, '--stack', OPS_STACK, '--yes', '--json']);
      answers.push({ code: result.code, json: result.json() });
    };
    p.at(120, operator(['rearm', '--parked', '--reason', 'orchestrator fixed, INC-42']));
    p.at(150, operator(['reconcile']));

    await p.runUntil(3600);
    const figures = await measure(p);

    expect(answers).toEqual([
      { code: 0, json: expect.objectContaining({ result: 'rearmed', rearmed: JOBS, refused: 0 }) },
      { code: 0, json: expect.objectContaining({ redriven: JOBS }) },
    ]);
    for (const [jobId, sends] of sendsByJob(p)) {
      // Attempt 2 went on the queue while attempt 1's dedup id was still remembered.
      expect(sends.map((s) => s.attempt)).toEqual([1, 2]);
      expect(sends.every((s) => !s.swallowed)).toBe(true);
      const [first, second] = sends;
      expect((second?.at ?? Number.POSITIVE_INFINITY) - (first?.at ?? 0)).toBeLessThan(
        DEDUP_WINDOW_MS,
      );
      const triggers = p.orchestrator.triggers.filter((t) => t.jobId === jobId);
      expect(triggers.map((t) => t.answer.kind)).toEqual(['refuse', 'accept']);
    }
    // Sent before the first scheduled run: the forced run, not the schedule, re-drove them.
    expect(p.runs.every((run) => run.summary.redriven === 0)).toBe(true);
    // Forty sends, forty dedup ids: none came back.
    expect(new Set(p.sent.map((s) => deduplicationId(s.message))).size).toBe(2 * JOBS);
    expect(figures).toMatchObject({ lost: 0, duplicated: 0, parked: JOBS, provisioned: JOBS });
    expectDocumented(
      'rearm',
      rowsOf(figures, { lost: '0', duplicated: '0', provisioned: 'all, re-armed and triggered' }, [
        {
          figure: 'hand-offs swallowed by the queue’s dedup',
          measured: p.sent.filter((s) => s.swallowed).length,
          goal: '0',
        },
      ]),
    );
  });

  it('crash between claim and send, in the webhook and then in the reconciler: each job is sent once its lease lapses', async () => {
    const p = await start({ script: () => ({ kind: 'accept', saga: QUICK_SAGA }) });
    const lease = p.rules.handoffLeaseSeconds * 1000;
    // Attempt 1 is claimed by the webhook's record, attempt 2 by a reconcile run: each
    // invocation dies just before its send reaches the queue.
    p.crashOnSend((message) => message.attempt <= 2);
    for (let i = 0; i < JOBS; i += 1) p.checkout();

    await p.runUntil(2 * 3600);
    const figures = await measure(p);

    const { rows } = await p.h.db.pool.query<{
      id: string;
      attempts: number;
      claims: Date[];
      created_at: Date;
    }>(
      `SELECT j.id, j.attempts, j.created_at,
         array_agg(e.occurred_at ORDER BY e.id) FILTER (WHERE e.kind = 'redrive') AS claims
       FROM provisioning_jobs j JOIN provisioning_job_events e ON e.job_id = j.id
       GROUP BY j.id`,
    );
    expect(rows).toHaveLength(JOBS);
    for (const job of rows) {
      expect(job.attempts).toBe(3);
      const [second = 0, third = 0] = job.claims.map((at) => at.getTime());
      const trigger = p.orchestrator.triggers.find((t) => t.jobId === job.id);
      // Each claim waited out the lease of the one that crashed before it.
      expect(second - job.created_at.getTime()).toBeGreaterThanOrEqual(lease);
      expect(third - second).toBeGreaterThanOrEqual(lease);
      expect(trigger?.at).toBeGreaterThanOrEqual(third);
    }
    const { rows: waits } = await p.h.db.pool.query<{ minutes: number }>(
      `SELECT ceil(extract(epoch FROM max(provisioned_at - created_at)) / 60)::int AS minutes
       FROM provisioning_jobs`,
    );
    expect(p.sent.map((s) => s.message.attempt)).toEqual(Array(JOBS).fill(3));
    expect(figures).toMatchObject({ lost: 0, duplicated: 0, triggers: JOBS, provisioned: JOBS });
    expectDocumented(
      'crash',
      rowsOf(
        figures,
        {
          triggers: 'one per job',
          lost: '0',
          duplicated: '0',
          provisioned: 'all, after the lease lapses',
        },
        [
          {
            figure: 'minutes from checkout to tenant, longest',
            measured: waits[0]?.minutes ?? 0,
            goal: `two leases of ${lease / 60_000} min, then the next run`,
          },
        ],
      ),
    );
  });
});
