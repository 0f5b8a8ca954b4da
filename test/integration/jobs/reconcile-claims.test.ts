import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RULES, type ProvisioningRules } from '../../../functions/core/rules.js';
import { upsertPackage } from '../../../functions/db/catalogue-repository.js';
import type { SqlExecutor } from '../../../functions/db/executor.js';
import { applyCallback } from '../../../functions/db/jobs/callbacks.js';
import { recordSettledCheckout } from '../../../functions/db/jobs/checkout-records.js';
import {
  dispatchAttempt,
  recordAttemptOutcome,
} from '../../../functions/db/jobs/handoff-attempts.js';
import { cancelJob, rearmJob } from '../../../functions/db/jobs/operator-actions.js';
import {
  claimProbe,
  claimStaleJobs,
  countStuckJobs,
} from '../../../functions/db/jobs/reconcile-claims.js';
import { bridgedExecutor } from '../../support/executors.js';
import {
  breakerOf,
  checkout,
  historyOf,
  jobOf,
  LEASE_SECONDS,
  minutes,
  replayingExecutor,
  seconds,
  T0,
} from '../../support/jobs.js';
import { freshDatabase, type TestDatabase } from '../../support/postgres.js';

const RULES: ProvisioningRules = { ...DEFAULT_RULES, handoffLeaseSeconds: LEASE_SECONDS };
const half = () => 0.5;

let db: TestDatabase;
beforeEach(async () => {
  db = await freshDatabase();
  await upsertPackage(db.executor, { slug: 'growth', tier: 'growth', tokensQuota: 1_100_000 });
});
afterEach(async () => {
  await db.close();
});

async function recorded(exec: SqlExecutor, at: Date, packageSlug = 'growth') {
  const { job } = await recordSettledCheckout(exec, checkout({ packageSlug }), at, LEASE_SECONDS);
  return job;
}

/** Attempt 1 sent and accepted at `at`: quiet until `at` + the quiet window. */
async function accepted(exec: SqlExecutor, at: Date) {
  const job = await recorded(exec, at);
  await dispatchAttempt(exec, { jobId: job.id, attempt: 1 }, at, 12);
  await recordAttemptOutcome(
    exec,
    { jobId: job.id, attempt: 1, outcome: 'accepted', failure: null },
    at,
    RULES,
    half,
  );
  return job;
}

