import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RULES } from '../../functions/core/rules.js';
import { upsertPackage } from '../../functions/db/catalogue-repository.js';
import type { SqlExecutor } from '../../functions/db/executor.js';
import { applyCallback } from '../../functions/db/jobs/callbacks.js';
import { PACKAGES } from '../support/handler-harness.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';
import { historyOf, jobColumns, localEnv, opsRunner, recordCheckout } from './ops-harness.js';

let db: TestDatabase;
const now = new Date('2026-11-23T10:00:00.000Z');
let ops: ReturnType<typeof opsRunner>;

beforeAll(async () => {
  db = await freshDatabase();
  for (const pkg of PACKAGES) await upsertPackage(db.executor, pkg);
  ops = opsRunner({
    env: localEnv(db.connectionString),
    collaborators: { clock: () => now, osUser: () => 'alice' },
  });
});
afterAll(async () => {
  await db.close();
});

/** A job out of budget: eight dispatched attempts, the last failing with `lastError`. */
async function cappedJob(executor: SqlExecutor, session: string, lastError: string) {
  const job = await recordCheckout(executor, session, now);
  await executor.execute(
    `UPDATE provisioning_jobs SET attempts = 8, budget_spent = 8, last_error = :lastError,
       last_attempt_at = :at, capped_at = :at, lease_expires_at = NULL
     WHERE id = :jobId`,
    {
      jobId: { type: 'uuid', value: job.id },
      lastError: { type: 'text', value: lastError },
      at: { type: 'timestamp', value: now },
    },
  );
  return job;
}

describe('ops rearm (runbook 5)', () => {
  it('re-arms a capped job with --yes: a fresh budget, due now, the attempt number kept, who and why in its history', async () => {
    const job = await cappedJob(db.executor, 'cs_test_rearm_ok', 'orchestrator_failed');

    const result = await ops(
      ['rearm', job.id, '--yes', '--json', '--reason', 'saga fixed, INC-9'],
      {
        tty: false,
      },
    );

    expect(result.code).toBe(0);
    expect(result.json()).toEqual({
      result: 'rearmed',
      job_id: job.id,
      stripe_session_id: 'cs_test_rearm_ok',
      prior_budget_spent: 8,
    });
    expect(await jobColumns(db.executor, job.id)).toMatchObject({
      status: 'enqueued',
      attempts: 8,
      budget_spent: 0,
      capped_at: null,
      next_attempt_at: now,
    });
    expect((await historyOf(db.executor, job.id)).at(-1)).toMatchObject({
      kind: 'rearmed',
      actor: 'operator:alice',
      reason: 'saga fixed, INC-9',
    });
  });

  it('finds the job by its session id as well', async () => {
    await cappedJob(db.executor, 'cs_test_rearm_session', 'http_4xx');

    const result = await ops(['rearm', 'cs_test_rearm_session', '--yes', '--reason', 'r']);

    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Re-armed job');
  });

  it('never touches a provisioned job, even with --yes', async () => {
    const job = await recordCheckout(db.executor, 'cs_test_rearm_done', now);
    await applyCallback(
      db.executor,
      {
        stripeSessionId: 'cs_test_rearm_done',
        status: 'provisioned',
        deploymentId: 'dpl_r',
        cellId: 'c',
      },
      now,
      DEFAULT_RULES,
    );
    const before = {
      row: await jobColumns(db.executor, job.id),
      history: await historyOf(db.executor, job.id),
    };

    const result = await ops(['rearm', job.id, '--yes', '--reason', 'oops']);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('never re-armed');
    expect(await jobColumns(db.executor, job.id)).toEqual(before.row);
    expect(await historyOf(db.executor, job.id)).toEqual(before.history);
  });

  it('does nothing without --yes when stdin is not a terminal, and says so', async () => {
    const job = await cappedJob(db.executor, 'cs_test_rearm_notty', 'orchestrator_failed');

    const result = await ops(['rearm', job.id, '--reason', 'r'], { tty: false });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'stdin is not a terminal and --yes was not given; nothing was done',
    );
    expect(await jobColumns(db.executor, job.id)).toMatchObject({ budget_spent: 8 });
  });

  it('warns when the last error says the transport was still broken', async () => {
    const job = await cappedJob(db.executor, 'cs_test_rearm_5xx', 'http_5xx');

    const result = await ops(['rearm', job.id, '--dry-run']);

    expect(result.code).toBe(0);
    expect(result.stderr).toContain('failed because the way to the orchestrator was broken');
    expect(result.stderr).toContain('Re-arm only once the trigger URL and secret are set');
    expect(await jobColumns(db.executor, job.id)).toMatchObject({ budget_spent: 8 });
  });

  it('asks for the reason and the confirmation at a terminal, and re-arms on yes', async () => {
    const job = await cappedJob(db.executor, 'cs_test_rearm_asked', 'timeout');

    const result = await ops(['rearm', job.id], {
      input: ['orchestrator back since 09:40', 'yes'],
    });

    expect(result.code).toBe(0);
    expect(result.stderr).toContain("Reason (kept in the job's history): ");
    expect(result.stderr).toContain('[y/N]');
    expect((await historyOf(db.executor, job.id)).at(-1)).toMatchObject({
      reason: 'orchestrator back since 09:40',
    });
  });

  it('leaves the job alone when the operator answers anything but yes', async () => {
    const job = await cappedJob(db.executor, 'cs_test_rearm_no', 'timeout');

    const result = await ops(['rearm', job.id], { input: ['a reason', ''] });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('not confirmed; nothing was done');
    expect(await jobColumns(db.executor, job.id)).toMatchObject({ budget_spent: 8 });
  });

  it('wants a reason for the history: --yes without --reason off a terminal is a usage error', async () => {
    const job = await cappedJob(db.executor, 'cs_test_rearm_noreason', 'timeout');

    const result = await ops(['rearm', job.id, '--yes'], { tty: false });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--reason is required');
    expect(await jobColumns(db.executor, job.id)).toMatchObject({ budget_spent: 8 });
  });

  it('refuses a reference that is neither a job id nor a session id as a usage error', async () => {
    const result = await ops(['rearm', 'job-42', '--yes', '--reason', 'r']);

    expect(result.code).toBe(2);
  });

  it('says an unknown job is not found', async () => {
    const result = await ops([
      'rearm',
      '00000000-0000-4000-8000-000000000000',
      '--yes',
      '--reason',
      'r',
    ]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no provisioning job');
  });
});
