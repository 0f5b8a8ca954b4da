import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { loadMigrations, migrate } from '../functions/db/migrator.js';
import { createPool, PgExecutor } from '../functions/db/pg-executor.js';

export const SCHEMA_DIR = fileURLToPath(new URL('../schema', import.meta.url));

/** A database of its own on a shared PostgreSQL server, for one test file or one measurement. */
export interface ScratchDatabase {
  readonly name: string;
  readonly connectionString: string;
  /** A pool on this database, with the same settings the product uses. */
  readonly pool: pg.Pool;
  readonly executor: PgExecutor;
  /** Ends the pool and drops the database from the server. */
  drop(): Promise<void>;
}

export interface ScratchDatabaseOptions {
  /** Starts the database's name, so a leftover says whose it is (`test_…`, `bench_…`). */
  readonly prefix: string;
  readonly poolSize: number;
  /** Every migration applied (the default), or an empty database. */
  readonly migrated?: boolean;
}

/** A new database on the server `adminUrl` logs in to, migrated unless asked not to. */
export async function createScratchDatabase(
  adminUrl: string,
  options: ScratchDatabaseOptions,
): Promise<ScratchDatabase> {
  const name = `${options.prefix}_${randomBytes(6).toString('hex')}`;
  const admin = createPool(adminUrl, 1);
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const pool = createPool(url.toString(), options.poolSize);
  const executor = new PgExecutor(pool);
  const drop = async () => {
    await pool.end();
    await dropWhenDisconnected(adminUrl, name);
  };
  if (options.migrated ?? true) {
    await migrate(executor, await loadMigrations(SCHEMA_DIR)).catch(async (error: unknown) => {
      await drop();
      throw error;
    });
  }
  return { name, connectionString: url.toString(), pool, executor, drop };
}

/**
 * `pool.end()` resolves before every socket has closed; a forced drop would then kill
 * backends a client still listens on (an uncaught 57P01 in a test). Dropping without
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
