/**
 * Every alarm the product raises: which topic it goes to, what it means, and where the
 * on-call starts (the runbook section and its first operator commands). The alarms,
 * their descriptions and the README's table are all read from here; tests hold the
 * runbooks and the README to it.
 *
 * - `page`: a customer is, or soon will be, stranded. Nothing a stranger can send on
 *   their own reaches one of these: refused signatures and inputs only notify.
 * - `notify`: needs a look in working hours.
 */

export type AlarmTopic = 'page' | 'notify';

export interface AlarmThresholds {
  readonly backlogWarning: number;
  readonly backlogCritical: number;
  readonly oldestMessageSeconds: number;
}

export interface AlarmEntry {
  readonly topic: AlarmTopic;
  /** What it means, in one or two sentences: the description's start and the README's row. */
  readonly means: string | ((thresholds: AlarmThresholds) => string);
  /** The runbook under `docs/runbooks/` and the heading of the section to start at. */
  readonly runbook: { readonly file: string; readonly section: string };
  /** The section's first `npm run ops` lines, as the runbook writes them (`"$STACK"`). */
  readonly commands: readonly string[];
  /** Raised only when the stack has this part (say, `stripeEventSourceName`). */
  readonly only?: string;
}

const STUCK = 'provisioning-stuck.md';
const QUEUE = 'handoff-backlog-and-dlq.md';
const SERVER_ERRORS = 'server-errors.md';
const REFUSED = 'refused-input.md';
const MISSED = 'missed-checkouts.md';

const stuck = 'npm run ops -- stuck --stack "$STACK"';

