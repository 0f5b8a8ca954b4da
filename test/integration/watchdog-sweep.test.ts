import { beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RULES } from '../../functions/core/rules.js';
import { upsertPackage, upsertUser } from '../../functions/db/catalogue-repository.js';
import { recordSettledCheckout } from '../../functions/db/jobs/checkout-records.js';
import { notifyStalls } from '../../functions/db/watchdog-repository.js';
import { bridgedExecutor } from '../support/executors.js';
import { checkout, LEASE_SECONDS, minutes, T0 } from '../support/jobs.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';

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

  it('reports capped jobs (out of retry budget) and never changes what it reports on', async () => {
    const exec = isolated.executor;
    await upsertPackage(exec, { slug: 'growth', tier: 'growth', tokensQuota: 1 });
    await upsertUser(exec, { email: 'ops@example.com', role: 'admin' });
    const { job } = await recordSettledCheckout(exec, checkout(), T0, LEASE_SECONDS);
    await isolated.pool.query(
      `UPDATE provisioning_jobs SET budget_spent = 8, capped_at = $2, last_error = 'http_5xx' WHERE id = $1`,
      [job.id, T0],
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
