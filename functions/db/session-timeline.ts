import * as z from 'zod';
import type { SqlExecutor } from './executor.js';
import { defineStatement, runStatement } from './statement.js';

/**
 * Everything known about one checkout (or operator) session, as one timeline in time
 * order: the Stripe events processed for it (whichever path delivered them), its
 * account (a delayed payment waits there before any job exists), the job's history
 * (every attempt and its outcome, callbacks, operator actions), the tenant databases
 * the orchestrator reported, the watchdog's notifications, an operator's request, and
 * the inputs refused that named the session. One read, for `ops show`.
 */

const readTimelineStatement = defineStatement({
  name: 'read session timeline',
  // A read.
  replay: 'safe',
  // `rank` and `seq` order entries of one instant as things happen (the event, its
  // account, its job; a job's events by id), and are not answered.
  sql: `
WITH account AS (
  SELECT * FROM customer_accounts WHERE stripe_session_id = :sessionId
), job AS (
  SELECT id FROM provisioning_jobs WHERE stripe_session_id = :sessionId
), databases AS (
  SELECT d.* FROM organization_databases d JOIN account a ON d.account_id = a.id
)
SELECT at, source, what, actor, detail FROM (
SELECT e.processed_at AS at, 'stripe' AS source, 1 AS rank, 0 AS seq, e.type AS what, 'stripe' AS actor,
  jsonb_build_object('id', e.id) AS detail
FROM stripe_events e WHERE e.stripe_session_id = :sessionId
UNION ALL
SELECT a.created_at, 'account', 2, 0, 'account recorded', 'stripe',
  jsonb_strip_nulls(jsonb_build_object('status_now', a.status, 'updated_at', a.updated_at,
    'package_slug', a.package_slug, 'customer', coalesce(a.stripe_customer_id, a.stripe_customer_account_id)))
FROM account a
UNION ALL
SELECT r.created_at, 'operator', 3, 0, 'job requested', r.actor,
  jsonb_build_object('idempotency_key', r.idempotency_key)
FROM operator_requests r WHERE r.stripe_session_id = :sessionId
UNION ALL
SELECT ev.occurred_at, 'job', 4, ev.id, ev.kind, ev.actor,
  jsonb_strip_nulls(jsonb_build_object('from_status', ev.from_status, 'to_status', ev.to_status,
    'reason', ev.reason)) || coalesce(ev.detail, '{}')
FROM provisioning_job_events ev JOIN job ON ev.job_id = job.id
UNION ALL
SELECT d.provisioned_at, 'database', 5, 0, 'database reported', 'orchestrator',
  jsonb_build_object('database_id', d.id, 'status_now', d.status, 'updated_at', d.updated_at)
FROM databases d
UNION ALL
SELECT n.created_at, 'watchdog', 6, 0, n.kind, 'watchdog',
  jsonb_strip_nulls(jsonb_build_object('level', n.level, 'to', u.email, 'message', n.message,
    'database_id', n.organization_database_id))
FROM notifications n JOIN users u ON u.id = n.user_id
-- As arrays, so that each side is an index read (an OR of IN subqueries scans the table).
WHERE n.job_id = ANY (ARRAY(SELECT id FROM job))
  OR n.organization_database_id = ANY (ARRAY(SELECT id FROM databases))
UNION ALL
SELECT ri.received_at, 'refused', 7, ri.id, ri.source, CAST(NULL AS text),
  jsonb_build_object('reason', ri.reason)
FROM rejected_inputs ri WHERE ri.reference = :sessionId
) t
ORDER BY at, rank, seq`,
  params: { sessionId: 'text' },
  row: z.object({
    at: z.date(),
    /** Where it is kept: a Stripe event, the account, the job's history, a notification… */
    source: z.enum(['stripe', 'account', 'operator', 'job', 'database', 'watchdog', 'refused']),
    /** What happened: the Stripe event type, the job event's kind, … */
    what: z.string(),
    actor: z.string().nullable(),
    detail: z.record(z.string(), z.unknown()),
  }),
});

export type TimelineEntry = Readonly<z.infer<typeof readTimelineStatement.row>>;

/** The session's timeline, oldest first; empty when nothing is known about it. */
export function readSessionTimeline(
  db: SqlExecutor,
  stripeSessionId: string,
): Promise<TimelineEntry[]> {
  return runStatement(db, readTimelineStatement, { sessionId: stripeSessionId });
}