export const ALARM_CATALOGUE = {
  ProvisioningJobsStuck: {
    topic: 'page',
    means:
      'A paying customer has no tenant: a provisioning job has been STUCK (no progress, out of its retry budget, or parked) for 30 minutes.',
    runbook: { file: STUCK, section: '3. Inspect' },
    commands: [stuck, 'npm run ops -- show cs_live_… --stack "$STACK"'],
  },
  ProvisioningGaugeMissing: {
    topic: 'page',
    means:
      'The STUCK gauge has not been reported for 30 minutes: the reconciler is not running, so nothing re-drives stalled hand-offs and the STUCK alarm is blind.',
    runbook: {
      file: STUCK,
      section:
        '9. The reconciler is not running (`ProvisioningGaugeMissing`, `ScheduleDeadLetters`)',
    },
    commands: ['npm run ops -- reconcile --stack "$STACK" --yes', stuck],
  },
  ScheduleDeadLetters: {
    topic: 'page',
    means: 'EventBridge Scheduler could not invoke the reconciler or the watchdog.',
    runbook: {
      file: STUCK,
      section:
        '9. The reconciler is not running (`ProvisioningGaugeMissing`, `ScheduleDeadLetters`)',
    },
    commands: ['npm run ops -- reconcile --stack "$STACK" --yes', stuck],
  },
  HandoffBacklogCritical: {
    topic: 'page',
    means: (t) =>
      `More than ${t.backlogCritical} hand-offs have been waiting for 5 minutes: the consumer is down or the orchestrator is slow.`,
    runbook: { file: QUEUE, section: 'Backlog' },
    commands: [stuck],
  },
  HandoffOldestMessage: {
    topic: 'page',
    means: (t) =>
      `A hand-off has waited over ${t.oldestMessageSeconds} s in the queue, for 5 minutes: the consumer is not taking messages.`,
    runbook: { file: QUEUE, section: 'Backlog' },
    commands: [stuck],
  },
  HandoffDeadLetters: {
    topic: 'page',
    means: 'A hand-off could not be recorded after every retry and is in the dead-letter queue.',
    runbook: { file: QUEUE, section: 'Dead letters' },
    commands: ['npm run ops -- dlq list --stack "$STACK"'],
  },
  OrchestratorBreakerOpen: {
    topic: 'page',
    means:
      'The breaker toward the orchestrator has been open for 15 minutes: triggers keep failing across jobs, re-drives are paused and customers are waiting.',
    runbook: { file: STUCK, section: '4a. The breaker is open (`OrchestratorBreakerOpen`)' },
    commands: ['npm run ops -- breaker --stack "$STACK"'],
  },
  TriggerRefusedCredentials: {
    topic: 'page',
    means:
      'The orchestrator answered 401 or 403 to a trigger: the trigger secret or URL is wrong, and every job it refuses is parked.',
    runbook: { file: STUCK, section: '5a. A parked job (the orchestrator refused it)' },
    commands: [stuck],
  },
  HttpServerErrors: {
    topic: 'page',
    means:
      'A route of the HTTP API answered 5xx in 2 of the last 3 five-minute periods (metric HttpServerError, by route): Stripe and the orchestrator retry, but a fault that lasts strands checkouts.',
    runbook: { file: SERVER_ERRORS, section: 'Steps' },
    commands: ['npm run ops -- gauge --stack "$STACK"', stuck],
  },
  ApiServerErrors: {
    topic: 'page',
    means:
      'API Gateway answered 5xx in 2 of the last 3 five-minute periods: a function crashed, timed out or was throttled before it could answer.',
    runbook: { file: SERVER_ERRORS, section: 'Steps' },
    commands: ['npm run ops -- gauge --stack "$STACK"', stuck],
  },
  StripeEventDeadLetters: {
    topic: 'page',
    means:
      'A Stripe event delivered by Amazon EventBridge could not be processed after every retry (or could not reach the queue) and waits in the dead-letter queue: redrive it once the cause is fixed.',
    runbook: { file: MISSED, section: 'EventBridge dead letters' },
    commands: [stuck],
    only: 'stripeEventSourceName',
  },
  StripeEventOldestMessage: {
    topic: 'page',
    means: (t) =>
      `A Stripe event from EventBridge has waited over ${t.oldestMessageSeconds} s for its consumer, for 5 minutes: checkouts are not being recorded through it.`,
    runbook: { file: MISSED, section: 'EventBridge dead letters' },
    commands: [stuck],
    only: 'stripeEventSourceName',
  },
  FunctionErrors: {
    topic: 'page',
    means: 'The function failed (an invocation ended in an error).',
    runbook: { file: SERVER_ERRORS, section: 'A function fails' },
    commands: [stuck, 'npm run ops -- dlq list --stack "$STACK"'],
  },
  HandoffBacklogWarning: {
    topic: 'notify',
    means: (t) => `More than ${t.backlogWarning} hand-offs have been waiting for 5 minutes.`,
    runbook: { file: QUEUE, section: 'Backlog' },
    commands: [stuck],
  },
  TriggerFailureSpike: {
    topic: 'notify',
    means:
      'More than 5 hand-offs to the orchestrator failed in 15 minutes (transport down or misconfigured); the reconciler retries them.',
    runbook: { file: STUCK, section: '4a. The breaker is open (`OrchestratorBreakerOpen`)' },
    commands: ['npm run ops -- breaker --stack "$STACK"'],
  },
  CallbackSignatureFailures: {
    topic: 'notify',
    means:
      'More than 5 orchestrator callbacks were refused for their signature in 15 minutes: a secret mismatch after a rotation, or someone probing the public route.',
    runbook: { file: 'callback-signature-failures.md', section: 'Steps' },
    commands: ['npm run ops -- callback-check --stack "$STACK"'],
  },
  StripeSignatureFailures: {
    topic: 'notify',
    means:
      "More than 5 deliveries to the Stripe webhook were refused for their signature in 15 minutes: the webhook secret may not be the endpoint's (checkouts then are not recorded), or someone is probing the public route.",
    runbook: { file: REFUSED, section: 'Refused signatures' },
    commands: [],
  },
  RefusedInputs: {
    topic: 'notify',
    means:
      'A signed or operator input was refused and kept in rejected_inputs: a field over its limit, a control character, a value this version cannot read.',
    runbook: { file: REFUSED, section: 'Refused inputs' },
    commands: ['npm run ops -- rejected --since 24h --stack "$STACK"'],
  },
  StripeEventWrongMode: {
    topic: 'notify',
    means:
      "A Stripe event of the other mode (live or test) was refused and recorded: the webhook secret is the other mode's endpoint's, or the stack's stripeMode is wrong. Stripe retries refused events for 3 days.",
    runbook: {
      file: 'secret-rotation.md',
      section: 'A Stripe event of the other mode (`StripeEventWrongMode`)',
    },
    commands: ['npm run ops -- rejected --source stripe_webhook --stack "$STACK"'],
  },
  MissedCheckouts: {
    topic: 'notify',
    means:
      "The sweep found a paid checkout in Stripe's records that no webhook or EventBridge event had recorded, and recorded it: its tenant is on its way, but Stripe's events are not reaching the product (endpoint disabled, secret rotated wrongly, wrong mode).",
    runbook: { file: MISSED, section: 'What the sweep already did' },
    commands: ['npm run ops -- show <session id> --stack "$STACK"'],
  },
  TenantForCancelledJob: {
    topic: 'notify',
    means:
      'The orchestrator reported a tenant for a job an operator had cancelled: the report is kept, not applied, and needs a decision.',
    runbook: { file: STUCK, section: '5b. Cancelled jobs (`TenantForCancelledJob`)' },
    commands: [stuck],
  },
  FunctionThrottles: {
    topic: 'notify',
    means:
      'The function was throttled; its callers retry, and the backlog, 5xx and STUCK alarms page if customers wait.',
    runbook: { file: SERVER_ERRORS, section: 'A function is throttled' },
    commands: [stuck],
  },
} as const satisfies Record<string, AlarmEntry>;

