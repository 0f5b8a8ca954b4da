import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RULES } from '../../functions/core/rules.js';
import { upsertPackage, upsertUser } from '../../functions/db/catalogue-repository.js';
import type { SqlExecutor } from '../../functions/db/executor.js';
import { applyCallback } from '../../functions/db/jobs/callbacks.js';
import {
  recordSettledCheckout,
  type SettledCheckout,
} from '../../functions/db/jobs/checkout-records.js';
import { dispatchAttempt, recordAttemptOutcome } from '../../functions/db/jobs/handoff-attempts.js';
import { cancelJob } from '../../functions/db/jobs/operator-actions.js';
import { type ClaimedJob, claimStaleJobs } from '../../functions/db/jobs/reconcile-claims.js';
import { notifyStalls } from '../../functions/db/watchdog-repository.js';
import { bridgedExecutor } from '../support/executors.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';

/**
 * Races on a real PostgreSQL: many callers at once on parallel connections (the pg
 * pool has 60), as Lambda concurrency, Stripe's retries, overlapping schedules and an
 * impatient orchestrator produce them. Every transition is one statement; these tests
 * hold each to its promise when callers collide.
 */

const T0 = new Date('2030-06-01T12:00:00.000Z');
const STARTER = { slug: 'starter', tier: 'starter', tokensQuota: 100_000 } as const;

function checkout(session: string): SettledCheckout {
  return {
    stripeSessionId: session,
    stripeCustomerId: 'cus_race',
    customerEmail: 'race@example.test',
    packageSlug: STARTER.slug,
    callbackUrl: 'https://app.example.test/api/internal/provisioning/callback',
  };
}

function minutesAfter(date: Date, minutes: number): Date {
  return new Date(date.getTime() + minutes * 60_000);
}

async function count(db: TestDatabase, sql: string, values: unknown[] = []): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>(sql, values);
  return Number(rows[0]?.n);
}

let db: TestDatabase;

beforeEach(async () => {
  db = await freshDatabase();
  await upsertPackage(db.executor, STARTER);
});

afterEach(async () => {
  await db?.close();
});

/** Both production executors: pg (local runtime) and the Data API (Lambda), served concurrently. */
const EXECUTORS = [
  { name: 'pg', executorOf: (database: TestDatabase): SqlExecutor => database.executor },
  {
    name: 'Data API',
    executorOf: (database: TestDatabase): SqlExecutor => bridgedExecutor(database).executor,
  },
];

describe.each(EXECUTORS)(
  'a checkout Stripe delivers many times at once ($name executor)',
  ({ executorOf }) => {
    it('is recorded as exactly one job with one account and one history entry', async () => {
      // Prepare
      const executor = executorOf(db);
      const session = 'cs_test_race_record';

      // Act: 50 deliveries of the same settled checkout, all at once.
      const results = await Promise.all(
        Array.from({ length: 50 }, () =>
          recordSettledCheckout(executor, checkout(session), T0, DEFAULT_RULES.handoffLeaseSeconds),
        ),
      );

      // Assess
      expect(results.filter((result) => result.created)).toHaveLength(1);
      expect(new Set(results.map((result) => result.job.id)).size).toBe(1);
      expect(new Set(results.map((result) => result.job.account_id)).size).toBe(1);
      expect(results.every((result) => result.job.attempts === 1)).toBe(true);
      expect(
        await count(
          db,
          'SELECT count(*) AS n FROM provisioning_jobs WHERE stripe_session_id = $1',
          [session],
        ),
      ).toBe(1);
      expect(
        await count(
          db,
          'SELECT count(*) AS n FROM customer_accounts WHERE stripe_session_id = $1',
          [session],
        ),
      ).toBe(1);
      expect(
        await count(
          db,
          `SELECT count(*) AS n FROM provisioning_job_events WHERE kind = 'recorded'`,
        ),
      ).toBe(1);
    });
  },
);

