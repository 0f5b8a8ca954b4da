import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type pg from 'pg';
import type { BoundParams, ParamType, SqlExecutor } from '../functions/db/executor.js';
import { definedStatements, type Statement } from '../functions/db/statement.js';

/**
 * A live system's shape at scale, for the EXPLAIN test and `npm run bench`: `provisioned`
 * tenants (each an active account, a provisioned job with two history rows, a ready
 * organisation database and a processed Stripe event) and `inFlight` jobs still waiting
 * in every state the reconciler and the operator see (enqueued, running, failed, parked,
 * capped), each session with one refused input. Written set-wise by the server, then
 * analysed. Ids are UUIDs counted up from the row number (not random), so a million rows
 * load in about a minute; plans and timings do not depend on how ids are spread.
 */
export interface Scale {
  readonly provisioned: number;
  readonly inFlight: number;
}

/** A session of the seeded data, at every size: sessions are numbered, zero-padded. */
export const SAMPLE_SESSION = 'cs_scale_0004242';

/** A UUID made of a one-digit table tag and a row number: ordered, so index inserts append. */
function seqUuid(tag: string, number: string): string {
  return `CAST(lpad(to_hex(${number}), 31, '0') || '${tag}' AS uuid)`;
}

export async function seedAtScale(pool: pg.Pool, scale: Scale): Promise<void> {
  const total = scale.provisioned + scale.inFlight;
  await pool.query(
    `INSERT INTO customer_accounts (id, stripe_session_id, stripe_customer_id, email, package_slug, tier,
       tokens_quota, status, created_at, updated_at)
     SELECT ${seqUuid('1', 'i')}, 'cs_scale_' || lpad(CAST(i AS text), 7, '0'), 'cus_' || i, 'buyer' || i || '@example.com', 'growth', 'growth',
       1100000, CASE WHEN i <= $1 THEN 'active' ELSE 'pending' END,
       now() - make_interval(secs => $2 - i), now() - make_interval(secs => $2 - i)
     FROM generate_series(1, $2::int) i`,
    [scale.provisioned, total],
  );
  // In flight: a fifth each enqueued (accepted, waiting), running, failed (due), parked, capped.
  await pool.query(
    `INSERT INTO provisioning_jobs (id, account_id, stripe_session_id, status, phase, attempts, budget_spent,
       last_error, deployment_id, cell_id, package_slug, tokens_quota, trigger_payload, last_attempt_at,
       next_attempt_at, parked_at, capped_at, provisioned_at, created_at, updated_at)
     SELECT ${seqUuid('2', 'n.i')}, a.id, a.stripe_session_id,
       CASE WHEN n.i <= $1 THEN 'provisioned' WHEN n.k IN (0, 3, 4) THEN 'enqueued'
         WHEN n.k = 1 THEN 'provisioning' ELSE 'failed' END,
       CASE WHEN n.i <= $1 OR n.k = 1 THEN 'ready' END,
       1 + n.k, 1 + n.k, CASE WHEN n.i > $1 AND n.k IN (2, 4) THEN 'http_5xx' WHEN n.k = 3 THEN 'http_4xx' END,
       CASE WHEN n.i <= $1 THEN 'dpl_' || n.i END, CASE WHEN n.i <= $1 THEN 'cell-1' END,
       'growth', 1100000,
       jsonb_build_object('job_id', a.id, 'stripe_session_id', a.stripe_session_id, 'package_slug', 'growth'),
       a.created_at, CASE WHEN n.i > $1 THEN a.created_at + interval '5 minutes' END,
       CASE WHEN n.i > $1 AND n.k = 3 THEN a.created_at END,
       CASE WHEN n.i > $1 AND n.k = 4 THEN a.created_at END,
       CASE WHEN n.i <= $1 THEN a.created_at + interval '1 minute' END,
       a.created_at, a.created_at
     FROM customer_accounts a
     CROSS JOIN LATERAL (SELECT substr(a.stripe_session_id, 10)::int AS i) s
     CROSS JOIN LATERAL (SELECT s.i, s.i % 5 AS k) n`,
    [scale.provisioned],
  );
  await pool.query(
    `INSERT INTO provisioning_job_events (job_id, occurred_at, kind, from_status, to_status, actor)
     SELECT id, created_at, 'recorded', NULL, 'enqueued', 'stripe' FROM provisioning_jobs
     UNION ALL
     SELECT id, created_at + interval '1 minute', 'callback', 'enqueued', status, 'orchestrator'
     FROM provisioning_jobs WHERE status = 'provisioned'`,
  );
  await pool.query(
    `INSERT INTO organization_databases (id, account_id, status, provisioned_at, updated_at)
     SELECT 'db_' || a.stripe_session_id, a.id, 'ready', a.created_at, a.created_at
     FROM customer_accounts a WHERE a.status = 'active'`,
  );
  await pool.query(
    `INSERT INTO stripe_events (id, type, stripe_session_id, processed_at)
     SELECT 'evt_' || stripe_session_id, 'checkout.session.completed', stripe_session_id, created_at
     FROM customer_accounts`,
  );
  // One admin, told of a stall for a tenth of the tenants over the years.
  await pool.query(
    `INSERT INTO users (id, email, role) VALUES (gen_random_uuid(), 'admin@example.com', 'admin')`,
  );
  await pool.query(
    `INSERT INTO notifications (id, user_id, level, kind, message, organization_database_id, created_at)
     SELECT gen_random_uuid(), u.id, 'error', 'database_stalled', 'stalled', d.id, d.provisioned_at
     FROM organization_databases d CROSS JOIN users u WHERE right(d.id, 1) = '7'`,
  );
  // A refused input for every session (a malformed callback), kept 90 days.
  await pool.query(
    `INSERT INTO rejected_inputs (source, reference, reason, received_at)
     SELECT 'callback', stripe_session_id, 'invalid body', created_at FROM customer_accounts`,
  );
  await pool.query(
    'ANALYZE customer_accounts, provisioning_jobs, provisioning_job_events, organization_databases, stripe_events, notifications, users, rejected_inputs',
  );
}

