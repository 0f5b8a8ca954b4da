import { listLateCallbacks } from '../../functions/db/jobs/operator-selections.js';
import { listUnprovisionedJobs } from '../../functions/db/operator-repository.js';
import { advise, errorLabel } from '../advice.js';
import type { Command } from '../command.js';
import { intOption, positionals } from '../options.js';
import { age, duration, show, table } from '../render.js';

export const stuck: Command = {
  name: 'stuck',
  synopsis: 'stuck [--limit N]',
  summary: 'every job still waiting, longest without progress first, and why (runbook 3.1)',
  help: `Lists every job that is neither provisioned nor cancelled, the longest without
progress first, with why it waits (an attempt in flight, backing off after a failure,
parked after a refusal, capped out of budget, held by the breaker, no payload), whether
it is on the STUCK gauge, and the next step of the runbook's decision flow. Then the
cancelled jobs the orchestrator reported a tenant for anyway: each needs a decision.
--limit caps the rows shown (default 200).`,
  options: ['limit'],
  async run(context, args) {
    positionals(args, []);
    const limit = intOption(args, 'limit', { min: 1, max: 5000 }, 200);
    const target = await context.target();
    const rules = target.rules();
    const now = context.now();
    const [{ jobs, total }, lateCallbacks] = await Promise.all([
      listUnprovisionedJobs(target.db, limit),
      listLateCallbacks(target.db, limit),
    ]);
    const rows = jobs.map((job) => {
      const { stuck, stale, why, step, text } = advise(job, now, rules);
      return { ...job, stuck, stale, waiting: why, next_step: step, advice: text };
    });
    const onGauge = rows.filter((row) => row.stuck).length;
    const late = lateCallbacks.length
      ? `\n\nCancelled jobs the orchestrator reported a tenant for (decide: decommission it, or reopen the sale):\n${table(
          [
            {
              header: 'SESSION',
              value: (r: (typeof lateCallbacks)[number]) => r.stripe_session_id,
            },
            { header: 'DEPLOYMENT', value: (r) => show(r.deployment_id) },
            { header: 'REPORTED', value: (r) => age(r.reported_at, now) },
            { header: 'CANCELLED BECAUSE', value: (r) => show(r.cancel_reason) },
          ],
          lateCallbacks,
        )}`
      : '';
    context.out.result(
      { total, shown: rows.length, jobs: rows, late_callbacks: lateCallbacks },
      () => {
        if (total === 0) return `No job is waiting: every job is provisioned or cancelled.${late}`;
        const listing = table(
          [
            { header: 'SESSION', value: (r) => r.stripe_session_id },
            { header: 'JOB', value: (r) => r.id },
            { header: 'STATUS', value: (r) => r.status },
            { header: 'BUDGET', value: (r) => `${r.budget_spent}/${rules.maxAttempts}` },
            { header: 'WAITING', value: (r) => r.waiting },
            { header: 'LAST ERROR', value: (r) => errorLabel(r) },
            { header: 'PAYLOAD', value: (r) => (r.payload_missing ? 'MISSING' : 'ok') },
            { header: 'LAST ATTEMPT', value: (r) => age(r.last_attempt_at, now) },
            { header: 'NO PROGRESS', value: (r) => age(r.updated_at, now) },
            { header: 'GAUGE', value: (r) => (r.stuck ? 'STUCK' : '') },
            { header: 'NEXT STEP', value: (r) => r.advice },
          ],
          rows,
        );
        const more =
          total > rows.length ? `\n${total - rows.length} more not shown (--limit).` : '';
        return `${listing}${more}\n\n${total} waiting; ${onGauge} of those shown are STUCK (no progress for ${duration(rules.stuckAfterSeconds)}, parked, or capped).${late}`;
      },
    );
  },
};
