import * as z from 'zod';
import type { SqlExecutor } from './executor.js';
import { defineStatement, runStatement } from './statement.js';

/**
 * The Stripe events already processed. Stripe retries a delivery for three days and
 * in any order, far beyond the queue's five-minute deduplication window, so the
 * webhook remembers every event it has acted on.
 */

const findProcessedEventStatement = defineStatement({
  name: 'find processed Stripe event',
  sql: 'SELECT id FROM stripe_events WHERE id = :eventId',
  params: { eventId: 'text' },
  row: z.object({ id: z.string() }),
  replay: 'safe',
});

export async function isStripeEventProcessed(db: SqlExecutor, eventId: string): Promise<boolean> {
  const rows = await runStatement(db, findProcessedEventStatement, { eventId });
  return rows.length > 0;
}

const markEventProcessedStatement = defineStatement({
  name: 'mark Stripe event processed',
  sql: `
INSERT INTO stripe_events AS e (id, type, stripe_session_id, processed_at)
VALUES (:eventId, :type, :sessionId, :now)
-- A replay of this very call (same :now) answers the row again, as the first run did;
-- another delivery of the event finds it marked at another time and answers nothing.
ON CONFLICT (id) DO UPDATE SET id = e.id WHERE e.processed_at = excluded.processed_at
RETURNING id`,
  params: { eventId: 'text', type: 'text', sessionId: 'text', now: 'timestamp' },
  row: z.object({ id: z.string() }),
  replay: 'safe',
});

/**
 * Remembers an event once its work has committed (so a crash before this point is
 * retried by Stripe, not lost). `marked` is false when a concurrent delivery of the
 * same event got there first; its work was idempotent, so nothing is lost either way.
 */
export async function markStripeEventProcessed(
  db: SqlExecutor,
  event: { readonly id: string; readonly type: string; readonly stripeSessionId: string | null },
  now: Date,
): Promise<{ marked: boolean }> {
  const rows = await runStatement(db, markEventProcessedStatement, {
    eventId: event.id,
    type: event.type,
    sessionId: event.stripeSessionId,
    now,
  });
  return { marked: rows.length > 0 };
}
