import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RULES } from '../../functions/core/rules.js';
import { upsertPackage } from '../../functions/db/catalogue-repository.js';
import { applyCallback } from '../../functions/db/jobs/callbacks.js';
import type { JobRow } from '../../functions/db/jobs/job-row.js';
import { readJob } from '../../functions/db/jobs/operator-actions.js';
import type { CheckoutSessionFacts } from '../../ops/collaborators.js';
import type { DataApiBridge } from '../support/data-api-bridge.js';
import { bridgedExecutor } from '../support/executors.js';
import { CALLBACK_URL, PACKAGES, SECRET_ARNS } from '../support/handler-harness.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';
import {
  fakeCheckoutSessions,
  historyOf,
  jobColumns,
  localEnv,
  mockStack,
  OPERATOR_ARN,
  opsRunner,
  recordCheckout,
  STACK,
} from './ops-harness.js';

const STRIPE_KEY = 'rk_test_51ResolvePayloadReadOnly';

let db: TestDatabase;
let bridge: DataApiBridge;
const now = new Date('2026-11-23T10:00:00.000Z');

function checkout(id: string, slug: string | undefined, extra: Partial<CheckoutSessionFacts> = {}) {
  return {
    id,
    payment_status: 'paid',
    metadata: slug === undefined ? {} : { package_slug: slug },
    customer_details: { email: 'stripe-side@example.com' },
    ...extra,
  };
}

const stripe = fakeCheckoutSessions({
  cs_test_unknown_pkg: checkout('cs_test_unknown_pkg', 'enterprise'),
  cs_test_resolve_ok: checkout('cs_test_resolve_ok', 'enterprise'),
  cs_test_no_slug: checkout('cs_test_no_slug', undefined),
  cs_test_mismatch: checkout('cs_test_mismatch', 'growth'),
  cs_test_unpaid: checkout('cs_test_unpaid', 'enterprise', { payment_status: 'unpaid' }),
  cs_test_notty: checkout('cs_test_notty', 'enterprise'),
  cs_test_stack_resolve: checkout('cs_test_stack_resolve', 'enterprise'),
});

let ops: ReturnType<typeof opsRunner>;

beforeAll(async () => {
  db = await freshDatabase();
  for (const pkg of PACKAGES) await upsertPackage(db.executor, pkg);
  bridge = bridgedExecutor(db).bridge;
  for (const session of UNRESOLVED) {
    jobs.set(session, await recordCheckout(db.executor, session, now, 'enterprise'));
  }
  ops = opsRunner({
    env: localEnv(db.connectionString, { STRIPE_API_KEY: STRIPE_KEY, AWS_REGION: 'us-east-1' }),
    collaborators: {
      clock: () => now,
      osUser: () => 'alice',
      checkoutSessions: stripe.factory,
      rdsDataClient: () => bridge.client(),
    },
  });
});
afterAll(async () => {
  await bridge.close();
  await db.close();
});

/** Checkouts of a package the catalogue did not sell when they were recorded: no payload. */
const UNRESOLVED = [
  'cs_test_unknown_pkg',
  'cs_test_resolve_ok',
  'cs_test_resolved_done',
  'cs_test_no_slug',
  'cs_test_mismatch',
  'cs_test_unpaid',
  'cs_test_stripe_unknown',
  'cs_test_nokey',
  'cs_test_notty',
  'cs_test_stack_resolve',
];
const jobs = new Map<string, JobRow>();
function unresolved(session: string): JobRow {
  const job = jobs.get(session);
  if (!job) throw new Error(`no fixture job for ${session}`);
  return job;
}