describe.each(['Data API', 'pg'])('the reconciler through the %s executor', (name) => {
  let exec: SqlExecutor;
  beforeEach(() => {
    exec = name === 'pg' ? db.executor : bridgedExecutor(db).executor;
  });

  it('claims due jobs, the longest due first, each with its next attempt number and a lease; skips and counts NULL payloads', async () => {
    const oldest = await accepted(exec, minutes(0));
    const older = await accepted(exec, minutes(1));
    await accepted(exec, minutes(9)); // accepted 1 minute ago: quiet
    await recorded(exec, minutes(0), 'nope');
    const now = minutes(10);

    const claim = await claimStaleJobs(exec, 25, now, RULES);

    expect(claim.jobs.map((job) => [job.id, job.attempt, job.lastOutcome])).toEqual([
      [oldest.id, 2, 'accepted'],
      [older.id, 2, 'accepted'],
    ]);
    expect(claim.jobs[0]?.triggerPayload).toEqual(oldest.trigger_payload);
    expect(claim.skippedNoPayload).toBe(1);
    expect(claim.breaker).toEqual({ state: 'closed', openedAt: null });
    expect(await jobOf(db, oldest.stripe_session_id)).toMatchObject({
      attempts: 2,
      last_attempt_at: now,
      lease_expires_at: seconds(LEASE_SECONDS, now),
    });
    const again = await claimStaleJobs(exec, 25, now, RULES);
    expect(again.jobs).toEqual([]);
  });

  it('never claims a job with an attempt in flight, backing off, parked, capped or closed', async () => {
    await recorded(exec, minutes(0)); // attempt 1 claimed, its message still in the queue
    const backingOff = await recorded(exec, minutes(0));
    await dispatchAttempt(exec, { jobId: backingOff.id, attempt: 1 }, minutes(0), 12);
    await recordAttemptOutcome(
      exec,
      { jobId: backingOff.id, attempt: 1, outcome: 'transient', failure: 'timeout' },
      minutes(1),
      { ...RULES, staleAfterSeconds: 3600 },
      () => 0.99,
    );
    const parked = await accepted(exec, minutes(0));
    const capped = await accepted(exec, minutes(0));
    const cancelled = await accepted(exec, minutes(0));
    await db.pool.query('UPDATE provisioning_jobs SET parked_at = $2 WHERE id = $1', [
      parked.id,
      T0,
    ]);
    await db.pool.query('UPDATE provisioning_jobs SET capped_at = $2 WHERE id = $1', [
      capped.id,
      T0,
    ]);
    await cancelJob(
      exec,
      { jobId: cancelled.id, actor: 'operator:a', reason: 'fraud' },
      minutes(1),
    );

    const claim = await claimStaleJobs(exec, 25, minutes(5), RULES);

    expect(claim.jobs).toEqual([]);
  });

  it('caps a due job with no budget left once, and never claims it', async () => {
    const spent = await accepted(exec, minutes(0));
    await db.pool.query('UPDATE provisioning_jobs SET budget_spent = 8 WHERE id = $1', [spent.id]);

    const first = await claimStaleJobs(exec, 25, minutes(10), RULES);
    const second = await claimStaleJobs(exec, 25, minutes(20), RULES);

    expect(first.jobs).toEqual([]);
    expect(first.capped).toEqual([
      { id: spent.id, stripeSessionId: spent.stripe_session_id, lastError: null },
    ]);
    expect(second.capped).toEqual([]);
    expect((await jobOf(db, spent.stripe_session_id)).capped_at).toEqual(minutes(10));
    expect(await historyOf(db, spent.id)).toEqual(['recorded', 'handoff', 'capped']);
  });

  it('claims at most the batch size per run, and a re-armed job again with a newer attempt number', async () => {
    const jobs = [];
    for (let i = 0; i < 3; i += 1) jobs.push(await accepted(exec, minutes(i)));
    const [first] = jobs;
    if (!first) throw new Error('no job');
    await db.pool.query(
      'UPDATE provisioning_jobs SET capped_at = $2, budget_spent = 8 WHERE id = $1',
      [first.id, T0],
    );
    await rearmJob(exec, { jobId: first.id, actor: 'operator:a', reason: 'fixed' }, minutes(30));

    const claim = await claimStaleJobs(exec, 2, minutes(30), RULES);

    expect(claim.jobs.map((job) => [job.id, job.attempt])).toEqual([
      [jobs[1]?.id, 2],
      [jobs[2]?.id, 2],
    ]);
    const next = await claimStaleJobs(exec, 2, minutes(30), RULES);
    expect(next.jobs.map((job) => [job.id, job.attempt])).toEqual([[first.id, 2]]);
  });

  it('claims nothing while the breaker is open; one probe at a time, spending no budget, none while an operator holds it', async () => {
    const waiting = await accepted(exec, minutes(0));
    await accepted(exec, minutes(1));
    await db.pool.query("UPDATE orchestrator_breaker SET state = 'open', opened_at = $1", [
      minutes(2),
    ]);

    const claim = await claimStaleJobs(exec, 25, minutes(10), RULES);
    const probe = await claimProbe(exec, minutes(10), RULES);
    const second = await claimProbe(exec, minutes(11), RULES);
    const dispatch = await dispatchAttempt(
      exec,
      { jobId: waiting.id, attempt: 2 },
      minutes(11),
      12,
    );

    expect(claim.jobs).toEqual([]);
    expect(claim.breaker).toEqual({ state: 'open', openedAt: minutes(2) });
    expect(probe).toMatchObject({ id: waiting.id, attempt: 2 });
    expect(second).toBeUndefined();
    expect(dispatch).toEqual({ decision: 'dispatch', probe: true, budgetSpent: 1 });
    expect(await breakerOf(db)).toMatchObject({ probe_job_id: waiting.id, probe_attempt: 2 });

    await recordAttemptOutcome(
      exec,
      { jobId: waiting.id, attempt: 2, outcome: 'transient', failure: 'timeout' },
      minutes(12),
      RULES,
      half,
    );
    await db.pool.query('UPDATE orchestrator_breaker SET forced = true');
    expect(await claimProbe(exec, minutes(20), RULES)).toBeUndefined();
  });

  it('answers a replayed claim with the jobs the first call claimed', async () => {
    const due = await accepted(exec, minutes(0));

    const claim = await claimStaleJobs(replayingExecutor(exec), 25, minutes(10), RULES);

    expect(claim.jobs.map((job) => [job.id, job.attempt])).toEqual([[due.id, 2]]);
    expect(await historyOf(db, due.id)).toEqual(['recorded', 'handoff', 'redrive']);
  });

  it('counts exactly the STUCK jobs: no progress for 15 minutes, parked or capped, never closed ones', async () => {
    await recorded(exec, minutes(0)); // 20 min without progress: stuck
    await recorded(exec, minutes(10)); // 10 min: not yet
    const parked = await recorded(exec, minutes(19)); // fresh but parked: stuck
    const capped = await recorded(exec, minutes(19)); // fresh but capped: stuck
    await db.pool.query('UPDATE provisioning_jobs SET parked_at = $2 WHERE id = $1', [
      parked.id,
      T0,
    ]);
    await db.pool.query('UPDATE provisioning_jobs SET capped_at = $2 WHERE id = $1', [
      capped.id,
      T0,
    ]);
    const done = await recorded(exec, minutes(0));
    await applyCallback(
      exec,
      {
        stripeSessionId: done.stripe_session_id,
        status: 'provisioned',
        deploymentId: 'dpl_d',
        cellId: 'c',
      },
      minutes(1),
      RULES,
    );
    const cancelled = await recorded(exec, minutes(0));
    await cancelJob(
      exec,
      { jobId: cancelled.id, actor: 'operator:a', reason: 'refunded' },
      minutes(1),
    );
    await recorded(exec, minutes(0), 'nope'); // unknown package, 20 min: stuck

    expect(await countStuckJobs(exec, minutes(20), RULES)).toBe(4);
  });
});

