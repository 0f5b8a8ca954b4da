import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RULES } from '../../functions/core/rules.js';
import { upsertPackage } from '../../functions/db/catalogue-repository.js';
import { countStuckJobs } from '../../functions/db/jobs/reconcile-claims.js';
import type { DataApiBridge } from '../support/data-api-bridge.js';
import { bridgedExecutor } from '../support/executors.js';
import { PACKAGES } from '../support/handler-harness.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';
import {
  historyOf,
  mockStack,
  OPERATOR_ARN,
  opsRunner,
  recordCheckout,
  STACK,
  stackOutputs,
} from './ops-harness.js';

let db: TestDatabase;
let bridge: DataApiBridge;
let stack: ReturnType<typeof mockStack>;
const now = new Date('2026-11-23T10:00:00.000Z');
let ops: ReturnType<typeof opsRunner>;

beforeAll(async () => {
  db = await freshDatabase();
  for (const pkg of PACKAGES) await upsertPackage(db.executor, pkg);
  bridge = bridgedExecutor(db).bridge;
  ops = opsRunner({
    env: { AWS_REGION: 'us-east-1' },
    collaborators: {
      clock: () => now,
      rdsDataClient: () => bridge.client(),
      dataApiRetry: { baseDelayMs: 5, maxDelayMs: 50, budgetMs: 2_000 },
      osUser: () => 'not-used-on-a-stack',
    },
  });
  // Recorded 20 minutes ago: on the gauge.
  await recordCheckout(db.executor, 'cs_test_stack_old', new Date(now.getTime() - 1_200_000));
  await recordCheckout(db.executor, 'cs_test_stack_new', now);
});
afterAll(async () => {
  await bridge.close();
  await db.close();
});
beforeEach(() => {
  stack = mockStack();
});
afterEach(() => stack.restore());

describe('--stack: the same repository code through the Data API, with the operator’s credentials', () => {
  it('gauge reads the stack’s database through the Data API, and matches the alarm’s count', async () => {
    const result = await ops(['gauge', '--stack', STACK, '--json']);

    expect(result.code).toBe(0);
    expect(result.json()).toMatchObject({
      stuck: await countStuckJobs(db.executor, now, DEFAULT_RULES),
    });
    expect(result.json()).toMatchObject({ stuck: 1 });
    expect(
      bridge.calls.some(
        (call) =>
          call.command === 'ExecuteStatementCommand' && /count\(\*\) AS stuck/.test(call.sql ?? ''),
      ),
    ).toBe(true);
  });

  it('uses the thresholds the stack publishes, and warns when it publishes none', async () => {
    const unpublished = await ops(['gauge', '--stack', STACK, '--json']);
    stack.restore();
    stack = mockStack(
      stackOutputs({
        ProvisioningRules: JSON.stringify({
          ...DEFAULT_RULES,
          stuckAfterSeconds: 3600,
        }),
      }),
    );
    const published = await ops(['gauge', '--stack', STACK, '--json']);

    expect(unpublished.stderr).toContain('does not publish its thresholds');
    expect(published.stderr).toBe('');
    expect(published.json()).toMatchObject({ stuck: 0, stuck_after_seconds: 3600 });
  });

  it('stuck --json parses, with every job the Data API returned', async () => {
    const result = await ops(['stuck', '--stack', STACK, '--json']);

    expect(result.code).toBe(0);
    expect(result.json()).toMatchObject({
      total: 2,
      jobs: [
        { stripe_session_id: 'cs_test_stack_old', stuck: true },
        { stripe_session_id: 'cs_test_stack_new', stuck: false },
      ],
    });
  });

  it('records the caller’s ARN from STS as the operator of a write', async () => {
    const job = await recordCheckout(db.executor, 'cs_test_stack_rearm', now);

    const result = await ops([
      'rearm',
      job.id,
      '--stack',
      STACK,
      '--yes',
      '--reason',
      'orchestrator back',
    ]);

    expect(result.code).toBe(0);
    expect((await historyOf(db.executor, job.id)).at(-1)).toMatchObject({
      kind: 'rearmed',
      actor: `operator:${OPERATOR_ARN}`,
    });
  });

  it('waits for an Aurora resume and says so', async () => {
    bridge.resumeFor(100);

    const result = await ops(['gauge', '--stack', STACK, '--json']);

    expect(result.code).toBe(0);
    expect(result.stderr).toContain('resuming');
  });

  it('names a missing output, and an unknown stack, as configuration errors (exit 3)', async () => {
    const outputs = stackOutputs();
    const { DatabaseClusterArn: _dropped, ...withoutCluster } = outputs;
    stack.restore();
    stack = mockStack(withoutCluster);

    const missing = await ops(['gauge', '--stack', STACK]);
    const unknown = await ops(['gauge', '--stack', 'Nope']);

    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain(`stack ${STACK} has no output DatabaseClusterArn`);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain('cannot read the outputs of stack Nope in us-east-1');
  });

  it('manages admins, and reads notifications and the catalogue, through the Data API', async () => {
    const added = await ops(['admins', 'add', 'oncall@example.com', '--stack', STACK, '--yes']);
    const admins = await ops(['admins', 'list', '--stack', STACK, '--json']);
    const lastOne = await ops([
      'admins',
      'remove',
      'oncall@example.com',
      '--stack',
      STACK,
      '--yes',
    ]);
    const notifications = await ops(['notifications', '--stack', STACK, '--json']);
    const catalogue = await ops(['packages', 'list', '--stack', STACK, '--json']);

    expect(added.code).toBe(0);
    expect(admins.json()).toMatchObject({ admins: [{ email: 'oncall@example.com' }] });
    expect(lastOne.code).toBe(1);
    expect(notifications.json()).toEqual({ notifications: [] });
    expect(catalogue.json()).toMatchObject({
      packages: [{ slug: 'growth' }, { slug: 'scale' }, { slug: 'starter' }],
    });
  });
});
