import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { upsertPackage } from '../../functions/db/catalogue-repository.js';
import { type StandInSession, StripeStandIn } from '../../local/stripe-stand-in.js';
import type { DataApiBridge } from '../support/data-api-bridge.js';
import { bridgedExecutor } from '../support/executors.js';
import { PACKAGES, SECRET_ARNS } from '../support/handler-harness.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';
import { freshEvent, paidCheckoutFile } from '../support/stripe-fixtures.js';
import {
  HANDOFF_QUEUE_URL,
  historyOf,
  localEnv,
  loopbackServer,
  mockStack,
  OPERATOR_ARN,
  opsRunner,
  recordCheckout,
  STACK,
  stackOutputs,
} from './ops-harness.js';

/**
 * `ops sweep`: the missed-checkout sweep by hand, against the local database or a
 * stack, with the real `stripe` library reading a Stripe stand-in (STRIPE_API_URL).
 */

const KEY = 'rk_test_ops_sweep_reads_sessions';
const now = new Date('2026-11-23T10:00:00.000Z');

let db: TestDatabase;
let bridge: DataApiBridge;
let stripe: StripeStandIn;
let ops: ReturnType<typeof opsRunner>;

beforeAll(async () => {
  db = await freshDatabase();
  for (const pkg of PACKAGES) await upsertPackage(db.executor, pkg);
  bridge = bridgedExecutor(db).bridge;
});
afterAll(async () => {
  await bridge.close();
  await db.close();
});
beforeEach(async () => {
  stripe = new StripeStandIn({ apiKey: KEY });
  await stripe.start();
  ops = opsRunner({
    env: localEnv(db.connectionString, {
      STRIPE_API_KEY: KEY,
      STRIPE_API_URL: stripe.url,
      AWS_REGION: 'us-east-1',
    }),
    collaborators: {
      clock: () => now,
      osUser: () => 'alice',
      rdsDataClient: () => bridge.client(),
    },
  });
});
afterEach(async () => {
  await stripe.stop();
});

function paidSession(hoursAgo: number, changes: Record<string, unknown> = {}): StandInSession {
  const created = Math.floor(now.getTime() / 1000) - hoursAgo * 3600;
  const session = freshEvent(paidCheckoutFile('2026-07-29.dahlia'), now, {
    session: { created, ...changes },
  }).data.object;
  return stripe.addSession({ ...session, created });
}

async function jobOf(sessionId: string) {
  const { rows } = await db.pool.query(
    'SELECT id, attempts FROM provisioning_jobs WHERE stripe_session_id = $1',
    [sessionId],
  );
  return rows[0] as { id: string; attempts: number } | undefined;
}

describe('ops sweep', () => {
  it('records the paid checkouts no event recorded, hands them off, and ops show says the sweep did', async () => {
    const missed = paidSession(2);
    const recorded = paidSession(3);
    await recordCheckout(db.executor, recorded.id, now);
    const orchestrator = await loopbackServer(() => ({ status: 202, body: '{}' }));

    const result = await ops(['sweep', '--yes', '--trigger-url', `${orchestrator.url}/trigger`]);
    const shown = await ops(['show', missed.id, '--json']);
    await orchestrator.close();

    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/recorded\s+1/);
    expect(result.stdout).toContain(missed.id);
    expect(result.stdout).toContain('docs/runbooks/missed-checkouts.md');
    const job = await jobOf(missed.id);
    expect(await historyOf(db.executor, String(job?.id))).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          kind: 'recorded',
          actor: 'sweep',
          reason: 'ops sweep by operator:alice',
        }),
      ]),
    );
    expect(orchestrator.requests.map((r) => JSON.parse(r.body).stripe_session_id)).toEqual([
      missed.id,
    ]);
    expect(shown.json()).toMatchObject({ recorded_by: 'sweep' });
  });

  it('lists what it would record on a dry run, and writes nothing', async () => {
    const missed = paidSession(1);

    const result = await ops(['sweep', '--dry-run', '--json']);

    expect(result.code).toBe(0);
    expect(result.json()).toMatchObject({
      dry_run: true,
      recorded: 0,
      missed_sessions: [missed.id],
    });
    expect(await jobOf(missed.id)).toBeUndefined();
  });

  it('sweeps only the window --since gives, from its start', async () => {
    const recent = paidSession(1);
    const older = paidSession(5);

    const result = await ops(['sweep', '--since', '2h', '--dry-run', '--json']);

    expect(result.json()).toMatchObject({
      missed_sessions: [recent.id],
      window_from: new Date(now.getTime() - 2 * 3600_000).toISOString(),
    });
    expect(JSON.stringify(result.json())).not.toContain(older.id);
  });

  it('refuses to run without a Stripe key, saying where the key goes', async () => {
    const result = await ops(['sweep', '--dry-run'], { env: { STRIPE_API_KEY: '' } });

    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/no Stripe API key is configured\n.*STRIPE_API_KEY/);
  });

  it('refuses a key of the other Stripe mode before listing anything', async () => {
    const result = await ops(['sweep', '--dry-run'], {
      env: { STRIPE_API_KEY: 'rk_live_not_this_deployment' },
    });

    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/not a test-mode key/);
    expect(result.stderr).not.toContain('rk_live_not_this_deployment');
    expect(stripe.requests).toEqual([]);
  });
});

