import { afterAll, beforeAll } from 'vitest';
import { DEFAULT_RULES, type ProvisioningRules } from '../../functions/core/rules.js';
import { upsertPackage } from '../../functions/db/catalogue-repository.js';
import type { DataApiExecutor } from '../../functions/db/data-api-executor.js';
import type { BoundParams, DecodedRow, SqlExecutor } from '../../functions/db/executor.js';
import {
  recordSettledCheckout,
  type SettledCheckout,
} from '../../functions/db/jobs/checkout-records.js';
import type { JobRow } from '../../functions/db/jobs/job-row.js';
import { bridgedExecutor } from './executors.js';
import { freshDatabase, type TestDatabase } from './postgres.js';

/** A fixed start for tests that move their own clock. */
export const T0 = new Date('2026-11-23T10:00:00.000Z');
export const seconds = (n: number, from: Date = T0) => new Date(from.getTime() + n * 1000);
export const minutes = (n: number, from: Date = T0) => seconds(n * 60, from);

/** The queue-wait lease tests claim with: long enough never to lapse unless a test waits it out. */
export const LEASE_SECONDS = 360;

/** The shipped rules, with the lease tests claim with. */
export const TEST_RULES: ProvisioningRules = {
  ...DEFAULT_RULES,
  handoffLeaseSeconds: LEASE_SECONDS,
};

/** A fixed jitter: every backoff is half its ceiling. */
export const half = () => 0.5;

/**
 * A migrated database with the `growth` package, opened before the file's tests and
 * closed after them; call at the top of a test file.
 */
export function jobsDatabase(): () => TestDatabase {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await freshDatabase();
    await upsertPackage(db.executor, { slug: 'growth', tier: 'growth', tokensQuota: 1_100_000 });
  });
  afterAll(async () => {
    await db?.close();
  });
  return () => {
    if (!db) throw new Error('the jobs database is opened in beforeAll');
    return db;
  };
}

/** A paid checkout of `growth` recorded at `at`, with attempt 1 claimed. */
export async function recordedJob(
  exec: SqlExecutor,
  at: Date = T0,
  overrides: Partial<SettledCheckout> = {},
) {
  const { job } = await recordSettledCheckout(exec, checkout(overrides), at, LEASE_SECONDS);
  return job;
}

let sessionCounter = 0;

/** A paid checkout of `growth` for a fresh session. */
export function checkout(overrides: Partial<SettledCheckout> = {}): SettledCheckout {
  sessionCounter += 1;
  return {
    stripeSessionId: `cs_test_${sessionCounter}_${Math.random().toString(36).slice(2, 8)}`,
    stripeCustomerId: 'cus_123',
    customerEmail: 'ada@example.com',
    packageSlug: 'growth',
    callbackUrl: 'https://handoff.example.com/api/internal/provisioning/callback',
    ...overrides,
  };
}

/** The job row as stored, read over plain pg, not through the executor under test. */
export async function jobOf(db: TestDatabase, sessionId: string): Promise<JobRow> {
  const { rows } = await db.pool.query<JobRow>(
    'SELECT * FROM provisioning_jobs WHERE stripe_session_id = $1',
    [sessionId],
  );
  const [row] = rows;
  if (!row) throw new Error(`no job for ${sessionId}`);
  return row;
}

export async function accountOf(
  db: TestDatabase,
  sessionId: string,
): Promise<Record<string, unknown> | undefined> {
  const { rows } = await db.pool.query(
    'SELECT * FROM customer_accounts WHERE stripe_session_id = $1',
    [sessionId],
  );
  return rows[0];
}

/** The kinds of a job's history, oldest first. */
export async function historyOf(db: TestDatabase, jobId: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ kind: string }>(
    'SELECT kind FROM provisioning_job_events WHERE job_id = $1 ORDER BY id',
    [jobId],
  );
  return rows.map((row) => row.kind);
}

export async function breakerOf(db: TestDatabase): Promise<Record<string, unknown>> {
  const { rows } = await db.pool.query(
    "SELECT * FROM orchestrator_breaker WHERE id = 'orchestrator'",
  );
  return rows[0];
}

/**
 * An executor whose every statement commits and then loses its answer once: the call is
 * run again with the very same parameters, as the Data API executor replays a statement
 * after an ambiguous fault. What a repository function returns through it is what its
 * replay answers.
 */
export function replayingExecutor(inner: SqlExecutor): SqlExecutor {
  return {
    async execute(sql: string, params?: BoundParams): Promise<DecodedRow[]> {
      await inner.execute(sql, params);
      return inner.execute(sql, params);
    },
    transaction: (work) => inner.transaction(work),
  };
}

/** Both executors, for `describe.each`: every statement runs through the Data API bridge too. */
export function executorCases(
  db: () => TestDatabase,
): { name: string; make: () => SqlExecutor | DataApiExecutor }[] {
  return [
    { name: 'Data API', make: () => bridgedExecutor(db()).executor },
    { name: 'pg', make: () => db().executor },
  ];
}
