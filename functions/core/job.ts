/**
 * The provisioning job's states and the words its fields use. A job moves
 * enqueued → provisioning → provisioned, may pass through failed on the way, and
 * never leaves provisioned; an operator may close a job that will never be provisioned
 * (cancelled), and it never leaves that either.
 */
export const JOB_STATUSES = [
  'enqueued',
  'provisioning',
  'failed',
  'provisioned',
  'cancelled',
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const TERMINAL_STATUSES = ['provisioned', 'cancelled'] as const satisfies JobStatus[];

export function isTerminal(status: JobStatus): boolean {
  return (TERMINAL_STATUSES as readonly JobStatus[]).includes(status);
}

/** How a hand-off to the orchestrator failed; stored in `last_error`. */
export const TRIGGER_FAILURES = [
  'trigger_not_configured',
  'fetch_error',
  'timeout',
  'http_4xx',
  'http_5xx',
] as const;
export type TriggerFailure = (typeof TRIGGER_FAILURES)[number];

export type HandoffOutcome = 'accepted' | TriggerFailure;

/** `last_error` of a checkout whose package is not in the catalogue: never handed off with a guess. */
export const UNKNOWN_PACKAGE = 'unknown_package';

/** `last_error` when the orchestrator reports failure without saying why. */
export const ORCHESTRATOR_FAILED = 'orchestrator_failed';

/** The orchestrator's report on a job (SPEC 2.2), once validated. */
export interface CallbackReport {
  readonly stripeSessionId: string;
  readonly status: 'provisioning' | 'provisioned' | 'failed';
  readonly deploymentId?: string | undefined;
  readonly cellId?: string | undefined;
  /** 0 or absent leaves the quota as it is. */
  readonly tokensQuota?: number | undefined;
  readonly phase?: string | undefined;
  readonly error?: string | undefined;
}

/** How an attempt's outcome is recorded on its job (`last_outcome`). */
export const OUTCOME_CLASSES = ['accepted', 'transient', 'permanent', 'deferred'] as const;
export type OutcomeClass = (typeof OUTCOME_CLASSES)[number];

/** Who did something to a job, as written to its history. */
export type Actor =
  /** Stripe's webhook delivery. */
  | 'stripe'
  /** Stripe's event destination on Amazon EventBridge. */
  | 'stripe-eventbridge'
  /** The missed-checkout sweep, from Stripe's own records: no event recorded it. */
  | 'sweep'
  | 'handoff'
  | 'reconciler'
  | 'orchestrator'
  | 'watchdog'
  | `operator:${string}`;
