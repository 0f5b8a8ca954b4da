import { describe, expect, it } from 'vitest';
import {
  decideListedSession,
  planSweepPass,
  type SweepMark,
} from '../../functions/core/checkout-sweep.js';
import { stripeKeyMode, stripeKeyProblem } from '../../functions/core/stripe-api-key.js';

const now = new Date('2026-11-23T10:00:00.000Z');
const hours = (n: number) => new Date(now.getTime() - n * 3600_000);
const LOOKBACK = { lookbackSeconds: 72 * 3600 };

function mark(changes: Partial<SweepMark> = {}): SweepMark {
  return {
    windowFrom: hours(80),
    windowTo: hours(8),
    resumeAfter: 'cs_test_last_examined',
    listed: 200,
    recorded: 1,
    startedAt: hours(8),
    finishedAt: null,
    runToken: '0b6c5d6e-8c1a-4b8e-9a55-3f0b0c1d2e3f',
    leaseUntil: hours(7),
    ...changes,
  };
}

describe('which pass a sweep run works on', () => {
  it('starts a pass over the look-back window ending now when none was ever run', () => {
    expect(planSweepPass(undefined, now, LOOKBACK)).toEqual({
      kind: 'start',
      pass: {
        windowFrom: hours(72),
        windowTo: now,
        resumeAfter: null,
        listed: 0,
        recorded: 0,
        startedAt: now,
      },
    });
  });

  it('resumes an unfinished pass where its mark stands, its window unchanged', () => {
    const plan = planSweepPass(mark(), now, LOOKBACK);

    expect(plan).toMatchObject({
      kind: 'resume',
      pass: { windowFrom: hours(80), windowTo: hours(8), resumeAfter: 'cs_test_last_examined' },
    });
  });

  it('starts anew after a finished pass, after one beyond the look-back, and when an operator names a window', () => {
    expect(planSweepPass(mark({ finishedAt: hours(7) }), now, LOOKBACK).kind).toBe('start');
    expect(planSweepPass(mark({ windowTo: hours(73) }), now, LOOKBACK).kind).toBe('start');
    expect(planSweepPass(mark(), now, { ...LOOKBACK, since: hours(2) })).toMatchObject({
      kind: 'start',
      pass: { windowFrom: hours(2), windowTo: now, resumeAfter: null },
    });
  });

  it('leaves the pass to the run whose lease has not lapsed', () => {
    expect(planSweepPass(mark({ leaseUntil: hours(-0.1) }), now, LOOKBACK)).toEqual({
      kind: 'busy',
      leaseUntil: hours(-0.1),
    });
  });
});

describe('what a listed session means', () => {
  const session = (changes: Record<string, unknown> = {}) => ({
    id: 'cs_test_listed',
    object: 'checkout.session',
    livemode: false,
    status: 'complete',
    mode: 'payment',
    payment_status: 'paid',
    customer: 'cus_1',
    customer_details: { email: 'a@example.com' },
    metadata: { package_slug: 'growth' },
    ...changes,
  });

  it('is a settled checkout of ours when complete and paid, read as the webhook reads it', () => {
    expect(decideListedSession(session(), 'test')).toEqual({
      kind: 'settled',
      checkout: {
        stripeSessionId: 'cs_test_listed',
        stripeCustomerId: 'cus_1',
        stripeCustomerAccountId: null,
        customerEmail: 'a@example.com',
        packageSlug: 'growth',
      },
    });
  });

  it.each([
    [{ status: 'expired' }, 'not_complete'],
    [{ status: 'open' }, 'not_complete'],
    [{ payment_status: 'unpaid' }, 'not_paid'],
    [{ metadata: {} }, 'not_ours'],
    [{ mode: 'setup' }, 'setup_mode'],
    [{ livemode: true }, 'other_mode'],
    [{ payment_status: 'partially_paid' }, 'unreadable'],
    [{ livemode: 'no' }, 'unreadable'],
  ])('is skipped when %j: %s', (changes, skip) => {
    expect(decideListedSession(session(changes), 'test')).toMatchObject({
      kind: 'skipped',
      skip,
      stripeSessionId: 'cs_test_listed',
    });
  });
});

describe('the Stripe API key', () => {
  it('serves only its own mode, and a placeholder is no key', () => {
    expect(stripeKeyMode('rk_live_abc123')).toBe('live');
    expect(stripeKeyProblem('rk_test_abc123', 'test')).toBeUndefined();
    expect(stripeKeyProblem('sk_live_abc123', 'test')).toBe('other_mode');
    expect(stripeKeyProblem('Xq9vTzk3PlaceholderFromSecretsManager', 'test')).toBe('not_a_key');
    expect(stripeKeyProblem(undefined, 'live')).toBe('missing');
  });
});
