import { type HandoffQueue, sendAttempt } from '../adapters/handoff-queue.js';
import type { QuietMarker } from '../adapters/quiet-marker.js';
import type { SecretSource } from '../adapters/secrets.js';
import type { MetricName } from '../adapters/telemetry.js';
import { InvalidInputError } from '../core/errors.js';
import type { Actor } from '../core/job.js';
// Types only: the Stripe library stays out of the operator route's bundle.
import type {
  CheckoutFacts,
  IgnoredReason,
  IgnoredStripeEvent,
  RejectedStripeEvent,
  StripeCheckoutEvent,
} from '../core/stripe-checkout.js';
import type { StripeMode } from '../core/stripe-mode.js';
import {
  type RecordedJob,
  recordAwaitingPayment,
  recordPaymentFailed,
  recordSettledCheckout,
  recordSettledCheckoutEvent,
} from '../db/jobs/checkout-records.js';
import type { JobRow } from '../db/jobs/job-row.js';
import type { InputSource } from '../db/rejected-inputs-repository.js';
import { announceJob } from './announcements.js';
import type { ServiceDependencies } from './dependencies.js';
import { wakeReconciler } from './quiet.js';
import { keepRejection } from './rejections.js';

/**
 * A settled checkout becomes a durable job and is handed off to the queue; the
 * Stripe webhook, Stripe's EventBridge destination, the missed-checkout sweep and the
 * operator route all go through `recordAndHandOff`.
 */

export interface CheckoutHandoffDependencies extends ServiceDependencies {
  readonly queue: HandoffQueue;
  /** Where the orchestrator reports back; see `callbackUrlFor`. */
  readonly callbackUrl: string;
  /** Woken when a job is recorded after an idle period (see `services/quiet.ts`). */
  readonly quiet: QuietMarker;
}

export interface HandedOffJob {
  readonly jobId: string;
  readonly stripeSessionId: string;
  /** False when this session's job existed already: nothing was recorded or sent. */
  readonly created: boolean;
  /** Whether attempt 1 is on the queue; when not, the reconciler re-drives a job with a payload. */
  readonly enqueued: boolean;
}

/**
 * Records the job of a settled checkout (exactly one per session) and, when this call
 * created it, sends its first attempt and publishes `job.recorded`. A failed send is
 * counted and left to the reconciler: the job is durable and re-driven once STALE.
 */
export async function recordAndHandOff(
  deps: CheckoutHandoffDependencies,
  checkout: CheckoutFacts & { readonly reason?: string | undefined },
  actor: Actor,
  correlation: Readonly<Record<string, string>> = {},
): Promise<HandedOffJob> {
  const recorded = await recordSettledCheckout(
    deps.db,
    { ...checkout, callbackUrl: deps.callbackUrl },
    deps.clock(),
    deps.rules.handoffLeaseSeconds,
    actor,
  );
  return handOffRecorded(deps, recorded, actor, correlation);
}

/**
 * After the commit: the first attempt onto the queue, `job.recorded` published and,
 * after an idle period, the reconciler woken, side by side (the answer waits for the
 * slowest). A reconciler that cannot be woken fails the request once the rest is done,
 * so the sender retries and the retry wakes it.
 */
async function handOffRecorded(
  deps: CheckoutHandoffDependencies,
  { job, created, reconcilerQuietSince }: RecordedJob,
  actor: Actor,
  correlation: Readonly<Record<string, string>>,
): Promise<HandedOffJob> {
  const ids = { ...correlation, stripeSessionId: job.stripe_session_id, jobId: job.id };
  const handedOff = { jobId: job.id, stripeSessionId: job.stripe_session_id, created };
  if (!created) {
    deps.log.info('checkout already recorded', { ...ids, status: job.status });
    await wakeReconciler(deps.quiet, reconcilerQuietSince);
    return { ...handedOff, enqueued: false };
  }
  if (job.trigger_payload) {
    deps.log.info('checkout recorded', { ...ids, packageSlug: job.package_slug, actor });
  } else {
    deps.log.warn('checkout recorded without a payload; an operator must resolve it', {
      ...ids,
      packageSlug: job.package_slug,
      lastError: job.last_error,
      actor,
    });
  }
  const [enqueued, , woken] = await Promise.allSettled([
    enqueueFirstAttempt(deps, job, ids),
    announceJob(deps, {
      type: 'job.recorded',
      jobId: job.id,
      stripeSessionId: job.stripe_session_id,
      occurredAt: job.created_at,
      detail: { package_slug: job.package_slug, actor },
    }),
    wakeReconciler(deps.quiet, reconcilerQuietSince),
  ]);
  if (woken.status === 'rejected') throw woken.reason;
  if (enqueued.status === 'rejected') throw enqueued.reason;
  return { ...handedOff, enqueued: enqueued.value };
}

