import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Stripe from 'stripe';

/**
 * Stripe's published payloads (`test/fixtures/stripe/`, see its README), made into
 * deliveries: fresh ids per use, only the fields a test is about changed, signed the
 * way Stripe signs.
 */
const FIXTURES = fileURLToPath(new URL('../fixtures/stripe/', import.meta.url));

/** The API versions the snapshot fixtures reproduce, oldest first; every suite runs on each. */
export const SNAPSHOT_VERSIONS = ['2025-10-29.clover', '2026-07-29.dahlia'] as const;
export type SnapshotVersion = (typeof SNAPSHOT_VERSIONS)[number];

export interface SnapshotEvent {
  id: string;
  object: string;
  type: string;
  livemode: boolean;
  created: number;
  data: { object: { id: string } & Record<string, unknown> };
  [key: string]: unknown;
}

export interface ThinEvent {
  id: string;
  object: 'v2.core.event';
  type: string;
  livemode: boolean;
  [key: string]: unknown;
}

/** The checkout session a snapshot event carries. */
export const sessionOf = (event: SnapshotEvent): string => event.data.object.id;

/** A fixture file, parsed afresh: callers may change their copy. */
export function stripeFixture<T = SnapshotEvent>(file: string): T {
  return JSON.parse(readFileSync(`${FIXTURES}${file}`, 'utf8')) as T;
}

/** The snapshot `checkout.session.completed` of one of our paid sessions at `version`. */
export function paidCheckoutFile(version: SnapshotVersion): string {
  return `${version}/checkout.session.completed.json`;
}

export interface Changes {
  /** Fields of the event (`type`, `livemode`, unknown keys…). */
  readonly event?: Record<string, unknown>;
  /** Fields of the session (`mode`, `payment_status`, `metadata`…), replacing the fixture's. */
  readonly session?: Record<string, unknown>;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/**
 * A fixture event as a new delivery: its own event and session ids (so tests sharing a
 * database never meet), created at `now`, with `changes` applied.
 */
export function freshEvent(file: string, now: Date, changes: Changes = {}): SnapshotEvent {
  const event = stripeFixture(file);
  return {
    ...event,
    id: `evt_${hex(12)}`,
    created: Math.floor(now.getTime() / 1000),
    ...changes.event,
    data: {
      ...event.data,
      object: { ...event.data.object, id: `cs_test_${hex(16)}`, ...changes.session },
    },
  };
}

/** A thin event fixture as a new delivery, with its own id. */
export function freshThinEvent(file: string, changes: Record<string, unknown> = {}): ThinEvent {
  return { ...stripeFixture<ThinEvent>(file), id: `evt_test_${hex(12)}`, ...changes };
}

/** The `Stripe-Signature` header Stripe sends with `body`, signed at `now`. */
export function stripeSignature(body: string, secret: string, now: Date = new Date()): string {
  return Stripe.webhooks.generateTestHeaderString({
    payload: body,
    secret,
    timestamp: Math.floor(now.getTime() / 1000),
  });
}
