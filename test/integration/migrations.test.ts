import { afterEach, describe, expect, it } from 'vitest';
import { loadMigrations, migrate } from '../../functions/db/migrator.js';
import { bridgedExecutor } from '../support/executors.js';
import { freshDatabase, SCHEMA_DIR, type TestDatabase } from '../support/postgres.js';

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
});
