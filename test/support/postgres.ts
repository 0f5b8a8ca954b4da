import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { inject } from 'vitest';
import {
  DATABASE_ROLES,
  type DatabaseRole,
  grantTablePrivileges,
} from '../../functions/db/database-roles.js';
import { loadMigrations, migrate } from '../../functions/db/migrator.js';
import { createPool, PgExecutor } from '../../functions/db/pg-executor.js';
import { TEST_ROLE_PASSWORDS } from './role-passwords.js';

export const SCHEMA_DIR = fileURLToPath(new URL('../../schema', import.meta.url));

export interface TestDatabase {
  readonly name: string;
  readonly connectionString: string;
  /** A pool on this database, with the same settings the product uses. */
  readonly pool: pg.Pool;
  readonly executor: PgExecutor;
  /** This database as one of the roles the functions log in as (see `database-roles.ts`). */
  connectionStringAs(role: DatabaseRole): string;
  close(): Promise<void>;
}

/** A new database on the run's PostgreSQL server, with every migration applied unless asked not to. */
export async function freshDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const adminUrl = inject('postgresAdminUrl');
  const name = `test_${randomBytes(6).toString('hex')}`;
  const admin = createPool(adminUrl, 1);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const connectionString = url.toString();
  const pool = createPool(connectionString, 60);
  const executor = new PgExecutor(pool);
  if (options.migrated ?? true) {
    await migrate(executor, await loadMigrations(SCHEMA_DIR));
    await grantTablePrivileges(executor);
  }
  return {
    name,
    connectionString,
    pool,
    executor,
    connectionStringAs: (role) => {
      const as = new URL(connectionString);
      as.username = DATABASE_ROLES[role];
      as.password = TEST_ROLE_PASSWORDS[role];
      return as.toString();
    },
    close: async () => {
      await pool.end();
      await dropWhenDisconnected(adminUrl, name);
    },
  };
}

/**
 * `pool.end()` resolves before every socket has closed; a forced drop would then kill
 * backends a client still listens on (an uncaught 57P01 in the test). Dropping without
 * FORCE, retried while the last sessions leave, never terminates anyone.
 */
async function dropWhenDisconnected(adminUrl: string, name: string): Promise<void> {
  const admin = createPool(adminUrl, 1);
  try {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${name}`);
        return;
      } catch (error) {
        const inUse = (error as { code?: string }).code === '55006';
        if (!inUse || attempt >= 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } finally {
    await admin.end();
  }
}
