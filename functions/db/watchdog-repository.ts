import * as z from 'zod';
import type { ProvisioningRules } from '../core/rules.js';
import { secondsBefore } from '../core/rules.js';
import type { SqlExecutor } from './executor.js';
import { defineStatement, runStatementForOne } from './statement.js';

const notifyStallsStatement = defineStatement({
  name: 'notify admins of stalls',
  sql: `
WITH subjects AS (
  SELECT 'database_stalled' AS kind, d.id AS subject_id, d.id AS database_id, CAST(NULL AS uuid) AS job_id,
    -- The time is built in two pieces: a ':MI' inside a literal could be read as a
    -- parameter by the Data API.
    format('Organisation database %s has been %s since %s:%s UTC (over %s minutes).',
      d.id, d.status, to_char(d.provisioned_at, 'YYYY-MM-DD HH24'), to_char(d.provisioned_at, 'MI'),
      CAST(:stallMinutes AS int8)) AS message
  FROM organization_databases d
  WHERE d.status IN ('provisioning', 'migrating') AND d.provisioned_at < :stallBefore
  UNION ALL
  SELECT 'job_capped', CAST(j.id AS text), NULL, j.id,
    format('Provisioning job %s (checkout %s) is out of retry budget after %s hand-off attempts (last error: %s).',
      j.id, j.stripe_session_id, j.budget_spent, coalesce(j.last_error, 'none'))
  FROM provisioning_jobs j
  WHERE j.status NOT IN ('provisioned', 'cancelled') AND j.capped_at IS NOT NULL
), due AS (
  -- One alert row per subject and admin: the conflict clause lets through only those
  -- not told within the re-notify interval, and serialises two overlapping runs.
  INSERT INTO watchdog_alerts AS w (subject_kind, subject_id, user_id, last_notified_at)
  SELECT s.kind, s.subject_id, u.id, :now
  FROM subjects s CROSS JOIN users u
  WHERE u.role = 'admin'
  ON CONFLICT (subject_kind, subject_id, user_id) DO UPDATE SET last_notified_at = excluded.last_notified_at
    WHERE w.last_notified_at < :renotifyBefore
  RETURNING w.subject_kind, w.subject_id, w.user_id
), sent AS (
  INSERT INTO notifications (id, user_id, level, kind, message, organization_database_id, job_id, created_at)
  SELECT gen_random_uuid(), due.user_id, 'error', s.kind, s.message, s.database_id, s.job_id, :now
  FROM due JOIN subjects s ON s.kind = due.subject_kind AND s.subject_id = due.subject_id
  RETURNING id
)
SELECT
  (SELECT count(*) FROM subjects WHERE kind = 'database_stalled') AS stalled_databases,
  (SELECT count(*) FROM subjects WHERE kind = 'job_capped') AS capped_jobs,
  (SELECT count(*) FROM sent) AS notifications_sent`,
  params: {
    stallBefore: 'timestamp',
    stallMinutes: 'int',
    renotifyBefore: 'timestamp',
    now: 'timestamp',
  },
  row: z.object({
    stalled_databases: z.number().int(),
    capped_jobs: z.number().int(),
    notifications_sent: z.number().int(),
  }),
});

export interface WatchdogSweep {
  readonly stalledDatabases: number;
  readonly cappedJobs: number;
  readonly notificationsSent: number;
}

/**
 * The watchdog's sweep, one statement: every organisation database provisioning or
 * migrating past the stall threshold, and every capped job (out of retry budget), becomes an
 * error notification for each admin, unless that admin heard of it within the
 * re-notify interval. It only alerts; it changes nothing it reports on.
 */
export async function notifyStalls(
  db: SqlExecutor,
  now: Date,
  rules: ProvisioningRules,
): Promise<WatchdogSweep> {
  const row = await runStatementForOne(db, notifyStallsStatement, {
    stallBefore: secondsBefore(now, rules.stallAfterSeconds),
    stallMinutes: Math.round(rules.stallAfterSeconds / 60),
    renotifyBefore: secondsBefore(now, rules.renotifyAfterSeconds),
    now,
  });
  return {
    stalledDatabases: row.stalled_databases,
    cappedJobs: row.capped_jobs,
    notificationsSent: row.notifications_sent,
  };
}
