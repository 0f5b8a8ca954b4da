import * as z from 'zod';
import type { SqlExecutor } from './executor.js';
import { defineStatement, runStatementForOne } from './statement.js';

const pruneStatement = defineStatement({
  name: 'prune expired bookkeeping',
  sql: `
WITH stripe AS (
  DELETE FROM stripe_events WHERE id IN (
    SELECT id FROM stripe_events WHERE processed_at < :stripeEventsBefore ORDER BY processed_at LIMIT :limit)
  RETURNING 1
), refused AS (
  DELETE FROM rejected_inputs WHERE id IN (
    SELECT id FROM rejected_inputs WHERE received_at < :rejectedInputsBefore ORDER BY received_at LIMIT :limit)
  RETURNING 1
)
SELECT (SELECT count(*) FROM stripe) AS stripe_events, (SELECT count(*) FROM refused) AS rejected_inputs`,
  params: { stripeEventsBefore: 'timestamp', rejectedInputsBefore: 'timestamp', limit: 'int' },
  row: z.object({ stripe_events: z.number().int(), rejected_inputs: z.number().int() }),
});

export interface Pruned {
  readonly stripeEvents: number;
  readonly rejectedInputs: number;
}

/**
 * Deletes processed Stripe event ids and refused inputs older than their cut-offs, at
 * most `limit` of each per call, so one call stays short on the Data API; the next
 * run takes the rest.
 */
export async function pruneExpiredBookkeeping(
  db: SqlExecutor,
  cutoffs: { readonly stripeEventsBefore: Date; readonly rejectedInputsBefore: Date },
  limit: number,
): Promise<Pruned> {
  const row = await runStatementForOne(db, pruneStatement, { ...cutoffs, limit });
  return { stripeEvents: row.stripe_events, rejectedInputs: row.rejected_inputs };
}
