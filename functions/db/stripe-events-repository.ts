import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import type { ParamType } from './executor.js';
import type { StatementValues } from './statement.js';

/**
 * The Stripe events already processed. Stripe retries a delivery for three days and in
 * any order, far beyond the queue's five-minute deduplication window, so the webhook
 * remembers every event it has acted on. The check, the work and the mark are one
 * statement: each statement that acts on an event composes these pieces, so an event is
 * remembered exactly when its work commits, in one Data API round trip.
 *
 * - `event_gate.go` is false when another call processed the event before: the
 *   statement writes nothing and answers `duplicate`. A replay of this very call (its
 *   request token, after an ambiguous Data API fault) finds its own mark and goes on,
 *   answering as the first run did: every write it gates is idempotent.
 * - `event_mark` remembers the event; `marked` is false when a concurrent delivery of the
 *   same event got there first (its work was idempotent, so nothing is lost either way).
 * - Without an event (`:eventId` NULL: an operator's job), the gate is open and nothing
 *   is marked.
 */

/**
 * The event's own parameters (`stripeEventValues`). The mark also reads `:sessionId` and
 * `:now`, the checkout's session and the call's time, which the statement declares.
 */
export const STRIPE_EVENT_PARAMS = {
  eventId: 'text',
  eventType: 'text',
  eventToken: 'uuid',
} as const satisfies Record<string, ParamType>;

/** The CTEs to put first (`event_gate`) and last (`event_mark`) in a statement's WITH list. */
export const STRIPE_EVENT_GATE = `event_gate AS (
  SELECT NOT EXISTS (
    SELECT 1 FROM stripe_events WHERE id = :eventId AND request_token IS DISTINCT FROM :eventToken
  ) AS go
)`;

export const STRIPE_EVENT_MARK = `event_mark AS (
  INSERT INTO stripe_events AS e (id, type, stripe_session_id, processed_at, request_token)
  SELECT :eventId, :eventType, :sessionId, :now, :eventToken FROM event_gate
  WHERE event_gate.go AND CAST(:eventId AS text) IS NOT NULL
  ON CONFLICT (id) DO UPDATE SET id = e.id WHERE e.request_token = excluded.request_token
  RETURNING e.id
)`;

/** The columns that say how the gate and the mark went. */
export const STRIPE_EVENT_OUTCOME = `NOT (SELECT go FROM event_gate) AS duplicate,
  EXISTS (SELECT 1 FROM event_mark) AS marked`;

export const stripeEventOutcome = z.object({ duplicate: z.boolean(), marked: z.boolean() });

/** The event a statement acts on once, or none (an operator's job). */
export interface StripeEventRef {
  readonly id: string;
  readonly type: string;
}

/** The event's parameters, with a token of this call's own. */
export function stripeEventValues(
  event: StripeEventRef | undefined,
): StatementValues<typeof STRIPE_EVENT_PARAMS> {
  return { eventId: event?.id ?? null, eventType: event?.type ?? null, eventToken: randomUUID() };
}
