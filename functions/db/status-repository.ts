import * as z from 'zod';
import { ACCOUNT_STATUSES } from '../core/coarse-state.js';
import { JOB_STATUSES } from '../core/job.js';
import type { SqlExecutor } from './executor.js';
import { defineStatement, runStatement } from './statement.js';

const readSessionStatusStatement = defineStatement({
  name: 'read session status',
  sql: `
SELECT a.status AS account_status, j.status AS job_status, j.phase,
  j.parked_at IS NOT NULL AS parked, j.capped_at IS NOT NULL AS capped
-- By the session on both sides: two unique-index reads however many tenants there are
-- (a job and its account always share their session).
FROM customer_accounts a LEFT JOIN provisioning_jobs j ON j.stripe_session_id = a.stripe_session_id
WHERE a.stripe_session_id = :sessionId`,
  params: { sessionId: 'text' },
  row: z.object({
    account_status: z.enum(ACCOUNT_STATUSES),
    job_status: z.enum(JOB_STATUSES).nullable(),
    phase: z.string().nullable(),
    parked: z.boolean(),
    capped: z.boolean(),
  }),
  replay: 'safe',
});

export type SessionStatus = z.infer<typeof readSessionStatusStatement.row>;

/** The account and job states of a checkout session, or undefined when it is unknown. */
export async function readSessionStatus(
  db: SqlExecutor,
  stripeSessionId: string,
): Promise<SessionStatus | undefined> {
  const [row] = await runStatement(db, readSessionStatusStatement, { sessionId: stripeSessionId });
  return row;
}
