import {
  INPUT_SOURCES,
  type InputSource,
  listRejectedInputs,
} from '../../functions/db/rejected-inputs-repository.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { durationOption, intOption, positionals, stringOption } from '../options.js';
import { show, table } from '../render.js';

export const rejected: Command = {
  name: 'rejected',
  synopsis: `rejected [--source ${INPUT_SOURCES.join('|')}] [--since 24h] [--limit N]`,
  summary: 'inputs that were refused and kept (rejected_inputs), newest first',
  help: `The inputs that passed their signature (or came from an operator) and were refused
all the same, newest first: where each came from, what it was about (an event, session
or message id, never the body) and why, naming the field. A signed event refused here
is retried by its sender (Stripe for 3 days) once the cause is fixed. Refusals of
unsigned requests are never kept: they are counted only.
--source keeps one source, --since a look-back (90m, 24h, 7d), --limit caps the rows
(default 50). See docs/runbooks/refused-input.md.`,
  options: ['source', 'since', 'limit'],
  async run(context, args) {
    positionals(args, []);
    const source = sourceOption(stringOption(args, 'source'));
    const since = durationOption(args, 'since');
    const limit = intOption(args, 'limit', { min: 1, max: 1000 }, 50);
    const target = await context.target();
    const rows = await listRejectedInputs(target.db, {
      ...(source ? { source } : {}),
      ...(since === undefined ? {} : { since: new Date(context.now().getTime() - since * 1000) }),
      limit,
    });
    context.out.result({ rejected: rows }, () =>
      rows.length
        ? table(
            [
              { header: 'WHEN', value: (r) => show(r.received_at) },
              { header: 'SOURCE', value: (r) => r.source },
              { header: 'ABOUT', value: (r) => show(r.reference) },
              { header: 'WHY', value: (r) => r.reason },
            ],
            rows,
          )
        : 'No refused input.',
    );
  },
};

function sourceOption(value: string | undefined): InputSource | undefined {
  if (value === undefined) return undefined;
  const source = INPUT_SOURCES.find((known) => known === value.trim());
  if (!source) throw new UsageError(`--source must be one of ${INPUT_SOURCES.join(', ')}`);
  return source;
}
