import { isJobSessionId } from '../../functions/core/session-id.js';
import { readJob } from '../../functions/db/jobs/operator-actions.js';
import { findJob } from '../../functions/db/operator-repository.js';
import { advise } from '../advice.js';
import type { Command } from '../command.js';
import { RefusedError, UsageError } from '../errors.js';
import { positionals } from '../options.js';
import { show as cell, keyValues, table } from '../render.js';

export const NO_JOB_HINTS = [
  'The webhook never recorded this checkout: do not invent a job. Escalate (provisioning-stuck.md, section 7).',
];

export function requireSession(session: string): string {
  if (!isJobSessionId(session)) {
    throw new UsageError(
      `${session} is not a session id: expected a checkout (cs_…) or operator (op_…) session`,
    );
  }
  return session;
}

// The runbook's order (section 3.3), not the database's.
const JOB_ORDER = [
  'id',
  'stripe_session_id',
  'account_id',
  'status',
  'phase',
  'attempts',
  'last_error',
  'deployment_id',
  'cell_id',
  'package_slug',
  'tokens_quota',
  'last_attempt_at',
  'heartbeat_at',
  'provisioned_at',
  'created_at',
  'updated_at',
];
const ACCOUNT_ORDER = [
  'id',
  'status',
  'email',
  'package_slug',
  'tier',
  'tokens_quota',
  'deployment_id',
  'cell_id',
  'stripe_customer_id',
  'created_at',
  'updated_at',
];

/** The record's entries, the known keys first in the given order, then any others. */
function ordered(record: Record<string, unknown>, order: readonly string[]) {
  const rank = (key: string) => (order.includes(key) ? order.indexOf(key) : order.length);
  return Object.entries(record).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
}

export const show: Command = {
  name: 'show',
  synopsis: 'show SESSION',
  summary: 'one job with its account, full history and next step (runbook 3.3)',
  help: `Shows the job of a checkout session (cs_…, or op_… for an operator's job): every
column, its account, every event of its history (who did what, and why), whether it is
on the STUCK gauge and the runbook's next step for it.`,
  options: [],
  async run(context, args) {
    const [session = ''] = positionals(args, ['SESSION']);
    requireSession(session);
    const target = await context.target();
    const [report, job] = await Promise.all([
      readJob(target.db, session),
      findJob(target.db, session),
    ]);
    if (!report || !job) {
      throw new RefusedError(`no provisioning job for stripe_session_id ${session}`, NO_JOB_HINTS);
    }
    const advice = advise(
      { ...job, payload_missing: job.trigger_payload === null },
      context.now(),
      target.rules(),
    );
    const recorded = report.history.find((event) => event.kind === 'recorded');
    const recordedBy = typeof recorded?.actor === 'string' ? recorded.actor : null;
    context.out.result(
      {
        ...report,
        recorded_by: recordedBy,
        stuck: advice.stuck,
        next_step: advice.step,
        advice: advice.text,
      },
      () => {
        const { trigger_payload: payload, ...columns } = report.job;
        const jobLines = keyValues([
          ...ordered(columns, JOB_ORDER).map(([key, value]) => [key, cell(value)] as const),
          ['trigger_payload', payload === null ? 'MISSING' : cell(payload)],
          ['recorded by', intakeOf(recordedBy)],
          ['on the gauge', advice.stuck ? 'yes: STUCK' : 'no'],
          ['next step', advice.text],
        ]);
        const account = keyValues(
          ordered(report.account, ACCOUNT_ORDER).map(([key, value]) => [key, cell(value)] as const),
        );
        const history = table(
          [
            { header: 'WHEN', value: (e) => cell(e.occurred_at) },
            { header: 'WHAT', value: (e) => cell(e.kind) },
            { header: 'STATUS', value: (e) => `${cell(e.from_status)} → ${cell(e.to_status)}` },
            { header: 'WHO', value: (e) => cell(e.actor) },
            { header: 'WHY', value: (e) => cell(e.reason) },
            { header: 'DETAIL', value: (e) => cell(e.detail) },
          ],
          report.history,
        );
        return `JOB\n${jobLines}\n\nACCOUNT\n${account}\n\nHISTORY\n${history}`;
      },
    );
  },
};

/** Which path recorded the checkout: the first entry of its history says. */
function intakeOf(actor: string | null): string {
  switch (actor) {
    case 'stripe':
      return 'stripe (the webhook)';
    case 'stripe-eventbridge':
      return 'stripe-eventbridge (Stripe’s event destination on EventBridge)';
    case 'sweep':
      return 'sweep (from Stripe’s records: no event had recorded it; docs/runbooks/missed-checkouts.md)';
    default:
      return cell(actor);
  }
}