/** Read on every request or tick, or by an operator's listing: planned by a test, timed by the bench. */
export const HOT_READS = [
  'read session status',
  'read job with account and history',
  'find job by id or session',
  'count stuck jobs',
  'claim stale jobs',
  'claim breaker probe',
  'settle reconciler quiet',
  'notify admins of stalls',
  'prune expired bookkeeping',
  'list unprovisioned jobs',
  'list jobs waiting for an operator',
  'list tenants reported for cancelled jobs',
  'list notifications',
] as const;

/** Written by every checkout, hand-off and callback: planned by a test. */
export const HOT_WRITES = [
  'record settled checkout',
  'apply orchestrator callback',
  'dispatch hand-off attempt',
  'record hand-off outcome',
] as const;

/** The tables that grow with every checkout: no hot statement may read them whole. */
export const GROWING_TABLES = [
  'provisioning_jobs',
  'customer_accounts',
  'provisioning_job_events',
  'organization_databases',
  'stripe_events',
  'notifications',
  'rejected_inputs',
] as const;

const DB_DIR = fileURLToPath(new URL('../functions/db', import.meta.url));

/** Imports every repository under functions/db, so every statement is registered. */
export async function loadAllStatements(directory = DB_DIR): Promise<readonly AnyStatement[]> {
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) await loadAllStatements(path);
    else if (entry.name.endsWith('.ts')) await import(pathToFileURL(path).href);
  }
  return definedStatements();
}

type AnyStatement = Statement<Readonly<Record<string, ParamType>>, unknown>;

/** A plausible value of each type but `timestamp` (now, when bound): a seeded session… */
const SAMPLE: Record<Exclude<ParamType, 'timestamp'>, unknown> = {
  text: SAMPLE_SESSION,
  int: 25,
  bool: false,
  uuid: '00000000-0000-4000-8000-000000000000',
  json: {},
  decimal: '1',
};

/** A statement's parameters bound to sample values, so EXPLAIN can plan or time it. */
export function sampleParams(statement: AnyStatement): BoundParams {
  const params: Record<string, { type: ParamType; value: unknown }> = {};
  for (const [name, type] of Object.entries(statement.params)) {
    params[name] = { type, value: type === 'timestamp' ? new Date() : SAMPLE[type] };
  }
  return params as BoundParams;
}

/** Whether EXPLAIN can plan it: a query or a data change, not DDL (the migration ledger). */
export function explainable(statement: AnyStatement): boolean {
  return /^\s*(SELECT|WITH|INSERT|UPDATE|DELETE)\b/i.test(statement.sql);
}

/** The plan PostgreSQL picks for a statement, as EXPLAIN prints it (nothing is run). */
export async function planOf(db: SqlExecutor, statement: AnyStatement): Promise<string> {
  const rows = await db.execute(`EXPLAIN ${statement.sql}`, sampleParams(statement));
  return rows.map((row) => row['QUERY PLAN']).join('\n');
}

/** The growing tables a plan reads whole. */
export function sequentialScans(plan: string): string[] {
  return [...plan.matchAll(/Seq Scan on (\w+)/g)]
    .map((match) => match[1] ?? '')
    .filter((table) => (GROWING_TABLES as readonly string[]).includes(table));
}
