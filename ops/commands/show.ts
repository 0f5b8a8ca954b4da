import { isJobSessionId } from '../../functions/core/session-id.js';
import { readJob } from '../../functions/db/jobs/operator-actions.js';
import { readSessionTimeline, type TimelineEntry } from '../../functions/db/session-timeline.js';
import { advise, jobFactsOf } from '../advice.js';
import type { Command } from '../command.js';
import { RefusedError, UsageError } from '../errors.js';
import { positionals } from '../options.js';
import { show as cell, keyValues, table } from '../render.js';

export const NO_JOB_HINTS = [
  'The webhook never recorded this checkout: do not invent a job. Escalate (provisioning-stuck.md, section 7).',
  'A refused Stripe event names its event id, not the session: npm run ops -- rejected --source stripe_webhook',
];

/** What `show` says of a session without a job, from what its timeline holds. */
const NO_JOB_YET =
  'No job (yet): a delayed payment that has not settled, or reports the product refused. Read the timeline; nothing to do until Stripe settles the payment.';

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
  summary: 'one session: its job, account and next step, and its whole timeline (runbook 3.3)',
  help: `Shows everything known about a checkout session (cs_…, or op_… for an operator's
job): every column of its job, its account, whether it is on the STUCK gauge and the
runbook's next step; then one timeline in time order: the Stripe events processed for it
(event ids and types, delayed-payment ones included), every hand-off attempt and its
outcome, callbacks, the databases the orchestrator reported, the watchdog's
notifications, operator actions (who, and why), and inputs refused that named it.
--json prints the job, account and history as the operator read route answers them,
with the timeline beside.`,
  options: [],
  async run(context, args) {
    const [session = ''] = positionals(args, ['SESSION']);
    requireSession(session);
    const target = await context.target();
    const [report, timeline] = await Promise.all([
      readJob(target.db, session),
      readSessionTimeline(target.db, session),
    ]);
    if (!report) {
      if (timeline.length === 0) {
        throw new RefusedError(
          `no provisioning job for stripe_session_id ${session}`,
          NO_JOB_HINTS,
        );
      }
      context.out.result(
        { stripe_session_id: session, job: null, stuck: false, advice: NO_JOB_YET, timeline },
        () => `JOB\n${NO_JOB_YET}\n\nTIMELINE\n${renderTimeline(timeline)}`,
      );
      return;
    }
    const advice = advise(jobFactsOf(report.job), context.now(), target.rules());
    const recorded = report.history.find((event) => event.kind === 'recorded');
    const recordedBy = typeof recorded?.actor === 'string' ? recorded.actor : null;
    context.out.result(
      {
        ...report,
        recorded_by: recordedBy,
        stuck: advice.stuck,
        next_step: advice.step,
        advice: advice.text,
        timeline,
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
        return `JOB\n${jobLines}\n\nACCOUNT\n${account}\n\nTIMELINE\n${renderTimeline(timeline)}`;
      },
    );
  },
};

function renderTimeline(timeline: readonly TimelineEntry[]): string {
  return table(
    [
      { header: 'WHEN', value: (e) => cell(e.at) },
      { header: 'FROM', value: (e) => e.source },
      { header: 'WHAT', value: (e) => e.what },
      { header: 'WHO', value: (e) => cell(e.actor) },
      { header: 'DETAIL', value: (e) => cell(e.detail) },
    ],
    timeline,
  );
}

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
