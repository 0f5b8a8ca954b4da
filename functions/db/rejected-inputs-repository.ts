import * as z from 'zod';
import type { SqlExecutor } from './executor.js';
import { defineStatement, runStatementForOne } from './statement.js';

export type InputSource =
  | 'stripe_webhook'
  | 'stripe_eventbridge'
  | 'callback'
  | 'operator_api'
  | 'handoff_queue';

const recordRejectedInputStatement = defineStatement({
  name: 'record rejected input',
  sql: `
INSERT INTO rejected_inputs (source, reference, reason, received_at)
VALUES (:source, :reference, :reason, :now)
RETURNING id`,
  params: { source: 'text', reference: 'text', reason: 'text', now: 'timestamp' },
  row: z.object({ id: z.number().int() }),
});

/**
 * Keeps an authenticated input that failed validation where an operator can see it:
 * where it came from, what it was about (an event, session or message id: never the
 * body) and why it was refused.
 */
export async function recordRejectedInput(
  db: SqlExecutor,
  rejection: {
    readonly source: InputSource;
    readonly reference: string | null;
    readonly reason: string;
  },
  now: Date,
): Promise<void> {
  await runStatementForOne(db, recordRejectedInputStatement, { ...rejection, now });
}
