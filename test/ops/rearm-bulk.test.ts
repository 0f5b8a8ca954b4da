import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { upsertPackage } from '../../functions/db/catalogue-repository.js';
import type { Timer } from '../../functions/services/reconcile.js';
import { PACKAGES } from '../support/handler-harness.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';
import {
  historyOf,
  jobColumns,
  localEnv,
  opsRunner,
  type RunOptions,
  recordCheckout,
} from './ops-harness.js';
import { cappedJob, parkedJob, provision } from './stopped-jobs.js';

/**
 * `ops rearm` with filters (runbook 5): after an outage or a refusal fixed at its source,
 * one command gives every job waiting for an operator that the filter selects a fresh
 * budget, after showing the plan and asking, at a pace the orchestrator can take, and
 * writes each re-arm to its job's history.
 */

let db: TestDatabase;
const now = new Date('2026-11-23T10:00:00.000Z');
const HOUR = 3600;

/** Virtual pacing: each sleep advances at once and is noted, and may act on the world meanwhile. */
class PacingTimer implements Timer {
  private ms = 0;
  readonly sleeps: number[] = [];
  constructor(private readonly meanwhile: (sleep: number) => Promise<void> = async () => {}) {}
  now(): number {
    return this.ms;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.ms += ms;
    await this.meanwhile(this.sleeps.length);
  }
}

function run(argv: string[], options: RunOptions & { timer?: Timer } = {}) {
  const ops = opsRunner({
    env: localEnv(db.connectionString),
    collaborators: { clock: () => now, osUser: () => 'alice', timer: options.timer },
  });
  return ops(argv, options);
}

/** Every kind of job an operator meets, and what each filter must pick among them. */
async function seedJobs() {
  return {
    cappedOld5xx: await cappedJob(db.executor, 'cs_test_capped_old_5xx', now, 'http_5xx', {
      httpStatus: 503,
      ago: 3 * HOUR,
    }),
    capped5xx: await cappedJob(db.executor, 'cs_test_capped_5xx', now, 'http_5xx', {
      httpStatus: 502,
      ago: 1800,
    }),
    cappedTimeout: await cappedJob(db.executor, 'cs_test_capped_timeout', now, 'timeout', {
      ago: 1200,
    }),
    parked422: await parkedJob(db.executor, 'cs_test_parked_422', now, 422, 600),
    parked401: await parkedJob(db.executor, 'cs_test_parked_401', now, 401, 300),
    waiting: await recordCheckout(db.executor, 'cs_test_waiting', now),
  };
}

beforeEach(async () => {
  db = await freshDatabase();
  for (const pkg of PACKAGES) await upsertPackage(db.executor, pkg);
});
afterEach(async () => {
  await db.close();
});

interface BulkResult {
  result: string;
  filter: string;
  rearmed: number;
  refused: number;
}

