import * as z from 'zod';
import type { DatabaseReport } from '../core/callback-body.js';
import type { SqlExecutor } from './executor.js';
import { defineStatement, runStatement } from './statement.js';

/**
 * Tenant databases as the orchestrator reports them in its callbacks; the watchdog
 * reads them for stalls. `provisioned_at` is when we first heard of the database (its
 * provisioning started), which the stall rule measures from, so later reports keep it.
 */

const recordDatabaseReportStatement = defineStatement({
  name: 'record organisation database report',
  sql: `
WITH job AS (
  SELECT account_id FROM provisioning_jobs WHERE stripe_session_id = :sessionId
), reported AS (
  INSERT INTO organization_databases AS d (id, account_id, status, provisioned_at, updated_at)
  SELECT CAST(:databaseId AS text), job.account_id, CAST(:status AS text), :now, :now FROM job
  ON CONFLICT (id) DO UPDATE SET
    status = excluded.status,
    account_id = coalesce(d.account_id, excluded.account_id),
    updated_at = excluded.updated_at
    -- A database never moves to another tenant's account on an orchestrator's say-so.
    WHERE d.account_id IS NULL OR d.account_id = excluded.account_id
  RETURNING d.provisioned_at
)
SELECT job.account_id, reported.provisioned_at FROM job LEFT JOIN reported ON true`,
  params: { sessionId: 'text', databaseId: 'text', status: 'text', now: 'timestamp' },
  row: z.object({ account_id: z.string(), provisioned_at: z.date().nullable() }),
  replay: 'safe',
});

export type DatabaseReportResult =
  | { readonly kind: 'recorded'; readonly accountId: string; readonly provisionedAt: Date }
  /** The database id is already another account's: nothing was changed. */
  | { readonly kind: 'other_account'; readonly accountId: string }
  | { readonly kind: 'unknown_session' };

/**
 * Records what the orchestrator says about a tenant database, in one statement: the
 * first report creates the row under the job's account, later ones move its status.
 * Nothing is written for a session without a job.
 */
export async function recordDatabaseReport(
  db: SqlExecutor,
  stripeSessionId: string,
  database: DatabaseReport,
  now: Date,
): Promise<DatabaseReportResult> {
  const [row] = await runStatement(db, recordDatabaseReportStatement, {
    sessionId: stripeSessionId,
    databaseId: database.id,
    status: database.status,
    now,
  });
  if (!row) return { kind: 'unknown_session' };
  if (!row.provisioned_at) return { kind: 'other_account', accountId: row.account_id };
  return { kind: 'recorded', accountId: row.account_id, provisionedAt: row.provisioned_at };
}
