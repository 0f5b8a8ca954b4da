import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { loadMigrations, migrate } from '../functions/db/migrator.js';
import { createPool, PgExecutor } from '../functions/db/pg-executor.js';
import { startScratchPostgres } from '../local/scratch-postgres.js';

/**
 * The bench's PostgreSQL: `DATABASE_URL`'s server, or a throwaway embedded one, with a
 * fresh migrated database per measurement.
 */
export interface BenchDatabase {
  readonly url: string;
  readonly pool: pg.Pool;
  readonly executor: PgExecutor;
}

const SCHEMA_DIR = fileURLToPath(new URL('../schema', import.meta.url));

export async function benchServer() {
  const scratch = process.env.DATABASE_URL ? undefined : await startScratchPostgres();
  const adminUrl = process.env.DATABASE_URL ?? (scratch as { url: string }).url;
  const opened: pg.Pool[] = [];
  return {
    async fresh(): Promise<BenchDatabase> {
      const name = `bench_${randomBytes(5).toString('hex')}`;
      const admin = createPool(adminUrl, 1);
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.end();
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      const pool = createPool(url.toString(), 10);
      opened.push(pool);
      const executor = new PgExecutor(pool);
      await migrate(executor, await loadMigrations(SCHEMA_DIR));
      return { url: url.toString(), pool, executor };
    },
    async stop() {
      for (const pool of opened) await pool.end();
      await scratch?.stop();
    },
  };
}
