import * as z from 'zod';
import { type CheckoutFacts, decideCheckout } from './checkout-decision.js';
import { describeIssues } from './errors.js';
import { secondsBefore } from './rules.js';
import { livemodeOf, type StripeMode } from './stripe-mode.js';

/**
 * The missed-checkout sweep's rules (issue 13): which of the sessions Stripe lists
 * are paid checkouts of ours, and which pass over which window a run works on. The
 * decision is the webhook's own (`decideCheckout`), read from the session instead of
 * an event: a completed session of ours, paid or with nothing to pay, becomes a job.
 */

/** Why a listed session is not recorded. */
export type SweepSkip =
  /** Stripe still lists it open or expired: nothing was paid. */
  | 'not_complete'
  /** No `metadata.package_slug`: another product's session. */
  | 'not_ours'
  | 'setup_mode'
  /** Completed with a delayed payment method that has not settled (or failed). */
  | 'not_paid'
  /** A session of the Stripe mode this deployment does not serve. */
  | 'other_mode'
  /** A session of ours with a value this product does not know: the webhook would refuse it too. */
  | 'unreadable';

export type SweptSession =
  | { readonly kind: 'settled'; readonly checkout: CheckoutFacts }
  | {
      readonly kind: 'skipped';
      readonly skip: SweepSkip;
      readonly stripeSessionId: string;
      readonly reason?: string;
    };

const listedSession = z.object({
  id: z.string().min(1),
  status: z.string().nullish(),
  livemode: z.boolean(),
});

/** Decides what a session from Stripe's list means for the hand-off. */
export function decideListedSession(session: unknown, mode: StripeMode): SweptSession {
  const head = listedSession.safeParse(session);
  if (!head.success) {
    return {
      kind: 'skipped',
      skip: 'unreadable',
      stripeSessionId: idOf(session),
      reason: describeIssues(head.error.issues),
    };
  }
  const skipped = (skip: SweepSkip, reason?: string): SweptSession => ({
    kind: 'skipped',
    skip,
    stripeSessionId: head.data.id,
    ...(reason ? { reason } : {}),
  });
  if (head.data.livemode !== livemodeOf(mode)) return skipped('other_mode');
  if (head.data.status !== 'complete') return skipped('not_complete');
  const decision = decideCheckout('completed', { data: { object: session } });
  switch (decision.kind) {
    case 'settled':
      return decision;
    case 'awaiting_payment':
      return skipped('not_paid');
    case 'not_ours':
    case 'setup_mode':
      return skipped(decision.kind);
    case 'refused':
      return skipped('unreadable', decision.reason);
    case 'payment_failed':
      // A completed session is never read as a failed delayed payment; kept exhaustive.
      return skipped('not_paid');
  }
}

function idOf(session: unknown): string {
  const id = typeof session === 'object' && session !== null ? Reflect.get(session, 'id') : '';
  return typeof id === 'string' ? id : '';
}

// ---------------------------------------------------------------------------------
// Passes and their high-water mark

/** One pass over a window of sessions' `created` time, and how far it got. */
export interface SweepPass {
  readonly windowFrom: Date;
  readonly windowTo: Date;
  /** The last session examined (Stripe's `starting_after`); null at the pass's start. */
  readonly resumeAfter: string | null;
  readonly listed: number;
  readonly recorded: number;
  readonly startedAt: Date;
}

/** The stored mark: the current (or last) pass and the run holding it. */
export interface SweepMark extends SweepPass {
  readonly finishedAt: Date | null;
  readonly runToken: string;
  readonly leaseUntil: Date;
}

export interface SweepRequest {
  /** How far back a new pass reaches (default 72 h: Stripe's retry horizon). */
  readonly lookbackSeconds: number;
  /** An operator's own window (`ops sweep --since`): always a new pass. */
  readonly since?: Date | undefined;
}

export type PassPlan =
  /** Another run holds the pass until its lease lapses. */
  | { readonly kind: 'busy'; readonly leaseUntil: Date }
  | { readonly kind: 'start' | 'resume'; readonly pass: SweepPass };

/**
 * What a run works on: the unfinished pass where the last run stopped, while its
 * window is still within the look-back; otherwise a new pass over the look-back
 * window ending now. Every pass lists its whole window, because a session may be
 * paid long after it was created (a delayed payment method).
 */
export function planSweepPass(
  mark: SweepMark | undefined,
  now: Date,
  request: SweepRequest,
): PassPlan {
  if (mark && mark.leaseUntil > now) return { kind: 'busy', leaseUntil: mark.leaseUntil };
  const horizon = secondsBefore(now, request.lookbackSeconds);
  if (!request.since && mark && !mark.finishedAt && mark.windowTo >= horizon) {
    const { windowFrom, windowTo, resumeAfter, listed, recorded, startedAt } = mark;
    return {
      kind: 'resume',
      pass: { windowFrom, windowTo, resumeAfter, listed, recorded, startedAt },
    };
  }
  return {
    kind: 'start',
    pass: {
      windowFrom: request.since ?? horizon,
      windowTo: now,
      resumeAfter: null,
      listed: 0,
      recorded: 0,
      startedAt: now,
    },
  };
}