async function enqueueFirstAttempt(
  deps: CheckoutHandoffDependencies,
  job: JobRow,
  ids: Readonly<Record<string, string>>,
): Promise<boolean> {
  // No payload (unknown package): never handed off with a guess.
  if (!job.trigger_payload) return false;
  const message = {
    jobId: job.id,
    attempt: job.attempts,
    stripeSessionId: job.stripe_session_id,
    triggerPayload: job.trigger_payload,
  };
  const sent = await sendAttempt(deps.queue, message, (error) =>
    deps.log.error(
      'hand-off not enqueued; the reconciler re-drives the job once its lease lapses',
      { ...ids, error },
    ),
  );
  deps.telemetry.count(sent ? 'HandoffEnqueued' : 'HandoffEnqueueFailed');
  return sent;
}

// ---------------------------------------------------------------------------------
// Stripe events: the webhook and the EventBridge destination

export interface StripeWebhookDependencies extends CheckoutHandoffDependencies {
  readonly secrets: SecretSource;
  /** The Stripe mode this deployment serves; events of the other mode are refused. */
  readonly stripeMode: StripeMode;
}

export type StripeEventOutcome =
  | { readonly outcome: 'ignored' | 'duplicate' | 'awaiting_payment' | 'payment_failed' }
  | ({ readonly outcome: 'recorded' | 'duplicate' } & HandedOffJob);

/**
 * The way a Stripe event arrived (SPEC 2.4): both are handled alike and deduplicated
 * by event id across each other; the job's history and the metrics say which one
 * recorded a checkout.
 */
export interface StripeIntake {
  readonly actor: Actor;
  /** Where a refused event is recorded (`rejected_inputs.source`). */
  readonly source: InputSource;
  readonly recordedMetric: MetricName;
}

export const WEBHOOK_INTAKE: StripeIntake = {
  actor: 'stripe',
  source: 'stripe_webhook',
  recordedMetric: 'CheckoutRecordedByWebhook',
};

/** Stripe's event destination on Amazon EventBridge: the bus authenticates the events. */
export const EVENTBRIDGE_INTAKE: StripeIntake = {
  actor: 'stripe-eventbridge',
  source: 'stripe_eventbridge',
  recordedMetric: 'CheckoutRecordedByEventBridge',
};

/**
 * Acts on a verified Stripe event once, in one statement: a repeat of a processed event
 * is answered without work, and an event is remembered exactly when its work commits.
 * Concurrent deliveries may both do the work; each step is idempotent and the job's
 * `created` flag lets exactly one of them send the hand-off.
 */
