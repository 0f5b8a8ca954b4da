import * as z from 'zod';
import { storableText } from '../core/text.js';
import type { SqlExecutor } from './executor.js';
import { defineStatement, runStatement, runStatementForOne } from './statement.js';

/** Where a refused input came from (the `source` column's CHECK lists the same). */
export const INPUT_SOURCES = [
  'stripe_webhook',
  'stripe_eventbridge',
  'callback',
  'operator_api',
  'handoff_queue',
] as const;
export type InputSource = (typeof INPUT_SOURCES)[number];

const recordRejectedInputStatement = defineStatement({
  name: 'record rejected input',
  sql: `
INSERT INTO rejected_inputs (source, reference, reason, received_at)
VALUES (:source, :reference, :reason, :now)
RETURNING id`,
  params: { source: 'text', reference: 'text', reason: 'text', now: 'timestamp' },
  row: z.object({ id: z.number().int() }),
});

/** The longest reason and reference kept: enough to act on, never a body. */
const MAX_REASON = 2000;
const MAX_REFERENCE = 255;

/**
 * Keeps an authenticated input that failed validation where an operator can see it:
 * where it came from, what it was about (an event, session or message id: never the
 * body) and why it was refused. Whatever the input held, the row can be stored: control
 * characters are shown escaped and both texts are cut, so keeping a refusal never fails
 * on the very characters it refuses.
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
  await runStatementForOne(db, recordRejectedInputStatement, {
    source: rejection.source,
    reference:
      rejection.reference === null ? null : storableText(rejection.reference, MAX_REFERENCE),
    reason: storableText(rejection.reason, MAX_REASON),
    now,
  });
}

const listRejectedInputsStatement = defineStatement({
  name: 'list rejected inputs',
  sql: `
SELECT id, source, reference, reason, received_at FROM rejected_inputs
WHERE (CAST(:source AS text) IS NULL OR source = :source)
  AND (CAST(:since AS timestamptz) IS NULL OR received_at >= :since)
ORDER BY received_at DESC, id DESC
LIMIT :limit`,
  params: { source: 'text', since: 'timestamp', limit: 'int' },
  row: z.object({
    id: z.number().int(),
    source: z.enum(INPUT_SOURCES),
    reference: z.string().nullable(),
    reason: z.string(),
    received_at: z.date(),
  }),
  replay: 'safe',
});

type RejectedInput = z.infer<typeof listRejectedInputsStatement.row>;

/** Refused inputs, newest first: of one source and since a time when given. */
export async function listRejectedInputs(
  db: SqlExecutor,
  filter: { readonly source?: InputSource; readonly since?: Date; readonly limit: number },
): Promise<RejectedInput[]> {
  return runStatement(db, listRejectedInputsStatement, {
    source: filter.source ?? null,
    since: filter.since ?? null,
    limit: filter.limit,
  });
}