export type AlarmKind = keyof typeof ALARM_CATALOGUE;

/** Kinds raised once per function, named `<Function>Errors` and `<Function>Throttles`. */
export const PER_FUNCTION: Readonly<Partial<Record<AlarmKind, string>>> = {
  FunctionErrors: 'Errors',
  FunctionThrottles: 'Throttles',
};

/** The name CloudWatch shows: `Provisioning-<stage>-<Name>`, the README's table names. */
export function alarmName(stage: string, name: string): string {
  return `Provisioning-${stage}-${name}`;
}

/** GitHub's anchor for a heading. */
export function headingAnchor(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

/** CloudWatch refuses longer alarm descriptions. */
export const MAX_DESCRIPTION_LENGTH = 1024;

/**
 * What the page says: the meaning, the first commands to type (with `STACK` set), and
 * the runbook's path in this repository, plus its URL when the runbooks are published.
 */
export function describeAlarm(
  entry: AlarmEntry,
  context: {
    readonly stackName: string;
    readonly thresholds: AlarmThresholds;
    readonly runbookBaseUrl?: string | undefined;
    readonly subject?: string;
  },
): string {
  const means = typeof entry.means === 'string' ? entry.means : entry.means(context.thresholds);
  const path = `${entry.runbook.file}#${headingAnchor(entry.runbook.section)}`;
  const parts = [
    context.subject ? `${context.subject}: ${means}` : means,
    entry.commands.length
      ? `First: STACK=${context.stackName}; ${entry.commands.join('; ')}.`
      : 'No operator command: start with the runbook.',
    `Runbook: docs/runbooks/${path}${
      context.runbookBaseUrl ? ` (${context.runbookBaseUrl.replace(/\/+$/, '')}/${path})` : ''
    }`,
  ];
  const description = parts.join(' ');
  if (description.length > MAX_DESCRIPTION_LENGTH) {
    throw new Error(
      `the description of an alarm is ${description.length} characters, over CloudWatch's ${MAX_DESCRIPTION_LENGTH}: ${description.slice(0, 80)}…`,
    );
  }
  return description;
}
