import { afterEach, describe, expect, it } from 'vitest';
import { loadMigrations, migrate } from '../../functions/db/migrator.js';
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
});
