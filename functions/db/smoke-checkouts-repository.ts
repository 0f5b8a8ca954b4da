import * as z from 'zod';
import type { SqlExecutor } from './executor.js';
import { defineStatement, runStatement, runStatementForOne } from './statement.js';

/**
 * The rows of a smoke checkout (`ops smoke`: a session id starting `cs_smoke_`), so a
 * smoke test leaves nothing behind: no job on the gauge, no account, no tenant records.
 * Every statement refuses any other session, whatever it is given.
 */
export const SMOKE_SESSION_PREFIX = 'cs_smoke_';
export const SMOKE_PACKAGE = 'smoke-test';

const removeSmokeCheckoutStatement = defineStatement({
  name: 'remove smoke checkout',
  // Deletes by key: a replay finds nothing more to delete.
  replay: 'safe',
  // One statement: foreign keys are checked once every row of it is gone.
  sql: `
WITH job AS (
  SELECT j.id FROM provisioning_jobs j
  WHERE j.stripe_session_id = :sessionId AND starts_with(j.stripe_session_id, '${SMOKE_SESSION_PREFIX}')
), account AS (
  SELECT a.id FROM customer_accounts a
  WHERE a.stripe_session_id = :sessionId AND starts_with(a.stripe_session_id, '${SMOKE_SESSION_PREFIX}')
), tenant_databases AS (
  SELECT d.id FROM organization_databases d WHERE d.account_id IN (SELECT id FROM account)
), gone_notifications AS (
  DELETE FROM notifications n
  WHERE n.job_id IN (SELECT id FROM job)
    OR n.organization_database_id IN (SELECT id FROM tenant_databases)
  RETURNING n.id
), gone_alerts AS (
  DELETE FROM watchdog_alerts w
  WHERE w.subject_id IN (SELECT CAST(id AS text) FROM job UNION ALL SELECT id FROM tenant_databases)
  RETURNING w.subject_id
), gone_history AS (
  DELETE FROM provisioning_job_events e WHERE e.job_id IN (SELECT id FROM job) RETURNING e.id
), gone_databases AS (
  DELETE FROM organization_databases d WHERE d.id IN (SELECT id FROM tenant_databases)
  RETURNING d.id
), gone_jobs AS (
  DELETE FROM provisioning_jobs j WHERE j.id IN (SELECT id FROM job) RETURNING j.id
), gone_accounts AS (
  DELETE FROM customer_accounts a WHERE a.id IN (SELECT id FROM account) RETURNING a.id
), gone_events AS (
  DELETE FROM stripe_events s
  WHERE s.stripe_session_id = :sessionId AND starts_with(s.stripe_session_id, '${SMOKE_SESSION_PREFIX}')
  RETURNING s.id
)
SELECT
  CAST((SELECT count(*) FROM gone_jobs) AS int) AS jobs,
  CAST((SELECT count(*) FROM gone_history) AS int) AS history,
  CAST((SELECT count(*) FROM gone_accounts) AS int) AS accounts,
  CAST((SELECT count(*) FROM gone_databases) AS int) AS tenant_databases,
  CAST((SELECT count(*) FROM gone_notifications) + (SELECT count(*) FROM gone_alerts) AS int)
    AS notifications,
  CAST((SELECT count(*) FROM gone_events) AS int) AS stripe_events`,
  params: { sessionId: 'text' },
  row: z.object({
    jobs: z.number(),
    history: z.number(),
    accounts: z.number(),
    tenant_databases: z.number(),
    notifications: z.number(),
    stripe_events: z.number(),
  }),
});

type RemovedSmokeRows = z.infer<typeof removeSmokeCheckoutStatement.row>;

/** Deletes what a smoke checkout wrote; a session that is not a smoke session deletes nothing. */
export async function removeSmokeCheckout(
  db: SqlExecutor,
  sessionId: string,
): Promise<RemovedSmokeRows> {
  return runStatementForOne(db, removeSmokeCheckoutStatement, { sessionId });
}

const removeSmokePackageStatement = defineStatement({
  name: 'remove smoke package',
  replay: 'safe',
  sql: `DELETE FROM packages WHERE slug = '${SMOKE_PACKAGE}' RETURNING slug`,
  params: {},
  row: z.object({ slug: z.string() }),
});

/** Takes the smoke test's package out of the catalogue again; answers whether it was there. */
export async function removeSmokePackage(db: SqlExecutor): Promise<boolean> {
  const rows = await runStatement(db, removeSmokePackageStatement, {});
  return rows.length > 0;
}
