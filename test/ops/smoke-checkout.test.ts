import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  removeSmokeCheckout,
  SMOKE_PACKAGE,
} from '../../functions/db/smoke-checkouts-repository.js';
import { ROUTES } from '../../functions/routes.js';
import type { Timer } from '../../functions/services/reconcile.js';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.js';
import { type SandboxMode, switchSandboxMode } from '../../local/sandbox-orchestrator.js';
import type { DataApiBridge } from '../support/data-api-bridge.js';
import { bridgedExecutor } from '../support/executors.js';
import { CapturingLog, SECRET_ARNS } from '../support/handler-harness.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';
import {
  jobColumns,
  loopbackServer,
  mockStack,
  opsRunner,
  recordCheckout,
  STACK,
  stackOutputs,
} from './ops-harness.js';

const WEBHOOK_SECRET = 'whsec_smoke_test_8d41c7';

/**
 * `ops smoke --stack`: the stack's outputs, secret and metrics come from mocked AWS
 * clients, its database through the Data API bridge, and its HTTP API is the local
 * runtime (the same handlers behind the same routes, with its sandbox orchestrator),
 * sometimes behind a proxy that answers as a resuming Aurora would.
 */
let db: TestDatabase;
let bridge: DataApiBridge;
let runtime: LocalRuntime;
let stack: ReturnType<typeof mockStack>;
let secretsManager: AwsClientStub<SecretsManagerClient>;
let cloudWatch: AwsClientStub<CloudWatchClient>;

beforeAll(async () => {
  db = await freshDatabase({ migrated: false });
  runtime = await startLocalRuntime(
    {
      DATABASE_URL: db.connectionString,
      PORT: '0',
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      SANDBOX_DELAY_MS: '10',
      RECONCILE_EVERY_SECONDS: '3600',
      WATCHDOG_EVERY_SECONDS: '3600',
    },
    new CapturingLog(),
  );
  bridge = bridgedExecutor(db).bridge;
}, 60_000);
afterAll(async () => {
  await runtime?.stop();
  await bridge?.close();
  await db?.close();
});
beforeEach(() => {
  secretsManager = mockClient(SecretsManagerClient);
  secretsManager
    .on(GetSecretValueCommand, { SecretId: SECRET_ARNS.stripeWebhookSecrets })
    .resolves({ SecretString: WEBHOOK_SECRET });
  cloudWatch = mockClient(CloudWatchClient);
});
afterEach(async () => {
  stack?.restore();
  secretsManager.restore();
  cloudWatch.restore();
  await setSandboxMode('ok');
});

/** The stack as the local runtime serves it, its webhook at `apiUrl`. */
function deployed(apiUrl = runtime.url, extra: Record<string, string> = {}) {
  stack = mockStack(
    stackOutputs({
      WebhookUrl: `${apiUrl}${ROUTES.stripeWebhook.path}`,
      StatusUrl: `${runtime.url}${ROUTES.status.path}`,
      StripeWebhookSecretArn: SECRET_ARNS.stripeWebhookSecrets,
      StripeMode: 'test',
      SandboxTriggerUrl: `${runtime.sandbox?.url}/trigger/onboarding`,
      ...extra,
    }),
  );
}

/** Time that moves when the smoke test sleeps, a little faster than the wall clock. */
function hastyTimer(): Timer & { slept: () => number } {
  let offset = 0;
  return {
    now: () => performance.now() + offset,
    sleep: async (ms) => {
      offset += ms;
      await new Promise((resolve) => setTimeout(resolve, 20));
    },
    slept: () => offset,
  };
}

function ops(timer?: Timer) {
  return opsRunner({
    env: { AWS_REGION: 'us-east-1' },
    collaborators: {
      rdsDataClient: () => bridge.client(),
      osUser: () => 'not-used-on-a-stack',
      ...(timer ? { timer } : {}),
    },
  });
}

async function setSandboxMode(mode: SandboxMode) {
  if (runtime.sandbox?.url) await switchSandboxMode(runtime.sandbox.url, mode);
}

