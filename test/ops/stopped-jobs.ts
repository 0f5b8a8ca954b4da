import { DEFAULT_RULES } from '../../functions/core/rules.js';
import type { SqlExecutor } from '../../functions/db/executor.js';
import { applyCallback } from '../../functions/db/jobs/callbacks.js';
import { dispatchAttempt, recordAttemptOutcome } from '../../functions/db/jobs/handoff-attempts.js';
import { recordCheckout } from './ops-harness.js';

/**
 * Jobs waiting for an operator, as the hand-off leaves them: parked by a refusal, capped
 * out of budget, or provisioned. The bulk commands select among them.
 */

const secondsBefore = (now: Date, seconds: number) => new Date(now.getTime() - seconds * 1000);

/** Parked `ago` seconds before `now` by the orchestrator's refusal of attempt 1 with `httpStatus`. */
export async function parkedJob(
  db: SqlExecutor,
  session: string,
  now: Date,
  httpStatus: number,
  ago = 600,
) {
  const at = secondsBefore(now, ago);
  const job = await recordCheckout(db, session, at);
  await dispatchAttempt(db, { jobId: job.id, attempt: 1 }, at, 12);
  const recorded = await recordAttemptOutcome(
    db,
    { jobId: job.id, attempt: 1, outcome: 'permanent', failure: 'http_4xx', httpStatus },
    at,
    DEFAULT_RULES,
  );
  if (!recorded.parked) throw new Error(`${session} was not parked`);
  return job;
}

/**
 * Out of budget `ago` seconds before `now`: eight attempts dispatched, the last failing
 * with `lastError` (and `httpStatus`, when the orchestrator answered).
 */
export async function cappedJob(
  db: SqlExecutor,
  session: string,
  now: Date,
  lastError: string,
  options: { readonly httpStatus?: number; readonly ago?: number } = {},
) {
  const at = secondsBefore(now, options.ago ?? 600);
  const job = await recordCheckout(db, session, secondsBefore(at, 3600));
  await db.execute(
    `UPDATE provisioning_jobs SET attempts = 8, budget_spent = 8, last_error = :lastError,
       last_http_status = :httpStatus, last_outcome = 'transient', last_attempt_at = :at,
       capped_at = :at, lease_expires_at = NULL
     WHERE id = :jobId`,
    {
      jobId: { type: 'uuid', value: job.id },
      lastError: { type: 'text', value: lastError },
      httpStatus: { type: 'int', value: options.httpStatus ?? null },
      at: { type: 'timestamp', value: at },
    },
  );
  return job;
}

/** Provisioned by the orchestrator's callback at `now`. */
export async function provision(db: SqlExecutor, session: string, now: Date, deploymentId: string) {
  const result = await applyCallback(
    db,
    { stripeSessionId: session, status: 'provisioned', deploymentId, cellId: 'cell-1' },
    now,
    DEFAULT_RULES,
  );
  if (result.kind !== 'known' || result.status !== 'provisioned') {
    throw new Error(`${session} was not provisioned`);
  }
}
