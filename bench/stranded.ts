import type pg from 'pg';
import type { SqlExecutor } from '../functions/db/executor.js';
import type { Timer } from '../functions/services/reconcile.js';

/**
 * An outage's leftovers, for the re-drive capacity test and bench: `count` jobs whose
 * attempt 1 was handed off at `at` and failed transiently, never heard of since.
 */
export async function insertStrandedJobs(pool: pg.Pool, count: number, at: Date): Promise<void> {
  await pool.query(
    `WITH accounts AS (
       INSERT INTO customer_accounts (id, stripe_session_id, status, created_at, updated_at)
       SELECT gen_random_uuid(), 'cs_stranded_' || i, 'pending', $1, $1 FROM generate_series(1, $2::int) i
       RETURNING id, stripe_session_id)
     INSERT INTO provisioning_jobs (id, account_id, stripe_session_id, status, attempts, budget_spent,
       last_error, last_outcome, trigger_payload, last_attempt_at, next_attempt_at, created_at, updated_at)
     SELECT gen_random_uuid(), id, stripe_session_id, 'enqueued', 1, 1, 'http_5xx', 'transient',
       jsonb_build_object('stripe_session_id', stripe_session_id, 'package_slug', 'growth'),
       $1, $1, $1, $1
     FROM accounts`,
    [at, count],
  );
}

/** An executor whose every call takes `latencyMs` of the timer's (virtual) time, as the Data API's do. */
export function withLatency(db: SqlExecutor, timer: Timer, latencyMs: number): SqlExecutor {
  return {
    execute: async (sql, params, options) => {
      await timer.sleep(latencyMs);
      return db.execute(sql, params, options);
    },
    transaction: (work) => db.transaction(work),
  };
}
