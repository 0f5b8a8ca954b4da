import * as z from 'zod';
import type { SweepMark, SweepPass } from '../core/checkout-sweep.js';
import type { SqlExecutor } from './executor.js';
import { defineStatement, runStatement } from './statement.js';

/**
 * The missed-checkout sweep's high-water mark (`checkout_sweep`, one row) and the one
 * question it asks of the jobs. A run claims the pass by compare-and-swap on the run
 * token it saw, so two runs (the schedule and an operator) never list at once; each
 * later write names the claiming run's token and changes nothing once another run
 * has taken the pass over.
 */

const MARK_ID = 'checkout_sessions';

const markRow = z.object({
  window_from: z.date(),
  window_to: z.date(),
  resume_after: z.string().nullable(),
  listed: z.number().int(),
  recorded: z.number().int(),
  started_at: z.date(),
  finished_at: z.date().nullable(),
  run_token: z.string(),
  lease_until: z.date(),
});

function toMark(row: z.infer<typeof markRow>): SweepMark {
  return {
    windowFrom: row.window_from,
    windowTo: row.window_to,
    resumeAfter: row.resume_after,
    listed: row.listed,
    recorded: row.recorded,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    runToken: row.run_token,
    leaseUntil: row.lease_until,
  };
}

const readMarkStatement = defineStatement({
  name: 'read checkout sweep mark',
  sql: `SELECT window_from, window_to, resume_after, listed, recorded, started_at, finished_at,
  run_token, lease_until FROM checkout_sweep WHERE id = '${MARK_ID}'`,
  params: {},
  row: markRow,
  replay: 'safe',
});

export async function readSweepMark(db: SqlExecutor): Promise<SweepMark | undefined> {
  const [row] = await runStatement(db, readMarkStatement, {});
  return row ? toMark(row) : undefined;
}

const claimStatement = defineStatement({
  name: 'claim checkout sweep pass',
  // A replay of this very claim (same run token) answers the row again.
  replay: 'safe',
  sql: `
INSERT INTO checkout_sweep AS s
  (id, window_from, window_to, resume_after, listed, recorded, started_at, finished_at,
   run_token, lease_until, updated_at)
VALUES ('${MARK_ID}', :windowFrom, :windowTo, :resumeAfter, :listed, :recorded, :startedAt, NULL,
  :runToken, :leaseUntil, :now)
ON CONFLICT (id) DO UPDATE SET
  window_from = excluded.window_from,
  window_to = excluded.window_to,
  resume_after = excluded.resume_after,
  listed = excluded.listed,
  recorded = excluded.recorded,
  started_at = excluded.started_at,
  finished_at = NULL,
  run_token = excluded.run_token,
  lease_until = excluded.lease_until,
  updated_at = excluded.updated_at
-- Only the mark this run planned from, and only once its holder's lease lapsed.
WHERE (s.run_token = CAST(:seenToken AS uuid) AND s.lease_until <= excluded.updated_at)
  OR s.run_token = excluded.run_token
RETURNING s.run_token`,
  params: {
    windowFrom: 'timestamp',
    windowTo: 'timestamp',
    resumeAfter: 'text',
    listed: 'int',
    recorded: 'int',
    startedAt: 'timestamp',
    runToken: 'uuid',
    seenToken: 'uuid',
    leaseUntil: 'timestamp',
    now: 'timestamp',
  },
  row: z.object({ run_token: z.string() }),
});

/**
 * Takes the pass for `runToken` until `leaseUntil`, if the mark is still the one the
 * run planned from (`seen`, undefined when there was none). False when another run
 * claimed it meanwhile: nothing was written.
 */
export async function claimSweepPass(
  db: SqlExecutor,
  claim: {
    readonly pass: SweepPass;
    readonly seen: SweepMark | undefined;
    readonly runToken: string;
    readonly leaseUntil: Date;
  },
  now: Date,
): Promise<boolean> {
  const rows = await runStatement(db, claimStatement, {
    ...claim.pass,
    runToken: claim.runToken,
    seenToken: claim.seen?.runToken ?? null,
    leaseUntil: claim.leaseUntil,
    now,
  });
  return rows.length > 0;
}

const advanceStatement = defineStatement({
  name: 'advance checkout sweep mark',
  // Absolute values, keyed by the run's token: a replay writes the same again.
  replay: 'safe',
  sql: `
UPDATE checkout_sweep SET resume_after = :resumeAfter, listed = :listed, recorded = :recorded,
  lease_until = :leaseUntil, updated_at = :now
WHERE id = '${MARK_ID}' AND run_token = :runToken AND finished_at IS NULL
RETURNING run_token`,
  params: {
    resumeAfter: 'text',
    listed: 'int',
    recorded: 'int',
    leaseUntil: 'timestamp',
    runToken: 'uuid',
    now: 'timestamp',
  },
  row: z.object({ run_token: z.string() }),
});

export interface SweepProgress {
  readonly resumeAfter: string | null;
  readonly listed: number;
  readonly recorded: number;
}

/**
 * Moves the mark past a page whose sessions were all examined, and extends the run's
 * lease. False when the run no longer holds the pass (its lease lapsed and another
 * run took it over): it must stop.
 */
export async function advanceSweepMark(
  db: SqlExecutor,
  runToken: string,
  progress: SweepProgress,
  leaseUntil: Date,
  now: Date,
): Promise<boolean> {
  const rows = await runStatement(db, advanceStatement, {
    ...progress,
    leaseUntil,
    runToken,
    now,
  });
  return rows.length > 0;
}

const closeStatement = defineStatement({
  name: 'close checkout sweep run',
  replay: 'safe',
  sql: `
UPDATE checkout_sweep SET
  finished_at = CASE WHEN CAST(:finished AS boolean) THEN CAST(:now AS timestamptz) END,
  lease_until = :now, updated_at = :now
WHERE id = '${MARK_ID}' AND run_token = :runToken AND finished_at IS NULL
RETURNING run_token`,
  params: { finished: 'bool', runToken: 'uuid', now: 'timestamp' },
  row: z.object({ run_token: z.string() }),
});

/**
 * Ends a run: the pass is finished (the next run starts a new one), or left where the
 * mark says for the next run to resume; either way the lease is released.
 */
export async function closeSweepRun(
  db: SqlExecutor,
  runToken: string,
  finished: boolean,
  now: Date,
): Promise<void> {
  await runStatement(db, closeStatement, { finished, runToken, now });
}

const withoutJobStatement = defineStatement({
  name: 'find checkout sessions without a job',
  sql: `
SELECT listed.id AS stripe_session_id
FROM jsonb_array_elements_text(CAST(:sessionIds AS jsonb)) AS listed(id)
WHERE NOT EXISTS (SELECT 1 FROM provisioning_jobs j WHERE j.stripe_session_id = listed.id)`,
  params: { sessionIds: 'json' },
  row: z.object({ stripe_session_id: z.string() }),
  replay: 'safe',
});

/** Which of these checkout sessions have no job (one round trip for a page of them). */
export async function sessionsWithoutJob(
  db: SqlExecutor,
  sessionIds: readonly string[],
): Promise<Set<string>> {
  if (sessionIds.length === 0) return new Set();
  const rows = await runStatement(db, withoutJobStatement, { sessionIds });
  return new Set(rows.map((row) => row.stripe_session_id));
}