describe('ops sweep --stack', () => {
  let stack: ReturnType<typeof mockStack>;
  let secretsManager: AwsClientStub<SecretsManagerClient>;
  let sqs: AwsClientStub<SQSClient>;
  let ssm: AwsClientStub<SSMClient>;

  beforeEach(() => {
    stack = mockStack(stackOutputs({ StripeMode: 'test' }));
    secretsManager = mockClient(SecretsManagerClient);
    secretsManager
      .on(GetSecretValueCommand, { SecretId: SECRET_ARNS.stripeApiKey })
      .resolves({ SecretString: KEY });
    sqs = mockClient(SQSClient);
    sqs.resolves({});
    ssm = mockClient(SSMClient);
    ssm.resolves({});
  });
  afterEach(async () => {
    stack.restore();
    secretsManager.restore();
    sqs.restore();
    ssm.restore();
    await db.pool.query(
      `UPDATE reconciler_state SET quiet_since = NULL, woken_at = NULL WHERE id = 'reconciler'`,
    );
  });

  it('reads the key from the stack’s secret and hands each recorded job to the stack’s queue', async () => {
    const missed = paidSession(1);

    const result = await ops(['sweep', '--stack', STACK, '--yes', '--json']);

    expect(result.code).toBe(0);
    expect(result.json()).toMatchObject({ outcome: 'finished', recorded: 1 });
    const sent = sqs.commandCalls(SendMessageCommand).map((call) => call.args[0].input);
    expect(sent).toEqual([
      expect.objectContaining({
        QueueUrl: HANDOFF_QUEUE_URL,
        MessageBody: expect.stringContaining(missed.id),
      }),
    ]);
    const job = await jobOf(missed.id);
    expect(await historyOf(db.executor, String(job?.id))).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          actor: 'sweep',
          reason: `ops sweep by operator:${OPERATOR_ARN}`,
        }),
      ]),
    );
    expect(result.stdout).not.toContain(KEY);
  });

  it('wakes a quiet reconciler when it records a missed checkout, so the next tick hands it on', async () => {
    await db.pool.query(
      `UPDATE reconciler_state SET quiet_since = $1, woken_at = NULL WHERE id = 'reconciler'`,
      [new Date(now.getTime() - 3600_000)],
    );
    paidSession(1);

    const result = await ops(['sweep', '--stack', STACK, '--yes', '--json']);

    expect(result.code, result.stderr).toBe(0);
    expect(ssm.commandCalls(PutParameterCommand).map((call) => call.args[0].input)).toEqual([
      expect.objectContaining({ Name: '/provisioning/test/reconciler-quiet', Value: 'awake' }),
    ]);
  });
});
