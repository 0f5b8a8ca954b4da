import { listUnprovisionedJobs } from '../../functions/db/operator-repository.js';
import { advise } from '../advice.js';
import type { Command } from '../command.js';
import { intOption, positionals } from '../options.js';
import { age, duration, show, table } from '../render.js';

export const stuck: Command = {
  name: 'stuck',
  synopsis: 'stuck [--limit N]',
  summary: 'every job not provisioned, longest without progress first (runbook 3.1)',
  help: `Lists every job that is not provisioned, the longest without progress first, with
whether its payload is missing, whether it is on the STUCK gauge, and the next step of
the runbook's decision flow. --limit caps the rows shown (default 200).`,
  options: ['limit'],
  async run(context, args) {
    positionals(args, []);
    const limit = intOption(args, 'limit', { min: 1, max: 5000 }, 200);
    const target = await context.target();
    const rules = target.rules();
    const now = context.now();
    const { jobs, total } = await listUnprovisionedJobs(target.db, limit);
    const rows = jobs.map((job) => {
      const { stuck, stale, step, text } = advise(job, now, rules);
      return { ...job, stuck, stale, next_step: step, advice: text };
    });
    const onGauge = rows.filter((row) => row.stuck).length;
    context.out.result({ total, shown: rows.length, jobs: rows }, () => {
      if (total === 0) return 'No job is waiting: every job is provisioned.';
      const listing = table(
        [
          { header: 'SESSION', value: (r) => r.stripe_session_id },
          { header: 'JOB', value: (r) => r.id },
          { header: 'STATUS', value: (r) => r.status },
          { header: 'ATTEMPTS', value: (r) => `${r.attempts}/${rules.maxAttempts}` },
          { header: 'LAST ERROR', value: (r) => show(r.last_error) },
          { header: 'PAYLOAD', value: (r) => (r.payload_missing ? 'MISSING' : 'ok') },
          { header: 'LAST ATTEMPT', value: (r) => age(r.last_attempt_at, now) },
          { header: 'NO PROGRESS', value: (r) => age(r.updated_at, now) },
          { header: 'GAUGE', value: (r) => (r.stuck ? 'STUCK' : '') },
          { header: 'NEXT STEP', value: (r) => r.advice },
        ],
        rows,
      );
      const more = total > rows.length ? `\n${total - rows.length} more not shown (--limit).` : '';
      return `${listing}${more}\n\n${total} not provisioned; ${onGauge} of those shown are STUCK (no progress for ${duration(rules.stuckAfterSeconds)} or ${rules.maxAttempts} attempts).`;
    });
  },
};
