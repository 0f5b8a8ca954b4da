import * as z from 'zod';
import type { JobStatus } from '../../functions/core/job.js';
import type { SqlExecutor } from '../../functions/db/executor.js';
import { jobRow, jobStatus } from '../../functions/db/jobs/job-row.js';
import { defineStatement, runStatement } from '../../functions/db/statement.js';

/** What the local console lists: every job, newest first, by status and session. */

const listJobsStatement = defineStatement({
  name: 'console: list jobs',
  sql: `
SELECT stripe_session_id, status, phase, attempts, last_error, package_slug, created_at, updated_at
FROM provisioning_jobs
WHERE (CAST(:status AS text) IS NULL OR status = :status)
  AND (CAST(:search AS text) IS NULL OR strpos(lower(stripe_session_id), lower(:search)) > 0)
ORDER BY created_at DESC, id DESC
LIMIT :limit`,
  params: { status: 'text', search: 'text', limit: 'int' },
  row: jobRow.pick({
    stripe_session_id: true,
    status: true,
    phase: true,
    attempts: true,
    last_error: true,
    package_slug: true,
    created_at: true,
    updated_at: true,
  }),
});

export type ConsoleJob = z.infer<typeof listJobsStatement.row>;

export interface JobFilter {
  readonly status?: JobStatus | undefined;
  /** Part of the session id, any case. */
  readonly search?: string | undefined;
  readonly limit: number;
}

export function listJobs(db: SqlExecutor, filter: JobFilter): Promise<ConsoleJob[]> {
  return runStatement(db, listJobsStatement, {
    status: filter.status ?? null,
    search: filter.search || null,
    limit: filter.limit,
  });
}

const countJobsByStatusStatement = defineStatement({
  name: 'console: count jobs by status',
  sql: 'SELECT status, count(*) AS jobs FROM provisioning_jobs GROUP BY status',
  params: {},
  row: z.object({ status: jobStatus, jobs: z.number().int() }),
});

/** How many jobs are in each status, for the console's filter. */
export async function countJobsByStatus(
  db: SqlExecutor,
): Promise<Partial<Record<JobStatus, number>>> {
  const rows = await runStatement(db, countJobsByStatusStatement, {});
  return Object.fromEntries(rows.map((row) => [row.status, row.jobs]));
}
