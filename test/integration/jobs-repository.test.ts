import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RULES } from '../../functions/core/rules.js';
import { upsertPackage, upsertUser } from '../../functions/db/catalogue-repository.js';
import type { SqlExecutor } from '../../functions/db/executor.js';
import { applyCallback } from '../../functions/db/jobs/callbacks.js';
import {
  recordAwaitingPayment,
  recordPaymentFailed,
  recordSettledCheckout,
  type SettledCheckout,
} from '../../functions/db/jobs/checkout-records.js';
import { recordHandoffOutcome } from '../../functions/db/jobs/handoff-outcomes.js';
import type { JobRow } from '../../functions/db/jobs/job-row.js';
import { readJob, rearmJob } from '../../functions/db/jobs/operator-actions.js';
import { claimStaleJobs, countStuckJobs } from '../../functions/db/jobs/reconcile-claims.js';
import { notifyStalls } from '../../functions/db/watchdog-repository.js';
import { bridgedExecutor, executorsFor } from '../support/executors.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';

const T0 = new Date('2026-11-23T10:00:00.000Z');
const minutes = (n: number) => new Date(T0.getTime() + n * 60_000);

let db: TestDatabase;
let sessionCounter = 0;

function checkout(overrides: Partial<SettledCheckout> = {}): SettledCheckout {
  sessionCounter += 1;
  return {
    stripeSessionId: `cs_test_${sessionCounter}_${Math.random().toString(36).slice(2, 8)}`,
    stripeCustomerId: 'cus_123',
    customerEmail: 'ada@example.com',
    packageSlug: 'growth',
    callbackUrl: 'https://handoff.example.com/api/internal/provisioning/callback',
    ...overrides,
  };
}

async function jobOf(sessionId: string): Promise<JobRow & Record<string, unknown>> {
  const { rows } = await db.pool.query(
    'SELECT * FROM provisioning_jobs WHERE stripe_session_id = $1',
    [sessionId],
  );
  return rows[0];
}

async function accountOf(sessionId: string): Promise<Record<string, unknown> | undefined> {
  const { rows } = await db.pool.query(
    'SELECT * FROM customer_accounts WHERE stripe_session_id = $1',
    [sessionId],
  );
  return rows[0];
}

beforeAll(async () => {
  db = await freshDatabase();
  await upsertPackage(db.executor, { slug: 'growth', tier: 'growth', tokensQuota: 1_100_000 });
  await upsertPackage(db.executor, { slug: 'starter', tier: 'starter', tokensQuota: 100_000 });
});

afterAll(async () => {
  await db.close();
});

