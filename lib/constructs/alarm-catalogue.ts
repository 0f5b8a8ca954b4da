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

import type { MetricName } from '../../functions/adapters/telemetry.js';
import {
  type AlarmSignal,
  type AlarmThresholds,
  type SignalWords,
  signalWords,
} from './alarm-signal.js';

export type AlarmTopic = 'page' | 'notify';

export interface AlarmEntry {
  readonly topic: AlarmTopic;
  readonly signal: AlarmSignal;
  /** What it means, in one or two sentences: the description's start and the README's row. */
  readonly means: string | ((words: SignalWords) => string);
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

/** Evaluated over a backlog that lasts (seed 002: "> 10 for 5 min"), not a one-minute spike. */
const LASTING = { periodMinutes: 1, evaluationPeriods: 5, datapointsToAlarm: 5 };
/** A fault that lasts: 2 of the last 3 five-minute periods, so one resume's 503s do not page. */
const RECURRING = { periodMinutes: 5, evaluationPeriods: 3, datapointsToAlarm: 2 };
const sumOf = (metric: MetricName, periodMinutes: number, threshold: number) =>
  ({ metric: { product: metric }, statistic: 'Sum', periodMinutes, threshold }) as const;
const visible = (queue: 'handoffDeadLetter' | 'scheduleDeadLetter' | 'stripeEventsDeadLetter') =>
  ({
    metric: { queue, measure: 'visible' },
    statistic: 'Maximum',
    periodMinutes: 5,
    threshold: 0,
  }) as const;
const oldest = (queue: 'handoff' | 'stripeEvents') =>
  ({
    metric: { queue, measure: 'oldestAge' },
    statistic: 'Maximum',
    threshold: 'oldestMessageSeconds',
    ...LASTING,
  }) as const;
const backlog = (threshold: 'backlogWarning' | 'backlogCritical') =>
  ({
    metric: { queue: 'handoff', measure: 'visible' },
    statistic: 'Maximum',
    threshold,
    ...LASTING,
  }) as const;

/**
 * In the order the stack raises them. `signal` is what fires the alarm; the numbers in
 * `means` are rendered from it, so the words cannot drift from the alarm.
 */
export const ALARM_CATALOGUE = {
  ProvisioningJobsStuck: {
    topic: 'page',
    // The gauge arrives every 10 minutes; a 15-minute period always holds one, so a
    // late datapoint never leaves a period empty, and two periods make 30 minutes.
    signal: {
      metric: { product: 'ProvisioningJobsStuck' },
      statistic: 'Minimum',
      periodMinutes: 15,
      evaluationPeriods: 2,
      threshold: 0,
    },
    means: (w) =>
      `A paying customer has no tenant: a provisioning job has been STUCK (no progress, out of its retry budget, or parked) for ${w.window}.`,
    runbook: { file: STUCK, section: '3. Inspect' },
    commands: [stuck, 'npm run ops -- show cs_live_… --stack "$STACK"'],
  },
  ProvisioningGaugeMissing: {
    topic: 'page',
    signal: {
      metric: { product: 'ProvisioningJobsStuck' },
      statistic: 'SampleCount',
      periodMinutes: 30,
      threshold: 1,
      comparison: 'lessThan',
      missingDataBreaches: true,
    },
    means: (w) =>
      `The STUCK gauge has not been reported for ${w.window}: the reconciler is not running, so nothing re-drives stalled hand-offs and the STUCK alarm is blind.`,
    runbook: {
      file: STUCK,
      section:
        '9. The reconciler is not running (`ProvisioningGaugeMissing`, `ScheduleDeadLetters`)',
    },
    commands: ['npm run ops -- reconcile --stack "$STACK" --yes', stuck],
  },
  HandoffBacklogWarning: {
    topic: 'notify',
    signal: backlog('backlogWarning'),
    means: (w) => `More than ${w.threshold} hand-offs have been waiting for ${w.window}.`,
    runbook: { file: QUEUE, section: 'Backlog' },
    commands: [stuck],
  },
  HandoffBacklogCritical: {
    topic: 'page',
    signal: backlog('backlogCritical'),
    means: (w) =>
      `More than ${w.threshold} hand-offs have been waiting for ${w.window}: the consumer is down or the orchestrator is slow.`,
    runbook: { file: QUEUE, section: 'Backlog' },
    commands: [stuck],
  },
  HandoffOldestMessage: {
    topic: 'page',
    signal: oldest('handoff'),
    means: (w) =>
      `A hand-off has waited over ${w.threshold} s in the queue, for ${w.window}: the consumer is not taking messages.`,
    runbook: { file: QUEUE, section: 'Backlog' },
    commands: [stuck],
  },
  HandoffDeadLetters: {
    topic: 'page',
    signal: visible('handoffDeadLetter'),
    means: 'A hand-off could not be recorded after every retry and is in the dead-letter queue.',
    runbook: { file: QUEUE, section: 'Dead letters' },
    commands: ['npm run ops -- dlq list --stack "$STACK"'],
  },
  ScheduleDeadLetters: {
    topic: 'page',
    signal: visible('scheduleDeadLetter'),
    means: 'EventBridge Scheduler could not invoke the reconciler or the watchdog.',
    runbook: {
      file: STUCK,
      section:
        '9. The reconciler is not running (`ProvisioningGaugeMissing`, `ScheduleDeadLetters`)',
    },
    commands: ['npm run ops -- reconcile --stack "$STACK" --yes', stuck],
  },
  TriggerFailureSpike: {
    topic: 'notify',
    signal: sumOf('HandoffFailed', 15, 5),
    means: (w) =>
      `More than ${w.threshold} hand-offs to the orchestrator failed in ${w.window} (transport down or misconfigured); the reconciler retries them.`,
    runbook: { file: STUCK, section: '4a. The breaker is open (`OrchestratorBreakerOpen`)' },
    commands: ['npm run ops -- breaker --stack "$STACK"'],
  },
  OrchestratorBreakerOpen: {
    topic: 'page',
    signal: {
      metric: { product: 'BreakerOpenSeconds' },
      statistic: 'Maximum',
      periodMinutes: 10,
      threshold: 15 * 60,
      comparison: 'greaterThanOrEqual',
    },
    means: (w) =>
      `The breaker toward the orchestrator has been open for ${w.thresholdTime}: triggers keep failing across jobs, re-drives are paused and customers are waiting.`,
    runbook: { file: STUCK, section: '4a. The breaker is open (`OrchestratorBreakerOpen`)' },
    commands: ['npm run ops -- breaker --stack "$STACK"'],
  },
  TriggerRefusedCredentials: {
    topic: 'page',
    signal: sumOf('TriggerUnauthorized', 5, 0),
    means:
      'The orchestrator answered 401 or 403 to a trigger: the trigger secret or URL is wrong, and every job it refuses is parked.',
    runbook: { file: STUCK, section: '5a. A parked job (the orchestrator refused it)' },
    commands: [stuck],
  },
  TenantForCancelledJob: {
    topic: 'notify',
    signal: sumOf('CallbackForCancelledJob', 15, 0),
    means:
      'The orchestrator reported a tenant for a job an operator had cancelled: the report is kept, not applied, and needs a decision.',
    runbook: { file: STUCK, section: '5b. Cancelled jobs (`TenantForCancelledJob`)' },
    commands: [stuck],
  },
  CallbackSignatureFailures: {
    topic: 'notify',
    signal: sumOf('CallbackSignatureRejected', 15, 5),
    means: (w) =>
      `More than ${w.threshold} orchestrator callbacks were refused for their signature in ${w.window}: a secret mismatch after a rotation, or someone probing the public route.`,
    runbook: { file: 'callback-signature-failures.md', section: 'Steps' },
    commands: ['npm run ops -- callback-check --stack "$STACK"'],
  },
  StripeSignatureFailures: {
    topic: 'notify',
    signal: sumOf('StripeSignatureRejected', 15, 5),
    means: (w) =>
      `More than ${w.threshold} deliveries to the Stripe webhook were refused for their signature in ${w.window}: the webhook secret may not be the endpoint's (checkouts then are not recorded), or someone is probing the public route.`,
    runbook: { file: REFUSED, section: 'Refused signatures' },
    commands: [],
  },
  RefusedInputs: {
    topic: 'notify',
    signal: sumOf('InputRejected', 15, 0),
    means:
      'A signed or operator input was refused and kept in rejected_inputs: a field over its limit, a control character, a value this version cannot read.',
    runbook: { file: REFUSED, section: 'Refused inputs' },
    commands: ['npm run ops -- rejected --since 24h --stack "$STACK"'],
  },
  StripeEventWrongMode: {
    topic: 'notify',
    signal: sumOf('StripeEventWrongMode', 5, 0),
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
    signal: sumOf('MissedCheckouts', 60, 0),
    means:
      "The sweep found a paid checkout in Stripe's records that no webhook or EventBridge event had recorded, and recorded it: its tenant is on its way, but Stripe's events are not reaching the product (endpoint disabled, secret rotated wrongly, wrong mode).",
    runbook: { file: MISSED, section: 'What the sweep already did' },
    commands: ['npm run ops -- show <session id> --stack "$STACK"'],
  },
  StripeEventDeadLetters: {
    topic: 'page',
    signal: visible('stripeEventsDeadLetter'),
    means:
      'A Stripe event delivered by Amazon EventBridge could not be processed after every retry (or could not reach the queue) and waits in the dead-letter queue: redrive it once the cause is fixed.',
    runbook: { file: MISSED, section: 'EventBridge dead letters' },
    commands: [stuck],
    only: 'stripeEventSourceName',
  },
  StripeEventOldestMessage: {
    topic: 'page',
    signal: oldest('stripeEvents'),
    means: (w) =>
      `A Stripe event from EventBridge has waited over ${w.threshold} s for its consumer, for ${w.window}: checkouts are not being recorded through it.`,
    runbook: { file: MISSED, section: 'EventBridge dead letters' },
    commands: [stuck],
    only: 'stripeEventSourceName',
  },
  HttpServerErrors: {
    topic: 'page',
    signal: { metric: { serverErrors: 'routes' }, statistic: 'Sum', threshold: 0, ...RECURRING },
    means: (w) =>
      `A route of the HTTP API answered 5xx in ${w.periods} (metric HttpServerError, by route): Stripe and the orchestrator retry, but a fault that lasts strands checkouts.`,
    runbook: { file: SERVER_ERRORS, section: 'Steps' },
    commands: ['npm run ops -- gauge --stack "$STACK"', stuck],
  },
  ApiServerErrors: {
    topic: 'page',
    signal: { metric: { serverErrors: 'gateway' }, statistic: 'Sum', threshold: 0, ...RECURRING },
    means: (w) =>
      `API Gateway answered 5xx in ${w.periods}: a function crashed, timed out or was throttled before it could answer.`,
    runbook: { file: SERVER_ERRORS, section: 'Steps' },
    commands: ['npm run ops -- gauge --stack "$STACK"', stuck],
  },
  FunctionErrors: {
    topic: 'page',
    signal: { metric: { function: 'errors' }, statistic: 'Sum', periodMinutes: 5, threshold: 0 },
    means: 'The function failed (an invocation ended in an error).',
    runbook: { file: SERVER_ERRORS, section: 'A function fails' },
    commands: [stuck, 'npm run ops -- dlq list --stack "$STACK"'],
  },
  FunctionThrottles: {
    topic: 'notify',
    signal: {
      metric: { function: 'throttles' },
      statistic: 'Sum',
      periodMinutes: 5,
      threshold: 0,
    },
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
  const means =
    typeof entry.means === 'string'
      ? entry.means
      : entry.means(signalWords(entry.signal, context.thresholds));
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