export async function handleStripeEvent(
  deps: CheckoutHandoffDependencies,
  event: StripeCheckoutEvent,
  intake: StripeIntake = WEBHOOK_INTAKE,
): Promise<StripeEventOutcome> {
  if (event.kind === 'ignored') return ignore(deps, event);
  if (event.kind === 'rejected') return refuse(deps, event, intake);

  const ids = { stripeEventId: event.eventId, stripeSessionId: event.checkout.stripeSessionId };
  const ref = { id: event.eventId, type: event.type };
  const duplicate = (): StripeEventOutcome => {
    deps.telemetry.count('StripeEventDuplicate');
    deps.log.info('Stripe event already processed', { ...ids, type: event.type });
    return { outcome: 'duplicate' };
  };
  // A concurrent delivery of the same event marked it first: its work was idempotent.
  const countUnmarked = (marked: boolean) => {
    if (!marked) deps.telemetry.count('StripeEventDuplicate');
  };
  switch (event.kind) {
    case 'settled': {
      // One statement: the job, its history, and the event's check and mark.
      const recorded = await recordSettledCheckoutEvent(
        deps.db,
        { ...event.checkout, callbackUrl: deps.callbackUrl },
        ref,
        deps.clock(),
        deps.rules.handoffLeaseSeconds,
        intake.actor,
      );
      if ('duplicate' in recorded) {
        await wakeReconciler(deps.quiet, recorded.reconcilerQuietSince);
        return duplicate();
      }
      countUnmarked(recorded.marked);
      if (recorded.created) deps.telemetry.count(intake.recordedMetric);
      const job = await handOffRecorded(deps, recorded, intake.actor, ids);
      // Another event for a session already recorded (a resend, the other intake): this
      // one recorded nothing.
      return { outcome: job.created ? 'recorded' : 'duplicate', ...job };
    }
    case 'awaiting_payment': {
      const account = await recordAwaitingPayment(deps.db, event.checkout, deps.clock(), ref);
      if (account.duplicate) return duplicate();
      countUnmarked(account.marked);
      deps.log.info('checkout awaiting a delayed payment', { ...ids, recorded: account.recorded });
      return { outcome: 'awaiting_payment' };
    }
    case 'payment_failed': {
      const account = await recordPaymentFailed(deps.db, event.checkout, deps.clock(), ref);
      if (account.duplicate) return duplicate();
      countUnmarked(account.marked);
      deps.log.warn('delayed payment failed', { ...ids, recorded: account.recorded });
      return { outcome: 'payment_failed' };
    }
  }
}

/** How each kind of ignored event is counted and logged; none touches the database. */
const IGNORED: Readonly<
  Record<IgnoredReason, { metric: MetricName; level: 'info' | 'warn'; message: string }>
> = {
  unhandled_type: { metric: 'StripeEventIgnored', level: 'info', message: 'Stripe event ignored' },
  thin_event: {
    metric: 'StripeThinEventIgnored',
    level: 'warn',
    message: 'Stripe thin event ignored: this endpoint needs snapshot payloads',
  },
  not_ours: {
    metric: 'StripeSessionNotOurs',
    level: 'info',
    message: 'checkout session ignored: no metadata.package_slug, another product’s',
  },
  setup_mode: {
    metric: 'StripeSessionNotProvisioned',
    level: 'info',
    message: 'checkout session ignored: setup mode, nothing was paid',
  },
};

function ignore(deps: CheckoutHandoffDependencies, event: IgnoredStripeEvent): StripeEventOutcome {
  const { metric, level, message } = IGNORED[event.reason];
  deps.telemetry.count(metric);
  deps.log[level](message, {
    stripeEventId: event.eventId,
    type: event.type,
    ...(event.stripeSessionId ? { stripeSessionId: event.stripeSessionId } : {}),
  });
  return { outcome: 'ignored' };
}

/**
 * An authenticated event this product cannot read, or of the Stripe mode it does not
 * serve, is answered 400, not 200: Stripe then keeps retrying it for three days, so
 * once the reader (or the configuration) is fixed the event is processed instead of
 * lost, and the endpoint's failures show in Stripe's dashboard. Each refusal is
 * recorded where an operator sees it, and counted; the wrong mode has its own alarm.
 */
async function refuse(
  deps: CheckoutHandoffDependencies,
  event: RejectedStripeEvent,
  intake: StripeIntake,
): Promise<never> {
  if (event.cause === 'wrong_mode') deps.telemetry.count('StripeEventWrongMode');
  await keepRejection(
    deps,
    { source: intake.source, reference: event.eventId, reason: event.reason },
    { stripeEventId: event.eventId, type: event.type },
  );
  throw new InvalidInputError(
    event.eventId ? `event ${event.eventId}: ${event.reason}` : event.reason,
  );
}