describe.each([
  { name: 'Data API', make: () => bridgedExecutor(db).executor },
  { name: 'pg', make: () => db.executor },
])('provisioning jobs through the $name executor', ({ make }) => {
  let exec: SqlExecutor;
  beforeEach(() => {
    exec = make();
  });

  describe('recording a settled checkout', () => {
    it('creates the job, its pending account and the exact trigger payload, counting the first hand-off', async () => {
      const paid = checkout();

      const { job, created } = await recordSettledCheckout(exec, paid, T0);

      expect(created).toBe(true);
      expect(job).toMatchObject({
        stripe_session_id: paid.stripeSessionId,
        status: 'enqueued',
        attempts: 1,
        last_error: null,
        package_slug: 'growth',
        tokens_quota: 1_100_000,
        last_attempt_at: T0,
        updated_at: T0,
      });
      expect(job.trigger_payload).toEqual({
        job_id: job.id,
        stripe_session_id: paid.stripeSessionId,
        account_id: job.account_id,
        package_slug: 'growth',
        tokens_quota: 1_100_000,
        customer_email: 'ada@example.com',
        callback_url: paid.callbackUrl,
      });
      expect(await accountOf(paid.stripeSessionId)).toMatchObject({
        id: job.account_id,
        status: 'pending',
        tier: 'growth',
        tokens_quota: 1_100_000,
      });
    });

    it('answers a repeat delivery with the same job and changes nothing', async () => {
      const paid = checkout();
      const first = await recordSettledCheckout(exec, paid, T0);

      const again = await recordSettledCheckout(exec, paid, minutes(1));

      expect(again.created).toBe(false);
      expect(again.job).toEqual(first.job);
      const report = await readJob(exec, paid.stripeSessionId);
      expect(report?.history.map((event) => event.kind)).toEqual(['recorded']);
    });

    it('records an unknown package with no payload and never counts a hand-off for it', async () => {
      const paid = checkout({ packageSlug: 'platinum' });

      const { job } = await recordSettledCheckout(exec, paid, T0);

      expect(job).toMatchObject({
        status: 'enqueued',
        attempts: 0,
        trigger_payload: null,
        last_error: 'unknown_package',
        last_attempt_at: null,
        tokens_quota: null,
      });
    });

    it('never downgrades a provisioned job or its active account', async () => {
      const paid = checkout();
      await recordSettledCheckout(exec, paid, T0);
      await applyCallback(
        exec,
        {
          stripeSessionId: paid.stripeSessionId,
          status: 'provisioned',
          deploymentId: 'dpl_1',
          cellId: 'cell-a',
        },
        minutes(2),
      );

      const again = await recordSettledCheckout(exec, paid, minutes(3));

      expect(again.job.status).toBe('provisioned');
      expect((await accountOf(paid.stripeSessionId))?.status).toBe('active');
    });
  });

  describe('delayed payment methods', () => {
    it('keep the account awaiting payment until the payment settles, then record the job', async () => {
      const unpaid = checkout();

      await recordAwaitingPayment(exec, unpaid, T0);
      const waiting = await accountOf(unpaid.stripeSessionId);
      const { job } = await recordSettledCheckout(exec, unpaid, minutes(60));

      expect(waiting?.status).toBe('awaiting_payment');
      expect(job.account_id).toBe(waiting?.id);
      expect(job.trigger_payload?.account_id).toBe(waiting?.id);
      expect((await accountOf(unpaid.stripeSessionId))?.status).toBe('pending');
    });

    it('never move a settled account back to awaiting payment when events arrive out of order', async () => {
      const paid = checkout();
      await recordSettledCheckout(exec, paid, T0);

      const late = await recordAwaitingPayment(exec, paid, minutes(1));

      expect(late.recorded).toBe(false);
      expect((await accountOf(paid.stripeSessionId))?.status).toBe('pending');
    });

    it('mark the waiting account failed when the payment fails, and a settled one never', async () => {
      const unpaid = checkout();
      const paid = checkout();
      await recordAwaitingPayment(exec, unpaid, T0);
      await recordSettledCheckout(exec, paid, T0);

      await recordPaymentFailed(exec, unpaid, minutes(5));
      const ignored = await recordPaymentFailed(exec, paid, minutes(5));

      expect((await accountOf(unpaid.stripeSessionId))?.status).toBe('failed');
      expect(ignored.recorded).toBe(false);
      expect((await accountOf(paid.stripeSessionId))?.status).toBe('pending');
    });
  });

  describe('hand-off outcomes', () => {
    it('record the classified failure and clear it when a later attempt is accepted', async () => {
      const paid = checkout();
      const { job } = await recordSettledCheckout(exec, paid, T0);

      await recordHandoffOutcome(
        exec,
        { jobId: job.id, attempt: 1, outcome: 'http_5xx' },
        minutes(1),
      );
      const failing = await jobOf(paid.stripeSessionId);
      await recordHandoffOutcome(
        exec,
        { jobId: job.id, attempt: 1, outcome: 'accepted' },
        minutes(2),
      );

      expect(failing.last_error).toBe('http_5xx');
      expect(await jobOf(paid.stripeSessionId)).toMatchObject({
        last_error: null,
        attempts: 1,
        status: 'enqueued',
      });
    });

    it('ignore the outcome of an attempt that a newer re-drive superseded', async () => {
      const paid = checkout();
      const { job } = await recordSettledCheckout(exec, paid, T0);
      await claimStaleJobs(exec, 1000, minutes(6), DEFAULT_RULES);

      const stale = await recordHandoffOutcome(
        exec,
        { jobId: job.id, attempt: 1, outcome: 'timeout' },
        minutes(7),
      );

      expect(stale.recorded).toBe(false);
      expect(await jobOf(paid.stripeSessionId)).toMatchObject({ attempts: 2, last_error: null });
    });

    it('leave a hand-off out of progress: a failing attempt does not move updated_at', async () => {
      const paid = checkout();
      const { job } = await recordSettledCheckout(exec, paid, T0);

      await recordHandoffOutcome(
        exec,
        { jobId: job.id, attempt: 1, outcome: 'fetch_error' },
        minutes(10),
      );

      expect((await jobOf(paid.stripeSessionId)).updated_at).toEqual(T0);
    });
  });

  describe('orchestrator callbacks', () => {
    it('record progress with its phase and heartbeat', async () => {
      const paid = checkout();
      await recordSettledCheckout(exec, paid, T0);

      const result = await applyCallback(
        exec,
        { stripeSessionId: paid.stripeSessionId, status: 'provisioning', phase: 'database' },
        minutes(3),
      );

      expect(result).toMatchObject({
        kind: 'known',
        applied: true,
        priorStatus: 'enqueued',
        status: 'provisioning',
      });
      expect(await jobOf(paid.stripeSessionId)).toMatchObject({
        status: 'provisioning',
        phase: 'database',
        heartbeat_at: minutes(3),
        updated_at: minutes(3),
      });
    });

    it('flip the job provisioned and the account active in one step, with coordinates and quota', async () => {
      const paid = checkout();
      await recordSettledCheckout(exec, paid, T0);

      await applyCallback(
        exec,
        {
          stripeSessionId: paid.stripeSessionId,
          status: 'provisioned',
          deploymentId: 'dpl_abc',
          cellId: 'cell-eu-1',
          tokensQuota: 2_000_000,
        },
        minutes(4),
      );

      expect(await jobOf(paid.stripeSessionId)).toMatchObject({
        status: 'provisioned',
        deployment_id: 'dpl_abc',
        cell_id: 'cell-eu-1',
        tokens_quota: 2_000_000,
        provisioned_at: minutes(4),
      });
      expect(await accountOf(paid.stripeSessionId)).toMatchObject({
        status: 'active',
        deployment_id: 'dpl_abc',
        cell_id: 'cell-eu-1',
        tokens_quota: 2_000_000,
      });
    });

    it('leave the quota as it is when the callback says 0 or nothing', async () => {
      const paid = checkout();
      await recordSettledCheckout(exec, paid, T0);

      await applyCallback(
        exec,
        {
          stripeSessionId: paid.stripeSessionId,
          status: 'provisioned',
          deploymentId: 'dpl_q',
          cellId: 'c',
          tokensQuota: 0,
        },
        minutes(4),
      );

      expect((await jobOf(paid.stripeSessionId)).tokens_quota).toBe(1_100_000);
      expect((await accountOf(paid.stripeSessionId))?.tokens_quota).toBe(1_100_000);
    });

    it('replay idempotently and never downgrade a provisioned job', async () => {
      const paid = checkout();
      await recordSettledCheckout(exec, paid, T0);
      const link = {
        stripeSessionId: paid.stripeSessionId,
        status: 'provisioned' as const,
        deploymentId: 'dpl_once',
        cellId: 'cell-1',
      };
      await applyCallback(exec, link, minutes(4));

      const replay = await applyCallback(exec, link, minutes(5));
      const lateFailure = await applyCallback(
        exec,
        { stripeSessionId: paid.stripeSessionId, status: 'failed', error: 'saga timed out' },
        minutes(6),
      );
      const lateProgress = await applyCallback(
        exec,
        { stripeSessionId: paid.stripeSessionId, status: 'provisioning', phase: 'dns' },
        minutes(7),
      );

      for (const result of [replay, lateFailure, lateProgress]) {
        expect(result).toMatchObject({
          kind: 'known',
          applied: false,
          priorStatus: 'provisioned',
          status: 'provisioned',
        });
      }
      expect(await jobOf(paid.stripeSessionId)).toMatchObject({
        status: 'provisioned',
        deployment_id: 'dpl_once',
        updated_at: minutes(4),
        last_error: null,
      });
    });

    it('record a failure with the orchestrator error', async () => {
      const paid = checkout();
      await recordSettledCheckout(exec, paid, T0);

      await applyCallback(
        exec,
        { stripeSessionId: paid.stripeSessionId, status: 'failed', error: 'quota service down' },
        minutes(2),
      );

      expect(await jobOf(paid.stripeSessionId)).toMatchObject({
        status: 'failed',
        last_error: 'quota service down',
      });
    });

    it('tell an unknown session apart and write nothing', async () => {
      const before = await db.pool.query('SELECT count(*)::int AS n FROM provisioning_job_events');

      const result = await applyCallback(
        exec,
        {
          stripeSessionId: 'cs_test_never_recorded',
          status: 'provisioned',
          deploymentId: 'dpl_x',
          cellId: 'c',
        },
        T0,
      );

      expect(result).toEqual({ kind: 'unknown_session' });
      const after = await db.pool.query('SELECT count(*)::int AS n FROM provisioning_job_events');
      expect(after.rows[0].n).toBe(before.rows[0].n);
    });
  });

  describe('re-arming a capped job', () => {
    it('resets the attempt budget with the operator and reason in the history', async () => {
      const paid = checkout();
      const { job } = await recordSettledCheckout(exec, paid, T0);
      await db.pool.query(
        'UPDATE provisioning_jobs SET attempts = 8, last_error = $2 WHERE id = $1',
        [job.id, 'http_5xx'],
      );

      const result = await rearmJob(
        exec,
        { jobId: job.id, actor: 'operator:alice', reason: 'orchestrator is back' },
        minutes(90),
      );

      expect(result).toEqual({ kind: 'rearmed', priorAttempts: 8 });
      expect(await jobOf(paid.stripeSessionId)).toMatchObject({
        attempts: 0,
        status: 'enqueued',
        last_attempt_at: null,
        updated_at: minutes(90),
      });
      const report = await readJob(exec, paid.stripeSessionId);
      expect(report?.history.at(-1)).toMatchObject({
        kind: 'rearmed',
        actor: 'operator:alice',
        reason: 'orchestrator is back',
      });
    });

    it('refuses a provisioned job and tells an unknown one apart', async () => {
      const paid = checkout();
      const { job } = await recordSettledCheckout(exec, paid, T0);
      await applyCallback(
        exec,
        {
          stripeSessionId: paid.stripeSessionId,
          status: 'provisioned',
          deploymentId: 'dpl_r',
          cellId: 'c',
        },
        minutes(1),
      );

      const refused = await rearmJob(
        exec,
        { jobId: job.id, actor: 'operator:alice', reason: 'oops' },
        minutes(2),
      );
      const missing = await rearmJob(
        exec,
        { jobId: '00000000-0000-4000-8000-000000000000', actor: 'operator:alice', reason: 'oops' },
        minutes(2),
      );

      expect(refused).toEqual({ kind: 'refused_provisioned' });
      expect(missing).toEqual({ kind: 'not_found' });
      expect((await jobOf(paid.stripeSessionId)).status).toBe('provisioned');
    });
  });

  it('reads a job with its account and whole history', async () => {
    const paid = checkout();
    const { job } = await recordSettledCheckout(exec, paid, T0);
    await recordHandoffOutcome(
      exec,
      { jobId: job.id, attempt: 1, outcome: 'accepted' },
      minutes(1),
    );
    await applyCallback(
      exec,
      { stripeSessionId: paid.stripeSessionId, status: 'provisioning', phase: 'cell' },
      minutes(2),
    );

    const report = await readJob(exec, paid.stripeSessionId);

    expect(report?.job).toMatchObject({ id: job.id, status: 'provisioning', phase: 'cell' });
    expect(report?.account).toMatchObject({ id: job.account_id, status: 'pending' });
    expect(report?.history.map((event) => [event.kind, event.actor, event.to_status])).toEqual([
      ['recorded', 'stripe', 'enqueued'],
      ['handoff', 'handoff', 'enqueued'],
      ['callback', 'orchestrator', 'provisioning'],
    ]);
    expect(await readJob(exec, 'cs_test_unknown')).toBeUndefined();
  });
});

