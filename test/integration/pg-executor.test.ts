import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { createPool, PgExecutor } from '../../functions/db/pg-executor.js';
import { defineStatement, runStatement } from '../../functions/db/statement.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await freshDatabase({ migrated: false });
  await db.pool.query('CREATE TABLE tenants (id text PRIMARY KEY)');
  await db.pool.query("INSERT INTO tenants VALUES ('t1')");
});
afterAll(async () => {
  await db.close();
});

const readTenant = defineStatement({
  name: 'read tenant (pg executor test)',
  sql: 'SELECT * FROM tenants WHERE id = :id',
  params: { id: 'text' },
  row: z.looseObject({ id: z.string() }),
  replay: 'safe',
});

/** Statements a connection has prepared, by the server's own count. */
async function preparedOn(executor: PgExecutor): Promise<number> {
  const [row] = await executor.execute('SELECT count(*) AS prepared FROM pg_prepared_statements');
  return Number(row?.prepared);
}

describe('the local executor (pg)', () => {
  it('prepares a defined statement once per connection, and runs ad hoc text unprepared', async () => {
    const pool = createPool(db.connectionString, 1);
    const executor = new PgExecutor(pool);
    try {
      for (let i = 0; i < 3; i += 1) await runStatement(executor, readTenant, { id: 't1' });
      await executor.execute("SELECT 'ad hoc' AS text");

      expect(await preparedOn(executor)).toBe(1);
      expect(await runStatement(executor, readTenant, { id: 't1' })).toEqual([{ id: 't1' }]);
    } finally {
      await pool.end();
    }
  });

  it('still answers a prepared statement after a migration reshapes its table under an open connection', async () => {
    const pool = createPool(db.connectionString, 1);
    const executor = new PgExecutor(pool);
    try {
      await runStatement(executor, readTenant, { id: 't1' });
      await db.pool.query("ALTER TABLE tenants ADD COLUMN region text NOT NULL DEFAULT 'eu'");

      expect(await runStatement(executor, readTenant, { id: 't1' })).toEqual([
        { id: 't1', region: 'eu' },
      ]);
    } finally {
      await pool.end();
    }
  });

  it('still answers when its prepared statements were deallocated by someone sharing the connection', async () => {
    const pool = createPool(db.connectionString, 1);
    const executor = new PgExecutor(pool);
    try {
      await runStatement(executor, readTenant, { id: 't1' });
      await pool.query('DEALLOCATE ALL');

      expect(await runStatement(executor, readTenant, { id: 't1' })).toMatchObject([{ id: 't1' }]);
    } finally {
      await pool.end();
    }
  });

  it('prepares nothing inside a transaction, where a refused prepared statement would abort it', async () => {
    const pool = createPool(db.connectionString, 1);
    const executor = new PgExecutor(pool);
    try {
      const read = await executor.transaction(async (tx) => {
        await runStatement(tx, readTenant, { id: 't1' });
        return preparedOn(tx as PgExecutor);
      });

      expect(read).toBe(0);
    } finally {
      await pool.end();
    }
  });
});
