import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RULES, secondsBefore } from '../../functions/core/rules.js';
import { toPositional } from '../../functions/db/sql-text.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';

/**
 * The gauge and the reconciler run every few minutes for the life of the product;
 * they must read the jobs in flight, not every tenant ever provisioned.
 */
const STUCK_COUNT = `SELECT count(*) FROM provisioning_jobs
WHERE status NOT IN ('provisioned', 'cancelled')
  AND (updated_at < :stuckBefore OR parked_at IS NOT NULL OR capped_at IS NOT NULL)`;
const STALE_SCAN = `SELECT id FROM provisioning_jobs
WHERE status NOT IN ('provisioned', 'cancelled') AND parked_at IS NULL AND capped_at IS NULL
  AND (lease_expires_at IS NULL OR lease_expires_at <= :now)
  AND (next_attempt_at IS NULL OR next_attempt_at <= :now)
  AND budget_spent < :maxAttempts AND trigger_payload IS NOT NULL
ORDER BY next_attempt_at ASC NULLS FIRST, created_at ASC LIMIT 25 FOR UPDATE SKIP LOCKED`;

// Both indexes are partial (not provisioned or cancelled); the planner picks either.
const NON_TERMINAL_INDEX = /Index (Only )?Scan using provisioning_jobs_(stuck|due)_idx/;

let db: TestDatabase;

beforeAll(async () => {
  db = await freshDatabase();
  // 20,000 provisioned tenants and 50 jobs in flight: the shape of a live system.
  await db.pool.query(`
    INSERT INTO customer_accounts (id, stripe_session_id, status, created_at, updated_at)
    SELECT gen_random_uuid(), 'cs_' || i, 'active', now(), now() FROM generate_series(1, 20050) i`);
  await db.pool.query(`
    INSERT INTO provisioning_jobs (id, account_id, stripe_session_id, status, attempts, deployment_id, cell_id,
      trigger_payload, last_attempt_at, created_at, updated_at)
    SELECT gen_random_uuid(), a.id, a.stripe_session_id,
      CASE WHEN i <= 20000 THEN 'provisioned' ELSE 'enqueued' END, 1,
      CASE WHEN i <= 20000 THEN 'dpl_' || i END, CASE WHEN i <= 20000 THEN 'cell' END,
      '{}'::jsonb, now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour'
    FROM customer_accounts a JOIN LATERAL (SELECT substr(a.stripe_session_id, 4)::int AS i) n ON true`);
  await db.pool.query('ANALYZE provisioning_jobs');
});

afterAll(async () => {
  await db.close();
});

async function plan(sql: string, params: Record<string, unknown>): Promise<string> {
  const { text, names } = toPositional(sql);
  const { rows } = await db.pool.query(
    `EXPLAIN ${text}`,
    names.map((name) => params[name]),
  );
  return rows.map((row) => row['QUERY PLAN']).join('\n');
}

describe('the partial indexes', () => {
  const now = new Date();

  it('serve the STUCK count without scanning provisioned rows', async () => {
    const explained = await plan(STUCK_COUNT, {
      stuckBefore: secondsBefore(now, DEFAULT_RULES.stuckAfterSeconds).toISOString(),
    });

    expect(explained).toMatch(NON_TERMINAL_INDEX);
    expect(explained).not.toContain('Seq Scan');
  });

  it('serve the STALE scan without scanning provisioned rows', async () => {
    const explained = await plan(STALE_SCAN, {
      now: now.toISOString(),
      maxAttempts: DEFAULT_RULES.maxAttempts,
    });

    expect(explained).toMatch(NON_TERMINAL_INDEX);
    expect(explained).not.toContain('Seq Scan');
  });
});