it('makes every transition one Data API round trip', async () => {
  const { executor, bridge } = bridgedExecutor(db);
  const paid = checkout();

  const { job } = await recordSettledCheckout(executor, paid, T0, LEASE_SECONDS);
  await dispatchAttempt(executor, { jobId: job.id, attempt: 1 }, T0, 12);
  await recordAttemptOutcome(
    executor,
    { jobId: job.id, attempt: 1, outcome: 'accepted', failure: null },
    minutes(1),
    RULES,
  );
  await applyCallback(
    executor,
    { stripeSessionId: paid.stripeSessionId, status: 'provisioning' },
    minutes(2),
    RULES,
  );
  await claimStaleJobs(executor, 25, minutes(10), RULES);
  await applyCallback(
    executor,
    {
      stripeSessionId: paid.stripeSessionId,
      status: 'provisioned',
      deploymentId: 'dpl_1',
      cellId: 'c',
    },
    minutes(11),
    RULES,
  );
  await rearmJob(executor, { jobId: job.id, actor: 'operator:bob', reason: 'test' }, minutes(12));
  await cancelJob(executor, { jobId: job.id, actor: 'operator:bob', reason: 'test' }, minutes(12));

  expect(bridge.calls.map((call) => call.command)).toEqual(
    Array(8).fill('ExecuteStatementCommand'),
  );
});
