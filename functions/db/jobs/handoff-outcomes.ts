import { z } from 'zod';
import type { Actor, HandoffOutcome } from '../../core/job.js';
import type { SqlExecutor } from '../executor.js';
import { defineStatement, runStatement } from '../statement.js';

/** How a hand-off attempt went, recorded on its job. */

const recordHandoffOutcomeStatement = defineStatement({
  name: 'record hand-off outcome',
  sql: `
WITH job AS (
  UPDATE provisioning_jobs j SET
    -- Once the orchestrator has reported since this attempt was dispatched (a callback
    -- moves updated_at), its word stands: the hand-off outcome does not overwrite it.
    last_error = CASE WHEN j.updated_at <= j.last_attempt_at THEN CAST(:failure AS text) ELSE j.last_error END,
    -- An accepted re-drive of a job that failed before it was dispatched awaits the orchestrator again.
    status = CASE WHEN :failure IS NULL AND j.status = 'failed' AND j.updated_at <= j.last_attempt_at
      THEN 'enqueued' ELSE j.status END
  WHERE j.id = :jobId AND j.attempts = :attempt AND j.status <> 'provisioned'
  RETURNING j.id, j.status
)
INSERT INTO provisioning_job_events (job_id, occurred_at, kind, to_status, actor, reason, detail)
SELECT job.id, :now, 'handoff', job.status, :actor, :failure, jsonb_build_object('attempt', CAST(:attempt AS int8))
FROM job
RETURNING job_id`,
  params: { jobId: 'uuid', attempt: 'int', failure: 'text', actor: 'text', now: 'timestamp' },
  row: z.object({ job_id: z.string() }),
});

/**
 * Records how hand-off attempt `attempt` went. Keyed by the attempt, so a repeat is
 * harmless and the outcome of an attempt that a newer re-drive superseded is ignored
 * (`recorded: false`), as is any outcome for a provisioned job.
 */
export async function recordHandoffOutcome(
  db: SqlExecutor,
  handoff: { readonly jobId: string; readonly attempt: number; readonly outcome: HandoffOutcome },
  now: Date,
  actor: Actor = 'handoff',
): Promise<{ recorded: boolean }> {
  const rows = await runStatement(db, recordHandoffOutcomeStatement, {
    jobId: handoff.jobId,
    attempt: handoff.attempt,
    failure: handoff.outcome === 'accepted' ? null : handoff.outcome,
    actor,
    now,
  });
  return { recorded: rows.length > 0 };
}