describe('overlapping reconciler runs', () => {
  const JOBS = 200;

  async function recordStaleJobs(): Promise<Set<string>> {
    const recorded = await Promise.all(
      Array.from({ length: JOBS }, (_, i) =>
        recordSettledCheckout(
          db.executor,
          checkout(`cs_test_stale_${i}`),
          T0,
          DEFAULT_RULES.handoffLeaseSeconds,
        ),
      ),
    );
    return new Set(recorded.map((result) => result.job.id));
  }

  async function assessEachClaimedOnce(all: Set<string>, claimed: ClaimedJob[]): Promise<void> {
    const ids = claimed.map((job) => job.id);
    // Never shared: no job in two claims; together: every stale job claimed.
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids)).toEqual(all);
    expect(claimed.every((job) => job.attempt === 2)).toBe(true);
    // Each attempt counted exactly once, with one re-drive in the history.
    const attempts = await db.pool.query<{ attempts: number; n: string }>(
      'SELECT attempts, count(*) AS n FROM provisioning_jobs GROUP BY attempts',
    );
    expect(attempts.rows.map((row) => ({ attempts: row.attempts, n: Number(row.n) }))).toEqual([
      { attempts: 2, n: JOBS },
    ]);
    const redrives = await db.pool.query<{ job_id: string; n: string }>(
      `SELECT job_id, count(*) AS n FROM provisioning_job_events WHERE kind = 'redrive' GROUP BY job_id`,
    );
    expect(redrives.rows).toHaveLength(JOBS);
    expect(redrives.rows.every((row) => Number(row.n) === 1)).toBe(true);
  }

  it('never claim the same job twice, and between them claim every stale job once (two runs, large batches)', async () => {
    // Prepare: 200 jobs handed off at T0, stale ten minutes later.
    const all = await recordStaleJobs();
    const now = minutesAfter(T0, 10);

    // Act: two runs at once, each allowed to take them all.
    const claims = await Promise.all([
      claimStaleJobs(db.executor, JOBS, now, DEFAULT_RULES),
      claimStaleJobs(db.executor, JOBS, now, DEFAULT_RULES),
    ]);

    // Assess
    await assessEachClaimedOnce(
      all,
      claims.flatMap((claim) => claim.jobs),
    );
    expect((await claimStaleJobs(db.executor, JOBS, now, DEFAULT_RULES)).jobs).toEqual([]);
  });

  it('leave the jobs of a run still in flight to it, and take only the others', async () => {
    // Prepare
    const all = await recordStaleJobs();
    const now = minutesAfter(T0, 10);

    // Act: a second run starts while the first run's claim is not yet committed.
    const { first, second } = await db.executor.transaction(async (tx) => {
      const first = await claimStaleJobs(tx, JOBS / 2, now, DEFAULT_RULES);
      const second = await claimStaleJobs(db.executor, JOBS, now, DEFAULT_RULES);
      return { first, second };
    });
    const third = await claimStaleJobs(db.executor, JOBS, now, DEFAULT_RULES);

    // Assess
    expect(first.jobs).toHaveLength(JOBS / 2);
    expect(second.jobs).toHaveLength(JOBS / 2);
    expect(third.jobs).toEqual([]);
    await assessEachClaimedOnce(all, [...first.jobs, ...second.jobs]);
  });

  it('never claim the same job twice, and between them claim every stale job once (eight runs, batches of 25)', async () => {
    // Prepare
    const all = await recordStaleJobs();
    const now = minutesAfter(T0, 10);

    // Act: eight runs at once, each claiming batches until it finds nothing to claim.
    const worker = async (): Promise<ClaimedJob[]> => {
      const mine: ClaimedJob[] = [];
      for (;;) {
        const claim = await claimStaleJobs(db.executor, 25, now, DEFAULT_RULES);
        if (claim.jobs.length === 0) return mine;
        mine.push(...claim.jobs);
      }
    };
    const claimed = await Promise.all(Array.from({ length: 8 }, worker));

    // Assess
    await assessEachClaimedOnce(all, claimed.flat());
  });
});