describe('ops rearm with filters (runbook 5)', () => {
  it('--capped shows the plan, the capped jobs only, the longest waiting first, and warns that their transport was broken', async () => {
    const jobs = await seedJobs();

    const result = await run(['rearm', '--capped', '--dry-run']);

    expect(result.code).toBe(0);
    const sessions = [...result.stdout.matchAll(/^(cs_test_\w+)\s/gm)].map((match) => match[1]);
    expect(sessions).toEqual([
      'cs_test_capped_old_5xx',
      'cs_test_capped_5xx',
      'cs_test_capped_timeout',
    ]);
    expect(result.stdout).toMatch(/selects\s+capped jobs/);
    expect(result.stdout).toMatch(/jobs\s+3/);
    expect(result.stdout).toContain('http_503');
    expect(result.stderr).toContain(
      '3 of these failed because the way to the orchestrator was broken',
    );
    expect(result.stdout).toContain('Dry run: nothing was done.');
    expect(await jobColumns(db.executor, jobs.capped5xx.id)).toMatchObject({ budget_spent: 8 });
  });

  it('--parked --error http_422 re-arms only the job refused with 422: a fresh budget, un-parked, due now, the attempt number kept, who and why in its history', async () => {
    const jobs = await seedJobs();

    const result = await run([
      'rearm',
      '--parked',
      '--error',
      'http_422',
      '--yes',
      '--json',
      '--reason',
      'orchestrator accepts the tier again, INC-7',
    ]);

    expect(result.code).toBe(0);
    expect(result.json()).toEqual({
      result: 'rearmed',
      filter: 'parked jobs with error http_422',
      rearmed: 1,
      refused: 0,
    });
    expect(await jobColumns(db.executor, jobs.parked422.id)).toMatchObject({
      status: 'enqueued',
      attempts: 1,
      budget_spent: 0,
      parked_at: null,
      next_attempt_at: now,
    });
    expect((await historyOf(db.executor, jobs.parked422.id)).at(-1)).toMatchObject({
      kind: 'rearmed',
      actor: 'operator:alice',
      reason: 'orchestrator accepts the tier again, INC-7',
      detail: { was_parked: true, was_capped: false, budget_spent_before: 1 },
    });
    for (const other of [jobs.parked401, jobs.capped5xx, jobs.waiting]) {
      expect((await historyOf(db.executor, other.id)).map((event) => event.kind)).not.toContain(
        'rearmed',
      );
    }
  });

  it('--error http_5xx --since 2h takes capped and parked jobs alike, stopped within the window only', async () => {
    const jobs = await seedJobs();

    const result = await run([
      'rearm',
      '--error',
      'http_5xx',
      '--since',
      '2h',
      '--yes',
      '--json',
      '--reason',
      'orchestrator back',
    ]);

    expect(result.code).toBe(0);
    expect(result.json()).toMatchObject({ rearmed: 1, refused: 0 });
    expect((result.json() as BulkResult).filter).toMatch(
      /^capped or parked jobs with error http_5xx stopped since 2026-11-23 08:00:00Z$/,
    );
    expect(await jobColumns(db.executor, jobs.capped5xx.id)).toMatchObject({
      budget_spent: 0,
      capped_at: null,
    });
    expect(await jobColumns(db.executor, jobs.cappedOld5xx.id)).toMatchObject({ budget_spent: 8 });
  });

  it('warns before re-arming jobs refused with 401: the trigger secret or URL was wrong', async () => {
    await seedJobs();

    const result = await run(['rearm', '--parked', '--dry-run']);

    expect(result.code).toBe(0);
    expect(result.stderr).toContain('1 of these were refused with 401/403');
  });

  it('asks for a reason and a yes at a terminal, and re-arms every selected job only then', async () => {
    const jobs = await seedJobs();

    const declined = await run(['rearm', '--capped'], { input: ['outage over', 'no'] });
    const confirmed = await run(['rearm', '--capped'], { input: ['outage over', 'yes'] });

    expect(declined.code).toBe(1);
    expect(declined.stderr).toContain('not confirmed; nothing was done');
    expect(confirmed.stderr).toContain('Re-arm 3 jobs on the local database');
    expect(confirmed.code).toBe(0);
    expect(confirmed.stdout).toContain('Re-armed 3 jobs.');
    for (const job of [jobs.cappedOld5xx, jobs.capped5xx, jobs.cappedTimeout]) {
      const rearms = (await historyOf(db.executor, job.id)).filter((e) => e.kind === 'rearmed');
      expect(rearms).toEqual([
        expect.objectContaining({ actor: 'operator:alice', reason: 'outage over' }),
      ]);
    }
  });

  it('paces the re-arms at --rate a second on its timer, with a progress bar on a terminal', async () => {
    await seedJobs();
    const timer = new PacingTimer();

    const result = await run(['rearm', '--capped', '--rate', '4', '--yes', '--reason', 'r'], {
      timer,
      stderrTty: true,
    });

    expect(result.code).toBe(0);
    // Three re-arms, a quarter of a second apart: two waits.
    expect(timer.sleeps).toEqual([250, 250]);
    expect(result.stdout).toMatch(/pace\s+4 a second/);
    expect(result.stderr).toContain('\rrearming [##############################] 3/3');
  });

  it('counts a job that was provisioned while the re-arm was under way as refused, and leaves it untouched', async () => {
    const jobs = await seedJobs();
    // The second job's tenant arrives while the command waits before it.
    const timer = new PacingTimer(async (sleep) => {
      if (sleep === 1) await provision(db.executor, 'cs_test_capped_5xx', now, 'dpl_late');
    });

    const result = await run(['rearm', '--capped', '--yes', '--json', '--reason', 'r'], { timer });

    expect(result.code).toBe(0);
    expect(result.json()).toMatchObject({ result: 'rearmed', rearmed: 2, refused: 1 });
    expect(await jobColumns(db.executor, jobs.capped5xx.id)).toMatchObject({
      status: 'provisioned',
      deployment_id: 'dpl_late',
    });
    expect((await historyOf(db.executor, jobs.capped5xx.id)).map((e) => e.kind)).not.toContain(
      'rearmed',
    );
  });

  it('says when no job matches, and does nothing', async () => {
    await seedJobs();

    const result = await run(['rearm', '--parked', '--error', 'http_500', '--yes', '--json']);

    expect(result.code).toBe(0);
    expect(result.json()).toEqual({
      result: 'nothing_to_rearm',
      filter: 'parked jobs with error http_500',
      rearmed: 0,
    });
  });

  it('refuses a job and a filter together, pacing without a filter, and a malformed filter, as usage errors', async () => {
    const jobs = await seedJobs();

    const both = await run(['rearm', jobs.capped5xx.id, '--capped', '--yes', '--reason', 'r']);
    const rateAlone = await run(['rearm', jobs.capped5xx.id, '--rate', '5', '--yes']);
    const badError = await run(['rearm', '--error', 'HTTP 5xx', '--yes', '--reason', 'r']);
    const badSince = await run(['rearm', '--since', 'yesterday', '--yes', '--reason', 'r']);

    expect([both.code, rateAlone.code, badError.code, badSince.code]).toEqual([2, 2, 2, 2]);
    expect(both.stderr).toContain('give either JOB or filters');
    expect(rateAlone.stderr).toContain('--rate goes with a filter');
    expect(badError.stderr).toContain('--error must be a failure class');
    expect(badSince.stderr).toContain('--since must be a duration');
    expect(await jobColumns(db.executor, jobs.capped5xx.id)).toMatchObject({ budget_spent: 8 });
  });
});