describe('ops resolve-payload (runbook 6b)', () => {
  it('refuses a package the catalogue does not sell, and writes nothing', async () => {
    const job = unresolved('cs_test_unknown_pkg');
    const before = await historyOf(db.executor, job.id);

    const result = await ops(['resolve-payload', 'cs_test_unknown_pkg', '--yes', '--reason', 'r']);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('package enterprise is not in the catalogue');
    expect(result.stderr).toContain('ops packages set enterprise');
    expect(await jobColumns(db.executor, job.id)).toMatchObject({ trigger_payload: null });
    expect(await historyOf(db.executor, job.id)).toEqual(before);
  });

  it('shows what it would store, and stores it only when confirmed, in the webhook’s shape', async () => {
    await upsertPackage(db.executor, { slug: 'enterprise', tier: 'ent', tokensQuota: 50_000_000 });
    const job = unresolved('cs_test_resolve_ok');

    const dryRun = await ops(['resolve-payload', 'cs_test_resolve_ok', '--dry-run']);
    const afterDryRun = await jobColumns(db.executor, job.id);
    const stored = await ops([
      'resolve-payload',
      'cs_test_resolve_ok',
      '--yes',
      '--json',
      '--reason',
      'package added to the catalogue, INC-11',
    ]);

    expect(dryRun.code).toBe(0);
    expect(dryRun.stdout).toContain('enterprise (tier ent)');
    expect(dryRun.stdout).toContain('50000000');
    expect(afterDryRun).toMatchObject({ trigger_payload: null });
    expect(stored.code).toBe(0);
    const payload = {
      job_id: job.id,
      stripe_session_id: 'cs_test_resolve_ok',
      account_id: job.account_id,
      package_slug: 'enterprise',
      tokens_quota: 50_000_000,
      customer_email: 'customer@example.com',
      callback_url: 'http://localhost:3000/api/internal/provisioning/callback',
    };
    expect(stored.json()).toEqual({
      result: 'stored',
      job_id: job.id,
      stripe_session_id: 'cs_test_resolve_ok',
      trigger_payload: payload,
    });
    expect(stripe.keys.at(-1)).toBe(STRIPE_KEY);
    expect(await jobColumns(db.executor, job.id)).toMatchObject({
      trigger_payload: payload,
      last_error: null,
      tokens_quota: 50_000_000,
    });
    expect((await readJob(db.executor, 'cs_test_resolve_ok'))?.account).toMatchObject({
      tier: 'ent',
      tokens_quota: 50_000_000,
    });
    expect((await historyOf(db.executor, job.id)).at(-1)).toMatchObject({
      kind: 'payload_resolved',
      actor: 'operator:alice',
      reason: 'package added to the catalogue, INC-11',
      detail: { package_slug: 'enterprise', tokens_quota: 50_000_000 },
    });
    const listing = await ops(['stuck', '--json']);
    expect(listing.json()).toMatchObject({
      jobs: expect.arrayContaining([
        expect.objectContaining({
          stripe_session_id: 'cs_test_resolve_ok',
          next_step: 'reconcile',
        }),
      ]),
    });
  });

  it('refuses a job that has a payload already, without asking Stripe', async () => {
    await recordCheckout(db.executor, 'cs_test_has_payload', now);
    const asked = stripe.keys.length;

    const result = await ops(['resolve-payload', 'cs_test_has_payload', '--yes', '--reason', 'r']);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('has a payload already');
    expect(stripe.keys).toHaveLength(asked);
  });

  it('refuses a provisioned job', async () => {
    await applyCallback(
      db.executor,
      {
        stripeSessionId: 'cs_test_resolved_done',
        status: 'provisioned',
        deploymentId: 'dpl_x',
        cellId: 'c',
      },
      now,
      DEFAULT_RULES,
    );

    const result = await ops([
      'resolve-payload',
      'cs_test_resolved_done',
      '--yes',
      '--reason',
      'r',
    ]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('is provisioned');
  });

  it('never guesses: a session without package_slug, or naming another package than the job, is refused', async () => {
    const mismatch = unresolved('cs_test_mismatch');

    const noSlug = await ops(['resolve-payload', 'cs_test_no_slug', '--yes', '--reason', 'r']);
    const other = await ops(['resolve-payload', 'cs_test_mismatch', '--yes', '--reason', 'r']);

    expect(noSlug.code).toBe(1);
    expect(noSlug.stderr).toContain('cannot be recovered without guessing');
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('the job recorded package enterprise but Stripe says growth');
    expect(await jobColumns(db.executor, mismatch.id)).toMatchObject({ trigger_payload: null });
  });

  it('refuses a session Stripe says is unpaid, and one Stripe does not know', async () => {
    const unpaid = await ops(['resolve-payload', 'cs_test_unpaid', '--yes', '--reason', 'r']);
    const unknown = await ops([
      'resolve-payload',
      'cs_test_stripe_unknown',
      '--yes',
      '--reason',
      'r',
    ]);

    expect(unpaid.code).toBe(1);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('Stripe has no checkout session cs_test_stripe_unknown');
  });

  it('says so when no Stripe API key is configured (exit 3)', async () => {
    const result = await ops(['resolve-payload', 'cs_test_nokey', '--yes', '--reason', 'r'], {
      env: { STRIPE_API_KEY: '' },
    });

    expect(result.code).toBe(3);
    expect(result.stderr).toContain('no Stripe API key is configured');
  });

  it('stores nothing without --yes when stdin is not a terminal', async () => {
    const job = unresolved('cs_test_notty');

    const result = await ops(['resolve-payload', 'cs_test_notty', '--reason', 'r'], { tty: false });

    expect(result.code).toBe(1);
    expect(await jobColumns(db.executor, job.id)).toMatchObject({ trigger_payload: null });
  });

  it('takes only a Stripe checkout session', async () => {
    const result = await ops(['resolve-payload', `op_${'a'.repeat(32)}`]);

    expect(result.code).toBe(2);
  });
});

describe('ops resolve-payload --stack', () => {
  let stack: ReturnType<typeof mockStack>;
  let secretsManager: AwsClientStub<SecretsManagerClient>;
  const stackKey = 'rk_live_51FromSecretsManager';

  beforeEach(() => {
    stack = mockStack();
    secretsManager = mockClient(SecretsManagerClient);
    secretsManager
      .on(GetSecretValueCommand, { SecretId: SECRET_ARNS.stripeApiKey })
      .resolves({ SecretString: stackKey });
  });
  afterEach(() => {
    stack.restore();
    secretsManager.restore();
  });

  it('reads the Stripe key from the stack’s secret and stores the stack’s CallbackUrl', async () => {
    const job = unresolved('cs_test_stack_resolve');

    const result = await ops([
      'resolve-payload',
      'cs_test_stack_resolve',
      '--stack',
      STACK,
      '--yes',
      '--reason',
      'r',
    ]);

    expect(result.code).toBe(0);
    expect(stripe.keys.at(-1)).toBe(stackKey);
    expect(result.stdout).not.toContain(stackKey);
    expect(result.stderr).not.toContain(stackKey);
    expect(await jobColumns(db.executor, job.id)).toMatchObject({
      trigger_payload: expect.objectContaining({ callback_url: CALLBACK_URL }),
    });
    expect((await historyOf(db.executor, job.id)).at(-1)).toMatchObject({
      actor: `operator:${OPERATOR_ARN}`,
    });
  });

  it('says the stack’s Stripe key secret still holds the deploy-time placeholder', async () => {
    secretsManager
      .on(GetSecretValueCommand, { SecretId: SECRET_ARNS.stripeApiKey })
      .resolves({ SecretString: 'Qx8VZr2mTn5KpL0wYd7HsB3cJf9GaE6uRk1NvM4tXe' });
    const asked = stripe.keys.length;

    const result = await ops([
      'resolve-payload',
      'cs_test_nokey',
      '--stack',
      STACK,
      '--yes',
      '--reason',
      'r',
    ]);

    expect(result.code).toBe(3);
    expect(result.stderr).toContain('holds no Stripe key');
    expect(result.stderr).not.toContain('Qx8VZr2mTn5K');
    expect(stripe.keys).toHaveLength(asked);
  });
});