describe('the reconciler and the gauge', () => {
  let isolated: TestDatabase;
  beforeEach(async () => {
    isolated = await freshDatabase();
    await upsertPackage(isolated.executor, {
      slug: 'growth',
      tier: 'growth',
      tokensQuota: 1_100_000,
    });
    return () => isolated.close();
  });

  it.each(['Data API', 'pg'])(
    'claims STALE jobs oldest first through the %s executor, skipping and counting NULL payloads',
    async (name) => {
      const exec = executorsFor(isolated).find((e) => e.name === name)?.executor as SqlExecutor;
      const oldest = await recordSettledCheckout(exec, checkout(), minutes(0));
      const older = await recordSettledCheckout(exec, checkout(), minutes(1));
      await recordSettledCheckout(exec, checkout(), minutes(9)); // handed off 1 minute ago: not stale
      await recordSettledCheckout(exec, checkout({ packageSlug: 'nope' }), minutes(0));
      const capped = await recordSettledCheckout(exec, checkout(), minutes(0));
      await isolated.pool.query('UPDATE provisioning_jobs SET attempts = 8 WHERE id = $1', [
        capped.job.id,
      ]);

      const claim = await claimStaleJobs(exec, 25, minutes(10), DEFAULT_RULES);

      expect(claim.jobs.map((job) => job.id)).toEqual([oldest.job.id, older.job.id]);
      expect(claim.jobs.map((job) => job.attempt)).toEqual([2, 2]);
      expect(claim.jobs[0]?.triggerPayload).toEqual(oldest.job.trigger_payload);
      expect(claim.skippedNoPayload).toBe(1);
      const again = await claimStaleJobs(exec, 25, minutes(10), DEFAULT_RULES);
      expect(again).toEqual({ jobs: [], skippedNoPayload: 1 });
    },
  );

  it('claims at most the batch size per run', async () => {
    for (let i = 0; i < 5; i += 1)
      await recordSettledCheckout(isolated.executor, checkout(), minutes(i));

    const claim = await claimStaleJobs(isolated.executor, 2, minutes(30), DEFAULT_RULES);

    expect(claim.jobs).toHaveLength(2);
  });

  it('counts exactly the STUCK jobs: no progress for 15 minutes, or at the cap', async () => {
    const exec = isolated.executor;
    await recordSettledCheckout(exec, checkout(), minutes(0)); // 20 min without progress: stuck
    await recordSettledCheckout(exec, checkout(), minutes(10)); // 10 min: not yet
    const capped = await recordSettledCheckout(exec, checkout(), minutes(19)); // fresh but capped: stuck
    await isolated.pool.query('UPDATE provisioning_jobs SET attempts = 8 WHERE id = $1', [
      capped.job.id,
    ]);
    const done = checkout();
    await recordSettledCheckout(exec, done, minutes(0));
    await applyCallback(
      exec,
      {
        stripeSessionId: done.stripeSessionId,
        status: 'provisioned',
        deploymentId: 'dpl_d',
        cellId: 'c',
      },
      minutes(1),
    );
    await recordSettledCheckout(exec, checkout({ packageSlug: 'nope' }), minutes(0)); // unknown package: stuck

    expect(await countStuckJobs(exec, minutes(20), DEFAULT_RULES)).toBe(3);
    expect(
      await countStuckJobs(bridgedExecutor(isolated).executor, minutes(20), DEFAULT_RULES),
    ).toBe(3);
  });

  it('makes every transition one Data API round trip', async () => {
    const { executor, bridge } = bridgedExecutor(isolated);
    const paid = checkout();

    const { job } = await recordSettledCheckout(executor, paid, T0);
    await recordHandoffOutcome(
      executor,
      { jobId: job.id, attempt: 1, outcome: 'accepted' },
      minutes(1),
    );
    await applyCallback(
      executor,
      { stripeSessionId: paid.stripeSessionId, status: 'provisioning' },
      minutes(2),
    );
    await claimStaleJobs(executor, 25, minutes(10), DEFAULT_RULES);
    await applyCallback(
      executor,
      {
        stripeSessionId: paid.stripeSessionId,
        status: 'provisioned',
        deploymentId: 'dpl_1',
        cellId: 'c',
      },
      minutes(11),
    );
    await rearmJob(executor, { jobId: job.id, actor: 'operator:bob', reason: 'test' }, minutes(12));

    expect(bridge.calls.map((call) => call.command)).toEqual(
      Array(6).fill('ExecuteStatementCommand'),
    );
  });
});

