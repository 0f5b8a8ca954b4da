import { afterEach, describe, expect, it } from 'vitest';
import { DATA_API_RETRY_BUDGET_SECONDS } from '../../functions/core/resume-budget.js';
import { DataApiExecutor } from '../../functions/db/data-api-executor.js';
import { loadMigrations, migrate } from '../../functions/db/migrator.js';
import { DataApiBridge } from '../support/data-api-bridge.js';
import { bridgedExecutor, TEST_DATA_API_TARGET } from '../support/executors.js';
import { freshDatabase, SCHEMA_DIR, type TestDatabase } from '../support/postgres.js';
import { virtualClock } from '../support/virtual-clock.js';

describe('schema migrations', () => {
  let db: TestDatabase | undefined;
  afterEach(async () => {
    await db?.close();
  });

  it('apply every migration to an empty database, then re-apply as a no-op', async () => {
    db = await freshDatabase({ migrated: false });
    const migrations = await loadMigrations(SCHEMA_DIR);

    const first = await migrate(db.executor, migrations);
    const second = await migrate(db.executor, migrations);

    expect(first.applied).toEqual(migrations.map((m) => m.version));
    expect(second).toEqual({ applied: [], alreadyApplied: first.applied });
    const tables = await db.pool.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`,
    );
    expect(tables.rows.map((row) => row.table_name)).toEqual(
      expect.arrayContaining([
        'customer_accounts',
        'notifications',
        'organization_databases',
        'packages',
        'provisioning_job_events',
        'provisioning_jobs',
        'schema_migrations',
        'users',
        'watchdog_alerts',
      ]),
    );
  });

  it('apply through the Data API, one statement per call, each migration in a transaction', async () => {
    db = await freshDatabase({ migrated: false });
    const { executor, bridge } = bridgedExecutor(db);
    const migrations = await loadMigrations(SCHEMA_DIR);

    const report = await migrate(executor, migrations);

    expect(report.applied).toEqual(migrations.map((m) => m.version));
    const commands = bridge.calls.map((call) => call.command);
    expect(commands.filter((c) => c === 'BeginTransactionCommand')).toHaveLength(migrations.length);
    expect(commands.filter((c) => c === 'CommitTransactionCommand')).toHaveLength(
      migrations.length,
    );
    const { rows } = await db.pool.query('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((row) => row.version)).toEqual(report.applied);
  });

  it('refuse to run when an applied migration was edited since', async () => {
    db = await freshDatabase({ migrated: false });
    const migrations = await loadMigrations(SCHEMA_DIR);
    await migrate(db.executor, migrations);
    const [first, ...rest] = migrations;
    if (!first) throw new Error('no migrations');

    const edited = [{ ...first, sql: `${first.sql}\n-- an afterthought` }, ...rest];

    await expect(migrate(db.executor, edited)).rejects.toThrow(
      /0001_provisioning_core was edited after it was applied/,
    );
  });

  it('roll back a failing migration whole, recording nothing', async () => {
    db = await freshDatabase({ migrated: false });
    const broken = [
      { version: '0001', name: 'broken', sql: 'CREATE TABLE a (id int); CREATE TABLE a (id int);' },
    ];

    await expect(migrate(db.executor, broken)).rejects.toThrow(
      /migration 0001_broken failed: .*already exists/,
    );

    const { rows } = await db.pool.query(
      `SELECT (SELECT count(*)::int FROM schema_migrations) AS recorded, to_regclass('a') IS NULL AS absent`,
    );
    expect(rows[0]).toEqual({ recorded: 0, absent: true });
  });

  it('wait out a cluster that takes 45 s to resume, within the migrator budget', async () => {
    db = await freshDatabase({ migrated: false });
    const clock = virtualClock();
    const bridge = new DataApiBridge({ pool: db.pool }, { clock: clock.now });
    const executor = new DataApiExecutor(bridge.client(), TEST_DATA_API_TARGET, {
      retry: {
        baseDelayMs: 250,
        maxDelayMs: 4_000,
        budgetMs: DATA_API_RETRY_BUDGET_SECONDS.migration * 1000,
      },
      retryDeps: clock,
    });
    const migrations = await loadMigrations(SCHEMA_DIR);
    bridge.resumeFor(45_000);

    const report = await migrate(executor, migrations).finally(() => bridge.close());

    expect(report.applied).toEqual(migrations.map((m) => m.version));
    expect(clock.slept()).toBeGreaterThanOrEqual(45_000);
  });

  it('apply a migration once when the answer to its commit is lost, and report it applied', async () => {
    db = await freshDatabase({ migrated: false });
    const { executor, bridge } = bridgedExecutor(db);
    const migrations = await loadMigrations(SCHEMA_DIR);
    bridge.injectFault({
      error: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      at: 'after',
      when: (call) => call.command === 'CommitTransactionCommand',
    });

    const report = await migrate(executor, migrations);

    expect(report.applied).toEqual(migrations.map((m) => m.version));
    const { rows } = await db.pool.query('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((row) => row.version)).toEqual(report.applied);
    const begins = bridge.calls.filter((call) => call.command === 'BeginTransactionCommand');
    expect(begins).toHaveLength(migrations.length + 1);
  });

  it('fail a migration whose statement outlasts the Data API call limit, and keep none of it', async () => {
    db = await freshDatabase({ migrated: false });
    const bridge = new DataApiBridge({ pool: db.pool }, { statementTimeoutMs: 200 });
    const executor = new DataApiExecutor(bridge.client(), TEST_DATA_API_TARGET);
    const slow = [
      {
        version: '0001',
        name: 'slow',
        sql: 'CREATE TABLE a (id int); CREATE TABLE b AS SELECT 1 AS x FROM pg_sleep(1);',
      },
    ];

    const failure = migrate(executor, slow);

    await expect(failure).rejects.toThrow(
      /^migration 0001_slow failed: a statement ran past the Data API's 45 s call limit and was cancelled; nothing of this migration was applied/,
    );
    await bridge.close();
    const { rows } = await db.pool.query(
      `SELECT (SELECT count(*)::int FROM schema_migrations) AS recorded, to_regclass('a') IS NULL AS absent`,
    );
    expect(rows[0]).toEqual({ recorded: 0, absent: true });
  });
});
