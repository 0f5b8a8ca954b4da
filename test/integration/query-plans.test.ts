import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  explainable,
  HOT_READS,
  HOT_WRITES,
  loadAllStatements,
  planOf,
  seedAtScale,
  sequentialScans,
} from '../../bench/scale.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';

/**
 * Every statement the repositories define, planned by PostgreSQL over a live system's
 * shape at scale (50,000 tenants, their history, databases, events and notifications,
 * and jobs in flight in every state): none may read a table that grows with every
 * checkout from end to end, so each stays flat however many tenants there are
 * (`npm run bench` times the hot ones at 10k and 1M). The statements are the ones the
 * code runs, imported, not copies.
 */

/**
 * Statements allowed to read a growing table whole, each with its reason: run rarely by
 * an operator, where an index for them would cost every checkout a write.
 */
const COLD: Readonly<Record<string, string>> = {
  'remove smoke checkout':
    'ops smoke cleans up its one test checkout per run; it finds its rows by session and account',
};

let db: TestDatabase;
beforeAll(async () => {
  db = await freshDatabase();
  await seedAtScale(db.pool, { provisioned: 50_000, inFlight: 500 });
}, 120_000);
afterAll(async () => {
  await db.close();
});

describe('the query plans at scale', () => {
  it('never read provisioning_jobs, customer_accounts or another growing table whole', async () => {
    const statements = (await loadAllStatements()).filter(explainable);
    const scans: Record<string, string[]> = {};
    for (const statement of statements.filter(({ name }) => !(name in COLD))) {
      const tables = sequentialScans(await planOf(db.executor, statement));
      if (tables.length > 0) scans[statement.name] = tables;
    }

    expect(statements.map((statement) => statement.name)).toEqual(
      expect.arrayContaining([...HOT_READS, ...HOT_WRITES, ...Object.keys(COLD)]),
    );
    expect(scans).toEqual({});
  });

  it('would name a statement that did', async () => {
    await db.pool.query('DROP INDEX provisioning_jobs_stuck_idx, provisioning_jobs_due_idx');
    try {
      const statements = await loadAllStatements();
      const gauge = statements.find((statement) => statement.name === 'count stuck jobs');
      if (!gauge) throw new Error('no gauge statement');

      expect(sequentialScans(await planOf(db.executor, gauge))).toEqual(['provisioning_jobs']);
    } finally {
      await db.pool.query(`
        CREATE INDEX provisioning_jobs_stuck_idx ON provisioning_jobs (updated_at)
          INCLUDE (parked_at, capped_at) WHERE status NOT IN ('provisioned', 'cancelled');
        CREATE INDEX provisioning_jobs_due_idx ON provisioning_jobs (next_attempt_at NULLS FIRST, created_at)
          INCLUDE (budget_spent, lease_expires_at)
          WHERE status NOT IN ('provisioned', 'cancelled') AND parked_at IS NULL AND capped_at IS NULL`);
    }
  });
});