describe('the watchdog sweep', () => {
  let isolated: TestDatabase;
  beforeEach(async () => {
    isolated = await freshDatabase();
    return () => isolated.close();
  });

  async function stalledDatabase(id: string, status: string, startedAt: Date) {
    await isolated.pool.query(
      'INSERT INTO organization_databases (id, status, provisioned_at, updated_at) VALUES ($1, $2, $3, $3)',
      [id, status, startedAt],
    );
  }

  it('notifies every admin once per stalled database, and nobody else', async () => {
    const exec = bridgedExecutor(isolated).executor;
    const ops = await upsertUser(exec, { email: 'ops@example.com', role: 'admin' });
    const cto = await upsertUser(exec, { email: 'cto@example.com', role: 'admin' });
    await upsertUser(exec, { email: 'dev@example.com', role: 'member' });
    await stalledDatabase('db_stalled', 'migrating', minutes(0));
    await stalledDatabase('db_young', 'provisioning', minutes(20));
    await stalledDatabase('db_ready', 'ready', minutes(0));

    const sweep = await notifyStalls(exec, minutes(45), DEFAULT_RULES);

    expect(sweep).toEqual({ stalledDatabases: 1, cappedJobs: 0, notificationsSent: 2 });
    const { rows } = await isolated.pool.query(
      'SELECT user_id, level, kind, organization_database_id FROM notifications ORDER BY user_id',
    );
    expect(rows).toEqual(
      [ops, cto].sort().map((userId) => ({
        user_id: userId,
        level: 'error',
        kind: 'database_stalled',
        organization_database_id: 'db_stalled',
      })),
    );
  });

  it('does not repeat itself within the re-notify interval, and reminds after it', async () => {
    const exec = isolated.executor;
    await upsertUser(exec, { email: 'ops@example.com', role: 'admin' });
    await stalledDatabase('db_stuck', 'provisioning', minutes(0));

    const first = await notifyStalls(exec, minutes(60), DEFAULT_RULES);
    const nextHour = await notifyStalls(exec, minutes(120), DEFAULT_RULES);
    const afterInterval = await notifyStalls(exec, minutes(60 + 6 * 60 + 1), DEFAULT_RULES);

    expect([
      first.notificationsSent,
      nextHour.notificationsSent,
      afterInterval.notificationsSent,
    ]).toEqual([1, 0, 1]);
    expect(nextHour.stalledDatabases).toBe(1);
  });

  it('reports jobs past the retry cap and never changes what it reports on', async () => {
    const exec = isolated.executor;
    await upsertPackage(exec, { slug: 'growth', tier: 'growth', tokensQuota: 1 });
    await upsertUser(exec, { email: 'ops@example.com', role: 'admin' });
    const { job } = await recordSettledCheckout(exec, checkout(), T0);
    await isolated.pool.query(
      `UPDATE provisioning_jobs SET attempts = 8, last_error = 'http_5xx' WHERE id = $1`,
      [job.id],
    );
    await stalledDatabase('db_s', 'provisioning', minutes(0));
    const before = await isolated.pool.query('SELECT * FROM provisioning_jobs');

    const sweep = await notifyStalls(exec, minutes(60), DEFAULT_RULES);

    expect(sweep).toEqual({ stalledDatabases: 1, cappedJobs: 1, notificationsSent: 2 });
    const { rows } = await isolated.pool.query(
      `SELECT job_id, message FROM notifications WHERE kind = 'job_capped'`,
    );
    expect(rows).toEqual([{ job_id: job.id, message: expect.stringContaining('http_5xx') }]);
    expect((await isolated.pool.query('SELECT * FROM provisioning_jobs')).rows).toEqual(
      before.rows,
    );
    expect((await isolated.pool.query('SELECT status FROM organization_databases')).rows).toEqual([
      { status: 'provisioning' },
    ]);
  });
});
