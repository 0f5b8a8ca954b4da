import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onboardingInput } from '../../functions/core/onboarding-input.js';
import { upsertPackage } from '../../functions/db/catalogue-repository.js';
import {
  recordSettledCheckout,
  type SettledCheckout,
} from '../../functions/db/jobs/checkout-records.js';
import { storeResolvedPayload } from '../../functions/db/operator-repository.js';
import { LEASE_SECONDS } from '../support/jobs.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';

/**
 * The trigger payload is built in SQL and read through `onboardingInput` by the sandbox,
 * the conformance suite and any orchestrator that uses the contract kit: every payload
 * the repository stores must pass it, or a real job would be refused downstream.
 */
const NOW = new Date('2026-11-23T10:00:00.000Z');
const CALLBACK_URL = 'https://handoff.example.com/api/internal/provisioning/callback';

let db: TestDatabase;
let counter = 0;

function checkout(overrides: Partial<SettledCheckout> = {}): SettledCheckout {
  counter += 1;
  return {
    stripeSessionId: `cs_test_payload_${counter}`,
    stripeCustomerId: 'cus_123',
    customerEmail: 'ada@example.com',
    packageSlug: 'growth',
    callbackUrl: CALLBACK_URL,
    ...overrides,
  };
}

beforeAll(async () => {
  db = await freshDatabase();
  await upsertPackage(db.executor, { slug: 'growth', tier: 'growth', tokensQuota: 1_100_000 });
});
afterAll(async () => {
  await db.close();
});

describe('the stored trigger payload', () => {
  it('is an OnboardingInput for a paid checkout, with every field the orchestrator needs', async () => {
    const { job } = await recordSettledCheckout(db.executor, checkout(), NOW, LEASE_SECONDS);

    const input = onboardingInput.parse(job.trigger_payload);

    expect(input).toEqual({
      job_id: job.id,
      stripe_session_id: job.stripe_session_id,
      account_id: job.account_id,
      package_slug: 'growth',
      tokens_quota: 1_100_000,
      customer_email: 'ada@example.com',
      callback_url: CALLBACK_URL,
    });
  });

  it('is an OnboardingInput for a checkout without an e-mail and for an operator job', async () => {
    const noEmail = await recordSettledCheckout(
      db.executor,
      checkout({ customerEmail: null }),
      NOW,
      LEASE_SECONDS,
    );
    const operator = await recordSettledCheckout(
      db.executor,
      checkout({ stripeSessionId: `op_${'ab'.repeat(16)}`, stripeCustomerId: null }),
      NOW,
      LEASE_SECONDS,
      'operator:ada',
    );

    expect(onboardingInput.parse(noEmail.job.trigger_payload).customer_email).toBeNull();
    expect(onboardingInput.parse(operator.job.trigger_payload).stripe_session_id).toBe(
      `op_${'ab'.repeat(16)}`,
    );
  });

  it('is an OnboardingInput when an operator resolves a payload that was missing', async () => {
    const missing = checkout({ packageSlug: 'retired' });
    await recordSettledCheckout(db.executor, missing, NOW, LEASE_SECONDS);

    const resolved = await storeResolvedPayload(
      db.executor,
      {
        stripeSessionId: missing.stripeSessionId,
        packageSlug: 'growth',
        customerEmail: null,
        callbackUrl: CALLBACK_URL,
        source: 'stripe_checkout_session',
        actor: 'operator:ada',
        reason: 'package renamed',
      },
      NOW,
    );

    expect(resolved.kind).toBe('stored');
    expect(resolved.kind === 'stored' && onboardingInput.parse(resolved.triggerPayload)).toEqual(
      expect.objectContaining({ package_slug: 'growth', customer_email: 'ada@example.com' }),
    );
  });
});

describe('OnboardingInput', () => {
  const valid = {
    job_id: '6f1c2a9e-3b4d-4e5f-8a6b-7c8d9e0f1a2b',
    stripe_session_id: 'cs_test_a1',
    account_id: '0a1b2c3d-4e5f-4a6b-9c8d-7e6f5a4b3c2d',
    package_slug: 'growth',
    tokens_quota: 1_100_000,
    customer_email: null,
    callback_url: CALLBACK_URL,
  };

  it('ignores fields added later, so a newer payload does not break an older orchestrator', () => {
    expect(onboardingInput.parse({ ...valid, region: 'eu-west-1' })).toEqual(valid);
  });

  it.each([
    ['job_id', 'not-a-uuid'],
    ['stripe_session_id', 'pi_123'],
    ['package_slug', 'Growth Plan'],
    ['tokens_quota', 0],
    ['callback_url', 'javascript:alert(1)'],
  ])('refuses a payload whose %s is %j, naming the field', (field, value) => {
    const parsed = onboardingInput.safeParse({ ...valid, [field]: value });

    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual([field]);
  });
});