async function leftovers() {
  const { rows } = await db.pool.query(
    `SELECT (SELECT count(*) FROM provisioning_jobs WHERE stripe_session_id LIKE 'cs_smoke_%') AS jobs,
       (SELECT count(*) FROM customer_accounts WHERE stripe_session_id LIKE 'cs_smoke_%') AS accounts,
       (SELECT count(*) FROM stripe_events WHERE stripe_session_id LIKE 'cs_smoke_%') AS events,
       (SELECT count(*) FROM organization_databases d JOIN customer_accounts a ON a.id = d.account_id
          WHERE a.stripe_session_id LIKE 'cs_smoke_%') AS tenant_databases,
       (SELECT count(*) FROM packages WHERE slug = $1) AS packages`,
    [SMOKE_PACKAGE],
  );
  return Object.fromEntries(Object.entries(rows[0]).map(([key, value]) => [key, Number(value)]));
}
const NOTHING_LEFT = { jobs: 0, accounts: 0, events: 0, tenant_databases: 0, packages: 0 };

/** A proxy in front of the webhook route that answers 503 as the route does while Aurora resumes. */
async function resumingProxy(times: number): Promise<{ url: string; close(): Promise<void> }> {
  let refused = 0;
  const server: Server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    if (refused < times) {
      refused += 1;
      response
        .writeHead(503, { 'content-type': 'application/json', 'retry-after': '30' })
        .end('{"error":"the database is resuming from a pause; retry shortly"}');
      return;
    }
    const forwarded = await fetch(`${runtime.url}${request.url}`, {
      method: request.method ?? 'POST',
      headers: request.headers as Record<string, string>,
      body: Buffer.concat(chunks),
    });
    response
      .writeHead(forwarded.status, { 'content-type': 'application/json' })
      .end(await forwarded.text());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('ops smoke --stack: one test checkout through a deployed stack', () => {
  it('follows it to provisioned, prints each hop with its latency, and leaves nothing behind', async () => {
    deployed();

    const result = await ops()(['smoke', '--stack', STACK, '--yes']);

    expect(result.code, result.stderr).toBe(0);
    const hops = [
      'webhook: 200 recorded',
      'trigger accepted by the orchestrator',
      'first callback (provisioning)',
      'provisioned (dpl_sandbox_',
      'status route: ready',
    ];
    let position = -1;
    for (const hop of hops) {
      const found = result.stdout.indexOf(hop);
      expect(found, hop).toBeGreaterThan(position);
      position = found;
    }
    expect(result.stdout).toMatch(
      /Smoke test of Provisioning-test passed: cs_smoke_\w+ provisioned in/,
    );
    expect(result.stdout).toMatch(/webhook: 200 recorded\s+\d+(\.\d)? (ms|s)/);
    expect(result.stderr).toContain('Removed: 1 job');
    expect(await leftovers()).toEqual(NOTHING_LEFT);
  });

  it('prints one JSON document for scripts, every hop timed', async () => {
    deployed();

    const result = await ops()(['smoke', '--stack', STACK, '--yes', '--json']);

    expect(result.code).toBe(0);
    const report = result.json() as { hops: { hop: string; ms: number }[] };
    expect(report).toMatchObject({
      stack: STACK,
      result: 'provisioned',
      resumed: false,
      deployment_id: expect.stringMatching(/^dpl_sandbox_/),
    });
    expect(report.hops).toHaveLength(5);
    for (const hop of report.hops) expect(hop.ms).toBeGreaterThanOrEqual(0);
  });

  it('with --after-pause waits for Aurora to pause, then rides out the resume as Stripe would: the same event again', async () => {
    const proxy = await resumingProxy(2);
    deployed(proxy.url);
    cloudWatch
      .on(GetMetricDataCommand)
      .resolvesOnce({ MetricDataResults: [{ Id: 'capacity', Values: [0.5] }] })
      .resolves({ MetricDataResults: [{ Id: 'capacity', Values: [0] }] });
    const timer = hastyTimer();
    try {
      const result = await ops(timer)(['smoke', '--stack', STACK, '--yes', '--after-pause']);

      expect(result.code, result.stderr).toBe(0);
      const [query] = cloudWatch
        .commandCalls(GetMetricDataCommand)
        .map((call) => call.args[0].input);
      expect(query?.MetricDataQueries?.[0]?.MetricStat?.Metric).toEqual({
        Namespace: 'AWS/RDS',
        MetricName: 'ServerlessDatabaseCapacity',
        Dimensions: [{ Name: 'DBClusterIdentifier', Value: 'provisioning-test' }],
      });
      expect(result.stderr).toContain('Aurora is paused');
      expect(result.stdout).toContain('webhook: 200 recorded, after Aurora resumed');
      expect(result.stdout).toContain('the webhook answered 503 2 time(s)');
      expect(await leftovers()).toEqual(NOTHING_LEFT);
    } finally {
      await proxy.close();
    }
  });

  it('says where the checkout stopped when it is not provisioned in time, and still removes it', async () => {
    deployed();
    await setSandboxMode('silent');

    const result = await ops()(['smoke', '--stack', STACK, '--yes', '--max-seconds', '5']);

    expect(result.code).toBe(3);
    expect(result.stderr).toContain('the trigger was accepted but no callback came within 5 s');
    expect(result.stderr).toContain('SandboxOrchestratorSaga');
    expect(await leftovers()).toEqual(NOTHING_LEFT);
  });

  it('says how a failed saga ended, from the history it then removes', async () => {
    deployed();
    await setSandboxMode('fail');

    const result = await ops()(['smoke', '--stack', STACK, '--yes', '--max-seconds', '5']);

    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/callbacks arrive but the job is \w+, not provisioned/);
    expect(result.stderr).toContain('sandbox: simulated saga failure');
    expect(result.stderr).toContain('callback → failed');
    expect(result.stderr).not.toContain('ops -- show');
    expect(await leftovers()).toEqual(NOTHING_LEFT);
  });

  it('fails when the status route answers a state other than ready, whatever else its body says', async () => {
    const statusRoute = await loopbackServer(() => ({
      status: 200,
      body: JSON.stringify({ session_id: 'cs_smoke_x', state: 'provisioning', phase: 'ready' }),
    }));
    deployed(runtime.url, { StatusUrl: `${statusRoute.url}${ROUTES.status.path}` });
    try {
      const result = await ops()(['smoke', '--stack', STACK, '--yes']);

      expect(result.code).toBe(3);
      expect(result.stderr).toContain('the job is provisioned but the status route answered 200');
      expect(await leftovers()).toEqual(NOTHING_LEFT);
    } finally {
      await statusRoute.close();
    }
  });

  it('refuses a stack without a sandbox orchestrator, writing nothing, and needs --stack', async () => {
    deployed(runtime.url, { SandboxTriggerUrl: '' });

    const real = await ops()(['smoke', '--stack', STACK, '--yes']);
    const local = await ops()(['smoke', '--yes']);

    expect(real.code).toBe(1);
    expect(real.stderr).toContain('has no sandbox orchestrator');
    expect(local.code).toBe(2);
    expect(await leftovers()).toEqual(NOTHING_LEFT);
  });

  it('never removes rows of a checkout that is not a smoke test', async () => {
    const { executor } = bridgedExecutor(db);
    const job = await recordCheckout(db.executor, 'cs_test_a_real_customer', new Date());

    const removed = await removeSmokeCheckout(executor, 'cs_test_a_real_customer');

    expect(removed).toEqual({
      jobs: 0,
      history: 0,
      accounts: 0,
      tenant_databases: 0,
      notifications: 0,
      stripe_events: 0,
    });
    expect(await jobColumns(db.executor, job.id)).toMatchObject({ status: 'enqueued' });
  });
});
