import * as z from 'zod';
import type { SqlExecutor } from './executor.js';
import { defineStatement, runStatement, runStatementForOne } from './statement.js';

/**
 * The reconciler's own row (schema 0008): the lease that keeps runs from overlapping,
 * and `quiet_since`, when a run last found nothing in flight (see `services/quiet.ts`).
 */

/**
 * A CTE for every statement that can put something in flight (record a job, report a
 * tenant database): when the reconciler found nothing in flight (`quiet_since` set), it
 * marks the row woken, in the same transaction as the write, so no later run confirms
 * that quiet time; and the statement answers `reconciler_quiet_since`, upon which the
 * caller must wake the reconciler before it answers. Outside an idle period it writes
 * nothing. It sees an arm committed before the statement began (its READ COMMITTED
 * snapshot), not one committed while it runs: it then marks nothing, which is safe, as
 * the run that armed waits out every statement begun before it armed and then looks
 * again, finding what this one wrote (`services/quiet.ts`, steps 2 and 3).
 */
export const RECONCILER_WOKEN = `woken AS (
  UPDATE reconciler_state SET woken_at = :now
  WHERE id = 'reconciler' AND quiet_since IS NOT NULL
  RETURNING quiet_since
)`;
export const RECONCILER_QUIET_SINCE = '(SELECT quiet_since FROM woken) AS reconciler_quiet_since';

export const reconcilerQuietSince = z.object({ reconciler_quiet_since: z.date().nullable() });

// ---------------------------------------------------------------------------------
// The lease: one run at a time, so the pace of re-drives is one global cap.

const takeLeaseStatement = defineStatement({
  name: 'take reconciler lease',
  // The token is the call's own: a replay finds it held by itself and answers taken.
  replay: 'safe',
  sql: `
UPDATE reconciler_state SET lease_token = :token, lease_expires_at = :until
WHERE id = 'reconciler'
  AND (lease_token IS NULL OR lease_token = :token OR lease_expires_at <= :now)
RETURNING lease_token`,
  params: { token: 'uuid', until: 'timestamp', now: 'timestamp' },
  row: z.object({ lease_token: z.string() }),
});

/** Takes the lease until `until`, unless another run holds it; true when taken. */
export async function takeReconcilerLease(
  db: SqlExecutor,
  token: string,
  now: Date,
  until: Date,
): Promise<boolean> {
  const rows = await runStatement(db, takeLeaseStatement, { token, until, now });
  return rows.length > 0;
}

const releaseLeaseStatement = defineStatement({
  name: 'release reconciler lease',
  replay: 'safe',
  sql: `
UPDATE reconciler_state SET lease_token = NULL, lease_expires_at = NULL
WHERE id = 'reconciler' AND lease_token = :token
RETURNING id`,
  params: { token: 'uuid' },
  row: z.object({ id: z.string() }),
});

export async function releaseReconcilerLease(db: SqlExecutor, token: string): Promise<void> {
  await runStatement(db, releaseLeaseStatement, { token });
}

// ---------------------------------------------------------------------------------
// Quiet: nothing in flight.

const settleQuietStatement = defineStatement({
  name: 'settle reconciler quiet',
  // Running it twice with the same values leaves the row as once and answers the same.
  replay: 'safe',
  sql: `
WITH busy AS (
  -- In flight: whatever a later reconcile or watchdog run may have to act on.
  SELECT EXISTS (SELECT 1 FROM provisioning_jobs WHERE status NOT IN ('provisioned', 'cancelled'))
    OR EXISTS (SELECT 1 FROM organization_databases WHERE status IN ('provisioning', 'migrating'))
    OR EXISTS (SELECT 1 FROM orchestrator_breaker WHERE state = 'open') AS busy
), settled AS (
  UPDATE reconciler_state s SET
    quiet_since = CASE
      WHEN (SELECT busy FROM busy) THEN NULL
      -- The time an earlier run armed, and no writer has woken the reconciler since: kept.
      WHEN s.quiet_since = CAST(:armedAt AS timestamptz) AND s.woken_at IS NULL THEN s.quiet_since
      -- The first run that finds nothing, or the first since a writer woke it: armed
      -- afresh, so a time that a writer has woken the reconciler from is never confirmed.
      ELSE CAST(:now AS timestamptz) END,
    woken_at = NULL
  WHERE s.id = 'reconciler'
  RETURNING s.quiet_since
)
SELECT (SELECT busy FROM busy) AS busy, settled.quiet_since,
  coalesce(settled.quiet_since = CAST(:armedAt AS timestamptz), false) AS confirmed
FROM settled`,
  params: { armedAt: 'timestamp', now: 'timestamp' },
  row: z.object({
    busy: z.boolean(),
    quiet_since: z.date().nullable(),
    confirmed: z.boolean(),
  }),
});

type QuietSettlement =
  | { readonly kind: 'busy' }
  /** Nothing in flight, first seen at `since`: a later run may confirm it. */
  | { readonly kind: 'armed'; readonly since: Date }
  /** Nothing in flight, and nothing since `since` (armed by an earlier run): quiet. */
  | { readonly kind: 'confirmed'; readonly since: Date };

/**
 * Records whether anything is in flight: clears `quiet_since` when something is, keeps
 * it when it equals `armedAt` (what an earlier run armed and no writer has disturbed
 * since), sets it to `now` otherwise.
 */
export async function settleReconcilerQuiet(
  db: SqlExecutor,
  armedAt: Date | null,
  now: Date,
): Promise<QuietSettlement> {
  const row = await runStatementForOne(db, settleQuietStatement, { armedAt, now });
  if (row.busy || !row.quiet_since) return { kind: 'busy' };
  return { kind: row.confirmed ? 'confirmed' : 'armed', since: row.quiet_since };
}