describe.each(EXECUTORS)(
  'a failed callback racing a provisioned one ($name executor)',
  ({ executorOf }) => {
    it('never downgrades the job: it stays provisioned with its deployment and the account is active', async () => {
      // Prepare: 30 sessions, each recorded and handed off.
      const executor = executorOf(db);
      const sessions = Array.from({ length: 30 }, (_, i) => `cs_test_callback_race_${i}`);
      await Promise.all(
        sessions.map((session) =>
          recordSettledCheckout(
            db.executor,
            checkout(session),
            T0,
            DEFAULT_RULES.handoffLeaseSeconds,
          ),
        ),
      );
      const now = minutesAfter(T0, 3);

      // Act: per session, `failed` and `provisioned` at once, launched in both orders;
      // all sessions at the same time.
      const outcomes = await Promise.all(
        sessions.map(async (session, i) => {
          const failed = () =>
            applyCallback(
              executor,
              { stripeSessionId: session, status: 'failed', error: 'saga_timeout' },
              now,
              DEFAULT_RULES,
            );
          const provisioned = () =>
            applyCallback(
              executor,
              {
                stripeSessionId: session,
                status: 'provisioned',
                deploymentId: `dpl_race${i}`,
                cellId: 'cell-eu-1',
                tokensQuota: 250_000,
              },
              now,
              DEFAULT_RULES,
            );
          if (i % 2 === 0) {
            const [f, p] = await Promise.all([failed(), provisioned()]);
            return { session, i, failed: f, provisioned: p };
          }
          const [p, f] = await Promise.all([provisioned(), failed()]);
          return { session, i, failed: f, provisioned: p };
        }),
      );

      // Assess
      const { rows } = await db.pool.query<{
        stripe_session_id: string;
        status: string;
        deployment_id: string | null;
        cell_id: string | null;
        last_error: string | null;
        account_status: string;
        account_deployment: string | null;
      }>(`
      SELECT j.stripe_session_id, j.status, j.deployment_id, j.cell_id, j.last_error,
        a.status AS account_status, a.deployment_id AS account_deployment
      FROM provisioning_jobs j JOIN customer_accounts a ON a.id = j.account_id`);
      expect(rows).toHaveLength(sessions.length);
      for (const { session, i, failed, provisioned } of outcomes) {
        const row = rows.find((candidate) => candidate.stripe_session_id === session);
        expect(row).toEqual({
          stripe_session_id: session,
          status: 'provisioned',
          deployment_id: `dpl_race${i}`,
          cell_id: 'cell-eu-1',
          last_error: null,
          account_status: 'active',
          account_deployment: `dpl_race${i}`,
        });
        // The provisioned report always lands; the failed one lands only if it came first.
        expect(provisioned).toMatchObject({ kind: 'known', applied: true, status: 'provisioned' });
        expect(failed).toMatchObject({ kind: 'known' });
        if (failed.kind === 'known' && failed.applied) {
          expect(failed).toMatchObject({
            kind: 'known',
            applied: true,
            priorStatus: 'enqueued',
            status: 'failed',
          });
          expect(provisioned).toMatchObject({ priorStatus: 'failed' });
        } else {
          expect(failed).toMatchObject({
            kind: 'known',
            applied: false,
            priorStatus: 'provisioned',
            status: 'provisioned',
          });
        }
      }
    });
  },
);

describe("a hand-off's outcome racing the orchestrator's callback", () => {
  it("keeps the orchestrator's failure when the hand-off's acceptance is recorded after it", async () => {
    // Prepare: a job handed off at T0 (attempt 1). The orchestrator accepts the
    // trigger, fails the saga at once and calls back before the hand-off function,
    // still waiting for the trigger's answer, records "accepted" for that attempt.
    const session = 'cs_test_outcome_after_failure';
    const { job } = await recordSettledCheckout(
      db.executor,
      checkout(session),
      T0,
      DEFAULT_RULES.handoffLeaseSeconds,
    );
    await dispatchAttempt(db.executor, { jobId: job.id, attempt: 1 }, T0, 12);
    await applyCallback(
      db.executor,
      { stripeSessionId: session, status: 'failed', error: 'cell_full' },
      new Date(T0.getTime() + 1_000),
      DEFAULT_RULES,
    );

    // Act: the hand-off's outcome for the same attempt lands last.
    await recordAttemptOutcome(
      db.executor,
      { jobId: job.id, attempt: 1, outcome: 'accepted', failure: null },
      new Date(T0.getTime() + 2_000),
      DEFAULT_RULES,
    );

    // Assess: the newer news (the saga failed) stands, with the orchestrator's reason,
    // so the status page says failed and the operator sees why.
    const { rows } = await db.pool.query<{ status: string; last_error: string | null }>(
      'SELECT status, last_error FROM provisioning_jobs WHERE id = $1',
      [job.id],
    );
    expect(rows[0]).toEqual({ status: 'failed', last_error: 'cell_full' });
  });
});

