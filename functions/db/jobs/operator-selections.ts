import * as z from 'zod';
import type { SqlExecutor } from '../executor.js';
import { defineStatement, runStatement } from '../statement.js';
import { jobRow } from './job-row.js';

/**
 * The sets of jobs an operator acts on in bulk or must decide about: the jobs waiting for
 * an operator (capped or parked) that a bulk re-arm selects, and the cancelled jobs the
 * orchestrator reported provisioned anyway.
 */

export type Stopped = 'capped' | 'parked' | 'either';

export interface RearmFilter {
  /** Which stop: out of budget, refused by the orchestrator, or either. */
  readonly stopped: Stopped;
  /** `last_error` (`http_5xx`, `timeout`…) or the answered status (`http_422`). */
  readonly error?: string | undefined;
  /** Stopped at or after this time. */
  readonly since?: Date | undefined;
}

const listStoppedJobsStatement = defineStatement({
  name: 'list jobs waiting for an operator',
  // A read.
  replay: 'safe',
  sql: `
SELECT id, stripe_session_id, status, attempts, budget_spent, last_error, last_http_status, parked_at,
  capped_at, updated_at, count(*) OVER () AS total
FROM provisioning_jobs
WHERE status NOT IN ('provisioned', 'cancelled')
  AND ((:stopped IN ('capped', 'either') AND capped_at IS NOT NULL)
    OR (:stopped IN ('parked', 'either') AND parked_at IS NOT NULL))
  AND (CAST(:error AS text) IS NULL OR last_error = :error
    OR (last_http_status IS NOT NULL AND 'http_' || last_http_status = :error))
  AND (CAST(:since AS timestamptz) IS NULL OR coalesce(parked_at, capped_at) >= :since)
-- The longest waiting first: re-armed first, re-driven first.
ORDER BY coalesce(parked_at, capped_at) ASC, id ASC
LIMIT :limit`,
  params: { stopped: 'text', error: 'text', since: 'timestamp', limit: 'int' },
  row: jobRow
    .pick({
      id: true,
      stripe_session_id: true,
      status: true,
      attempts: true,
      budget_spent: true,
      last_error: true,
      last_http_status: true,
      parked_at: true,
      capped_at: true,
      updated_at: true,
    })
    .extend({ total: z.number().int() }),
});

export type StoppedJob = Omit<z.infer<typeof listStoppedJobsStatement.row>, 'total'>;

/** The jobs a bulk re-arm would touch, the longest waiting first, and how many match in all. */
export async function listStoppedJobs(
  db: SqlExecutor,
  filter: RearmFilter,
  limit: number,
): Promise<{ jobs: StoppedJob[]; total: number }> {
  const rows = await runStatement(db, listStoppedJobsStatement, {
    stopped: filter.stopped,
    error: filter.error ?? null,
    since: filter.since ?? null,
    limit,
  });
  return { jobs: rows.map(({ total: _total, ...job }) => job), total: rows[0]?.total ?? 0 };
}

const listLateCallbacksStatement = defineStatement({
  name: 'list tenants reported for cancelled jobs',
  // A read.
  replay: 'safe',
  sql: `
SELECT j.id, j.stripe_session_id, j.cancel_reason, j.cancelled_at, e.occurred_at AS reported_at,
  e.detail->>'deployment_id' AS deployment_id, e.detail->>'cell_id' AS cell_id
FROM provisioning_job_events e JOIN provisioning_jobs j ON j.id = e.job_id
WHERE e.kind = 'late_callback'
ORDER BY e.occurred_at DESC
LIMIT :limit`,
  params: { limit: 'int' },
  row: z.object({
    id: z.string(),
    stripe_session_id: z.string(),
    cancel_reason: z.string().nullable(),
    cancelled_at: z.date().nullable(),
    reported_at: z.date(),
    deployment_id: z.string().nullable(),
    cell_id: z.string().nullable(),
  }),
});

export type LateCallback = z.infer<typeof listLateCallbacksStatement.row>;

/**
 * Tenants the orchestrator reported for jobs an operator had cancelled: kept, never
 * applied; each needs a decision (decommission the tenant, or reopen the sale).
 */
export function listLateCallbacks(db: SqlExecutor, limit: number): Promise<LateCallback[]> {
  return runStatement(db, listLateCallbacksStatement, { limit });
}
