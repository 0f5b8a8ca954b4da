import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import type { Actor } from '../core/job.js';
import type { SqlExecutor } from './executor.js';
import { defineStatement, runStatementForOne } from './statement.js';

/**
 * The breaker toward the orchestrator, as operators and the gauges see it. Outcomes
 * open and close it inside the statement that records them (see
 * `jobs/handoff-attempts.ts`); an operator may hold it open or closed here.
 */

export const breakerRow = z.object({
  state: z.enum(['closed', 'open']),
  consecutive_failures: z.number().int(),
  opened_at: z.date().nullable(),
  forced: z.boolean(),
  probe_job_id: z.string().nullable(),
  probe_attempt: z.number().int().nullable(),
  probe_lease_expires_at: z.date().nullable(),
  last_probe_at: z.date().nullable(),
  reason: z.string().nullable(),
  changed_by: z.string().nullable(),
  changed_at: z.date(),
});
export type Breaker = z.infer<typeof breakerRow>;

const readBreakerStatement = defineStatement({
  name: 'read breaker',
  // A read.
  replay: 'safe',
  sql: `
SELECT state, consecutive_failures, opened_at, forced, probe_job_id, probe_attempt, probe_lease_expires_at,
  last_probe_at, reason, changed_by, changed_at
FROM orchestrator_breaker WHERE id = 'orchestrator'`,
  params: {},
  row: breakerRow,
});

export function readBreaker(db: SqlExecutor): Promise<Breaker> {
  return runStatementForOne(db, readBreakerStatement, {});
}

/** How long the breaker has been open at `now`, in whole seconds; 0 when closed. */
export function openSeconds(breaker: Pick<Breaker, 'state' | 'opened_at'>, now: Date): number {
  if (breaker.state !== 'open' || breaker.opened_at === null) return 0;
  return Math.max(0, Math.floor((now.getTime() - breaker.opened_at.getTime()) / 1000));
}

const forceBreakerStatement = defineStatement({
  name: 'force breaker',
  // A replay is recognised by its request token and answered as the first call.
  replay: 'safe',
  sql: `
WITH prior AS (
  SELECT state, forced FROM orchestrator_breaker WHERE id = 'orchestrator' FOR UPDATE
), replayed AS (
  SELECT kind FROM orchestrator_breaker_events WHERE request_token = :requestToken
), breaker AS (
  -- Held open, it sends no probe and nothing but an operator closes it; closed by an
  -- operator, it counts failures afresh and may open again on its own.
  UPDATE orchestrator_breaker b SET state = :state, forced = (:state = 'open'),
    consecutive_failures = 0,
    opened_at = CASE WHEN :state = 'open' THEN coalesce(b.opened_at, :now) END,
    probe_job_id = NULL, probe_attempt = NULL, probe_lease_expires_at = NULL,
    reason = :reason, changed_by = :actor, changed_at = :now
  WHERE b.id = 'orchestrator' AND NOT EXISTS (SELECT 1 FROM replayed)
  RETURNING b.state
), history AS (
  INSERT INTO orchestrator_breaker_events (occurred_at, kind, actor, reason, detail, request_token)
  SELECT :now, CASE WHEN :state = 'open' THEN 'forced_open' ELSE 'forced_closed' END, :actor, :reason,
    jsonb_build_object('prior_state', prior.state, 'prior_forced', prior.forced), :requestToken
  FROM breaker, prior
)
SELECT prior.state AS prior_state, prior.forced AS prior_forced FROM prior`,
  params: {
    state: 'text',
    reason: 'text',
    actor: 'text',
    requestToken: 'uuid',
    now: 'timestamp',
  },
  row: z.object({ prior_state: z.enum(['closed', 'open']), prior_forced: z.boolean() }),
});

export interface ForcedBreaker {
  readonly priorState: 'closed' | 'open';
  readonly priorForced: boolean;
}

/** An operator holds the breaker open (orchestrator maintenance) or closes it, with a reason. */
export async function forceBreaker(
  db: SqlExecutor,
  request: { readonly state: 'open' | 'closed'; readonly actor: Actor; readonly reason: string },
  now: Date,
): Promise<ForcedBreaker> {
  const row = await runStatementForOne(db, forceBreakerStatement, {
    ...request,
    requestToken: randomUUID(),
    now,
  });
  return { priorState: row.prior_state, priorForced: row.prior_forced };
}