describe('overlapping watchdog sweeps', () => {
  it('notify each admin exactly once about a stalled organisation database', async () => {
    // Prepare: one stalled database, one still within its time, one ready; two admins
    // and a member.
    const admins = await Promise.all([
      upsertUser(db.executor, { email: 'ada@example.test', role: 'admin' }),
      upsertUser(db.executor, { email: 'grace@example.test', role: 'admin' }),
    ]);
    await upsertUser(db.executor, { email: 'member@example.test', role: 'member' });
    await db.pool.query(
      `INSERT INTO organization_databases (id, account_id, status, provisioned_at, updated_at) VALUES
        ('orgdb_stalled', NULL, 'migrating', $1, $1),
        ('orgdb_recent', NULL, 'provisioning', $2, $2),
        ('orgdb_ready', NULL, 'ready', $1, $1)`,
      [minutesAfter(T0, -120), minutesAfter(T0, -10)],
    );

    // Act: ten sweeps at once (Lambda retries, a manual run on top of the schedule),
    // a few seconds apart in their clocks.
    const sweeps = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        notifyStalls(db.executor, new Date(T0.getTime() + i * 1000), DEFAULT_RULES),
      ),
    );

    // Assess
    expect(sweeps.every((sweep) => sweep.stalledDatabases === 1)).toBe(true);
    expect(sweeps.reduce((sum, sweep) => sum + sweep.notificationsSent, 0)).toBe(2);
    const { rows } = await db.pool.query<{
      user_id: string;
      level: string;
      kind: string;
      organization_database_id: string | null;
    }>('SELECT user_id, level, kind, organization_database_id FROM notifications ORDER BY user_id');
    expect(rows).toEqual(
      [...admins].sort().map((userId) => ({
        user_id: userId,
        level: 'error',
        kind: 'database_stalled',
        organization_database_id: 'orgdb_stalled',
      })),
    );
  });

  it('notify each admin exactly once about a capped job', async () => {
    // Prepare: two admins; a job whose orchestrator never answered, re-driven until
    // its budget was spent (a budget of 3 hand-offs, the first at checkout).
    const rules = { ...DEFAULT_RULES, maxAttempts: 3 };
    const admins = await Promise.all([
      upsertUser(db.executor, { email: 'ada@example.test', role: 'admin' }),
      upsertUser(db.executor, { email: 'grace@example.test', role: 'admin' }),
    ]);
    const { job } = await recordSettledCheckout(
      db.executor,
      checkout('cs_test_capped'),
      T0,
      DEFAULT_RULES.handoffLeaseSeconds,
    );
    for (const attempt of [1, 2, 3]) {
      const at = minutesAfter(T0, attempt * 10);
      if (attempt > 1) {
        const claim = await claimStaleJobs(db.executor, 25, at, rules);
        expect(claim.jobs.map((claimed) => [claimed.id, claimed.attempt])).toEqual([
          [job.id, attempt],
        ]);
      }
      await dispatchAttempt(db.executor, { jobId: job.id, attempt }, at, 12);
      await recordAttemptOutcome(
        db.executor,
        { jobId: job.id, attempt, outcome: 'transient', failure: 'timeout' },
        at,
        rules,
        () => 0,
      );
    }
    const now = minutesAfter(T0, 40);

    // Act: ten sweeps at once.
    const sweeps = await Promise.all(
      Array.from({ length: 10 }, () => notifyStalls(db.executor, now, rules)),
    );

    // Assess
    expect(sweeps.every((sweep) => sweep.cappedJobs === 1)).toBe(true);
    expect(sweeps.reduce((sum, sweep) => sum + sweep.notificationsSent, 0)).toBe(2);
    const { rows } = await db.pool.query<{ user_id: string; kind: string; job_id: string | null }>(
      'SELECT user_id, kind, job_id FROM notifications ORDER BY user_id',
    );
    expect(rows).toEqual(
      [...admins].sort().map((userId) => ({ user_id: userId, kind: 'job_capped', job_id: job.id })),
    );
  });
});

describe('attempts racing each other', () => {
  it('a message delivered to two consumers at once is dispatched once: one trigger, one unit of budget', async () => {
    const { job } = await recordSettledCheckout(db.executor, checkout('cs_test_twice'), T0, 360);

    const decisions = await Promise.all(
      Array.from({ length: 10 }, () =>
        dispatchAttempt(db.executor, { jobId: job.id, attempt: 1 }, T0, 12),
      ),
    );

    expect(decisions.filter((d) => d.decision === 'dispatch')).toHaveLength(1);
    expect(decisions.filter((d) => d.decision === 'in_flight')).toHaveLength(9);
    const { rows } = await db.pool.query(
      'SELECT budget_spent FROM provisioning_jobs WHERE id = $1',
      [job.id],
    );
    expect(rows[0]).toEqual({ budget_spent: 1 });
  });

  it('a claim racing the dispatch of the attempt whose lease lapses: never two attempts in flight', async () => {
    const sessions = Array.from({ length: 40 }, (_, i) => `cs_test_lapse_${i}`);
    const jobs = await Promise.all(
      sessions.map(
        async (session) =>
          (await recordSettledCheckout(db.executor, checkout(session), T0, 60)).job,
      ),
    );
    const lapse = new Date(T0.getTime() + 61_000);

    // The reconciler claims the next attempts while the old messages arrive at the consumers.
    const [claim, dispatches] = await Promise.all([
      claimStaleJobs(db.executor, 100, lapse, { ...DEFAULT_RULES, handoffLeaseSeconds: 360 }),
      Promise.all(
        jobs.map((job) => dispatchAttempt(db.executor, { jobId: job.id, attempt: 1 }, lapse, 12)),
      ),
    ]);

    const claimed = new Set(claim.jobs.map((job) => job.id));
    jobs.forEach((job, i) => {
      const dispatched = dispatches[i]?.decision === 'dispatch';
      // Exactly one of the two won each job.
      expect(dispatched !== claimed.has(job.id)).toBe(true);
    });
  });

  it('transient failures recorded at once across jobs open the breaker exactly once', async () => {
    const jobs = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const { job } = await recordSettledCheckout(
          db.executor,
          checkout(`cs_test_storm_${i}`),
          T0,
          360,
        );
        await dispatchAttempt(db.executor, { jobId: job.id, attempt: 1 }, T0, 12);
        return job;
      }),
    );

    const outcomes = await Promise.all(
      jobs.map((job) =>
        recordAttemptOutcome(
          db.executor,
          { jobId: job.id, attempt: 1, outcome: 'transient', failure: 'timeout' },
          minutesAfter(T0, 1),
          DEFAULT_RULES,
        ),
      ),
    );

    expect(outcomes.filter((outcome) => outcome.breaker === 'opened')).toHaveLength(1);
    const { rows } = await db.pool.query(
      'SELECT state, consecutive_failures FROM orchestrator_breaker',
    );
    expect(rows[0]).toEqual({ state: 'open', consecutive_failures: 30 });
    expect(
      await count(
        db,
        "SELECT count(*) AS n FROM orchestrator_breaker_events WHERE kind = 'opened'",
      ),
    ).toBe(1);
  });

  it('an operator cancelling while the orchestrator reports provisioned: one wins, never both', async () => {
    const sessions = Array.from({ length: 20 }, (_, i) => `cs_test_cancel_race_${i}`);
    const jobs = await Promise.all(
      sessions.map(
        async (session) =>
          (await recordSettledCheckout(db.executor, checkout(session), T0, 360)).job,
      ),
    );

    await Promise.all(
      jobs.map((job, i) =>
        Promise.all([
          cancelJob(db.executor, { jobId: job.id, actor: 'operator:ada', reason: 'refunded' }, T0),
          applyCallback(
            db.executor,
            {
              stripeSessionId: job.stripe_session_id,
              status: 'provisioned',
              deploymentId: `dpl_c${i}`,
              cellId: 'c',
            },
            T0,
            DEFAULT_RULES,
          ),
        ]),
      ),
    );

    const { rows } = await db.pool.query<{
      status: string;
      deployment_id: string | null;
      late: string;
    }>(
      `SELECT j.status, j.deployment_id,
         (SELECT count(*) FROM provisioning_job_events e WHERE e.job_id = j.id AND e.kind = 'late_callback') AS late
       FROM provisioning_jobs j WHERE j.stripe_session_id LIKE 'cs_test_cancel_race_%'`,
    );
    for (const row of rows) {
      if (row.status === 'provisioned') expect(Number(row.late)).toBe(0);
      else {
        expect(row).toMatchObject({ status: 'cancelled', deployment_id: null });
        expect(Number(row.late)).toBe(1);
      }
    }
  });
});
