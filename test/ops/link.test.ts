import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RULES } from '../../functions/core/rules.js';
import { applyCallback } from '../../functions/db/jobs/callbacks.js';
import { readJob } from '../../functions/db/jobs/operator-actions.js';
import { createCallbackHandler } from '../../functions/handlers/callback.js';
import { ROUTES } from '../../functions/routes.js';

const CALLBACK_PATH = ROUTES.callback.path;

import { apiGateway } from '../../local/api-gateway.js';
import { type Harness, handlerHarness, lambdaContext } from '../support/handler-harness.js';
import {
  historyOf,
  jobColumns,
  localEnv,
  loopbackServer,
  mockStack,
  OPERATOR_ARN,
  opsRunner,
  recordCheckout,
  STACK,
  stackOutputs,
} from './ops-harness.js';

const ROUTE_SECRET = 'callback-secret-5c1e8a7f0d2b4e69';
const GROWTH_QUOTA = 1_100_000;

let h: Harness;
let route: { url: string; port: number; received: number; server: Server };
let ops: ReturnType<typeof opsRunner>;

/** The real callback handler, served over loopback the way the local runtime serves it. */
async function serveCallbackRoute() {
  const handler = createCallbackHandler({ ...h.deps, secrets: h.secrets });
  const serve = apiGateway(
    [{ method: 'POST', path: CALLBACK_PATH, handler, timeoutMs: 10_000 }],
    (matched, event) => matched.handler(event, lambdaContext()),
  );
  const served = { url: '', port: 0, received: 0, server: createServer() };
  served.server.on('request', (request, response) => {
    served.received += 1;
    serve(request, response).catch(() => response.writeHead(500).end());
  });
  await new Promise<void>((resolve) => served.server.listen(0, '127.0.0.1', resolve));
  served.port = (served.server.address() as AddressInfo).port;
  served.url = `http://127.0.0.1:${served.port}${CALLBACK_PATH}`;
  return served;
}

beforeAll(async () => {
  h = await handlerHarness();
  route = await serveCallbackRoute();
  ops = opsRunner({
    env: localEnv(h.db.connectionString, {
      PORT: String(route.port),
      PROVISIONING_CALLBACK_SECRET: ROUTE_SECRET,
    }),
    collaborators: { clock: () => h.now(), osUser: () => 'alice' },
  });
});
afterAll(async () => {
  route.server.closeAllConnections();
  await new Promise((resolve) => route.server.close(resolve));
  await h.close();
});
beforeEach(() => {
  h.setSecret('callbackSecret', ROUTE_SECRET);
  route.received = 0;
});

const link = (session: string, ...extra: string[]) => [
  'link',
  session,
  '--deployment',
  'dpl_manual_1',
  '--cell',
  'cell-eu-1',
  ...extra,
];

describe('ops link: hand-linking a provisioned tenant (runbook 6a)', () => {
  it('replays the signed callback through the local route: job provisioned, account active, who and why kept', async () => {
    const job = await recordCheckout(h.deps.db, 'cs_test_link_ok', h.now());

    const result = await ops(
      [...link('cs_test_link_ok'), '--yes', '--json', '--reason', 'callback lost, INC-42'],
      { tty: false },
    );

    expect(result.code).toBe(0);
    expect(result.json()).toMatchObject({
      result: 'linked',
      via: 'callback_route',
      deployment_id: 'dpl_manual_1',
      cell_id: 'cell-eu-1',
      tokens_quota: GROWTH_QUOTA,
      account_status: 'active',
    });
    expect(route.received).toBe(1);
    expect(await jobColumns(h.deps.db, job.id)).toMatchObject({
      status: 'provisioned',
      deployment_id: 'dpl_manual_1',
      cell_id: 'cell-eu-1',
    });
    const history = await historyOf(h.deps.db, job.id);
    expect(history.map((e) => [e.kind, e.actor, e.reason])).toEqual([
      ['recorded', 'stripe', null],
      ['callback', 'orchestrator', null],
      ['operator_link', 'operator:alice', 'callback lost, INC-42'],
    ]);
  });

  it('reports a wrong signature secret as such, and nothing changes', async () => {
    const job = await recordCheckout(h.deps.db, 'cs_test_link_badsecret', h.now());
    const before = await historyOf(h.deps.db, job.id);

    const result = await ops([...link('cs_test_link_badsecret'), '--yes', '--reason', 'r'], {
      env: { PROVISIONING_CALLBACK_SECRET: 'not-the-route-secret' },
    });

    expect(result.code).toBe(3);
    expect(result.stderr).toContain('wrong signature secret');
    expect(result.stderr).toContain('401');
    expect(result.stderr).not.toContain('not-the-route-secret');
    expect(route.received).toBe(1);
    expect(await jobColumns(h.deps.db, job.id)).toMatchObject({ status: 'enqueued' });
    expect(await historyOf(h.deps.db, job.id)).toEqual(before);
  });

  it('tells a clock that is off from a wrong secret', async () => {
    await recordCheckout(h.deps.db, 'cs_test_link_skew', h.now());

    const result = await ops([...link('cs_test_link_skew'), '--yes', '--reason', 'r'], {
      collaborators: { clock: () => new Date(h.now().getTime() + 600_000) },
    });

    expect(result.code).toBe(3);
    expect(result.stderr).toContain("this machine's clock is off");
    expect(result.stderr).not.toContain('wrong signature secret');
  });

  it('never re-links a provisioned job to another deployment, and sends nothing', async () => {
    const job = await recordCheckout(h.deps.db, 'cs_test_link_other', h.now());
    await applyCallback(
      h.deps.db,
      {
        stripeSessionId: 'cs_test_link_other',
        status: 'provisioned',
        deploymentId: 'dpl_first',
        cellId: 'cell-a',
      },
      h.now(),
      DEFAULT_RULES,
    );
    const before = await historyOf(h.deps.db, job.id);

    const result = await ops([...link('cs_test_link_other'), '--yes', '--reason', 'r']);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('never re-linked');
    expect(route.received).toBe(0);
    expect(await jobColumns(h.deps.db, job.id)).toMatchObject({ deployment_id: 'dpl_first' });
    expect(await historyOf(h.deps.db, job.id)).toEqual(before);
  });

  it('says a job already linked to the same deployment needs nothing, and sends nothing', async () => {
    await recordCheckout(h.deps.db, 'cs_test_link_same', h.now());
    await applyCallback(
      h.deps.db,
      {
        stripeSessionId: 'cs_test_link_same',
        status: 'provisioned',
        deploymentId: 'dpl_manual_1',
        cellId: 'cell-eu-1',
      },
      h.now(),
      DEFAULT_RULES,
    );

    const result = await ops([...link('cs_test_link_same'), '--json']);

    expect(result.code).toBe(0);
    expect(result.json()).toMatchObject({ result: 'already_linked' });
    expect(route.received).toBe(0);
  });

  it('tells the operator to escalate a session the webhook never recorded, and sends nothing', async () => {
    const result = await ops([...link('cs_test_never_recorded'), '--yes', '--reason', 'r']);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('never recorded');
    expect(result.stderr).toContain('section 7');
    expect(route.received).toBe(0);
  });

  it('explains a 404 from the route as a session the webhook never recorded', async () => {
    await recordCheckout(h.deps.db, 'cs_test_link_404', h.now());
    const elsewhere = await loopbackServer(() => ({
      status: 404,
      body: JSON.stringify({ error: 'no provisioning job for stripe_session_id' }),
    }));
    try {
      const result = await ops([
        ...link('cs_test_link_404'),
        '--callback-url',
        `${elsewhere.url}${CALLBACK_PATH}`,
        '--yes',
        '--reason',
        'r',
      ]);

      expect(result.code).toBe(1);
      expect(result.stderr).toContain('the webhook never recorded this session');
      expect(result.stderr).toContain('Escalate');
      expect(elsewhere.requests).toHaveLength(1);
    } finally {
      await elsewhere.close();
    }
  });

  it('signs what it sends: timestamped HMAC-SHA256 hex over "<timestamp>.<body>"', async () => {
    await recordCheckout(h.deps.db, 'cs_test_link_sig', h.now());
    const stub = await loopbackServer(() => ({ status: 401, body: '{"error":"nope"}' }));
    try {
      await ops([
        ...link('cs_test_link_sig', '--quota', '5'),
        '--callback-url',
        `${stub.url}${CALLBACK_PATH}`,
        '--yes',
        '--reason',
        'r',
      ]);

      const [request] = stub.requests;
      const timestamp = String(request?.headers['x-provisioning-timestamp']);
      const { hmacHex } = await import('../../functions/core/signatures.js');
      expect(timestamp).toBe(String(Math.floor(h.now().getTime() / 1000)));
      expect(request?.headers['x-provisioning-signature']).toBe(
        hmacHex(ROUTE_SECRET, `${timestamp}.${request?.body}`),
      );
      expect(JSON.parse(request?.body ?? '')).toEqual({
        stripe_session_id: 'cs_test_link_sig',
        status: 'provisioned',
        deployment_id: 'dpl_manual_1',
        cell_id: 'cell-eu-1',
        tokens_quota: 5,
      });
    } finally {
      await stub.close();
    }
  });

  it('applies the link straight to the database with --direct, as the operator', async () => {
    const job = await recordCheckout(h.deps.db, 'cs_test_link_direct', h.now());

    const result = await ops([
      ...link('cs_test_link_direct', '--direct'),
      '--yes',
      '--json',
      '--reason',
      'route down',
    ]);

    expect(result.code).toBe(0);
    expect(result.json()).toMatchObject({ result: 'linked', via: 'direct' });
    expect(result.stderr).toContain('no job.provisioned lifecycle event');
    expect(route.received).toBe(0);
    const history = await historyOf(h.deps.db, job.id);
    expect(history.slice(1).map((e) => [e.kind, e.actor, e.reason])).toEqual([
      ['callback', 'operator:alice', null],
      ['operator_link', 'operator:alice', 'route down'],
    ]);
    expect((await readJob(h.deps.db, 'cs_test_link_direct'))?.account.status).toBe('active');
  });

  it('refuses a deployment id that is not dpl_… as a usage error, before anything', async () => {
    await recordCheckout(h.deps.db, 'cs_test_link_baddpl', h.now());

    const result = await ops([
      'link',
      'cs_test_link_baddpl',
      '--deployment',
      'deployment-7',
      '--cell',
      'c',
      '--yes',
      '--reason',
      'r',
    ]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('deployment_id');
    expect(route.received).toBe(0);
  });

  it('does nothing without --yes when stdin is not a terminal, and says so', async () => {
    const job = await recordCheckout(h.deps.db, 'cs_test_link_notty', h.now());

    const result = await ops([...link('cs_test_link_notty'), '--reason', 'r'], { tty: false });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--yes');
    expect(result.stdout).toContain('dpl_manual_1');
    expect(route.received).toBe(0);
    expect(await jobColumns(h.deps.db, job.id)).toMatchObject({ status: 'enqueued' });
  });

  it('asks at a terminal, and sends only on yes', async () => {
    const job = await recordCheckout(h.deps.db, 'cs_test_link_asked', h.now());

    const declined = await ops(link('cs_test_link_asked'), { input: ['lost callback', 'n'] });
    const accepted = await ops(link('cs_test_link_asked'), { input: ['lost callback', 'y'] });

    expect(declined.code).toBe(1);
    expect(declined.stderr).toContain('not confirmed');
    expect(accepted.code).toBe(0);
    expect(route.received).toBe(1);
    expect(await jobColumns(h.deps.db, job.id)).toMatchObject({ status: 'provisioned' });
  });
});

describe('ops callback-check: does the route verify what this side signs?', () => {
  it('says the route accepts the signature, writing nothing', async () => {
    const result = await ops(['callback-check', '--json']);

    expect(result.code).toBe(0);
    expect(result.json()).toEqual({
      result: 'signature_accepted',
      url: `http://localhost:${route.port}${CALLBACK_PATH}`,
      signed_with: 'callback secret',
    });
    expect(route.received).toBe(1);
  });

  it('reports a wrong signature secret (exit 3)', async () => {
    const result = await ops(['callback-check'], {
      env: { PROVISIONING_CALLBACK_SECRET: 'another-secret' },
    });

    expect(result.code).toBe(3);
    expect(result.stderr).toContain('wrong signature secret');
  });
});

describe('ops link --stack', () => {
  let stack: ReturnType<typeof mockStack>;
  let stackOps: ReturnType<typeof opsRunner>;
  const rotatedArn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:callback-next-XyZ';

  beforeAll(() => {
    stackOps = opsRunner({
      env: { AWS_REGION: 'us-east-1' },
      collaborators: {
        clock: () => h.now(),
        rdsDataClient: () => h.bridge.client(),
        dataApiRetry: { baseDelayMs: 5, maxDelayMs: 20, budgetMs: 500 },
      },
    });
  });
  beforeEach(() => {
    stack = mockStack(stackOutputs({ CallbackUrl: route.url }));
  });
  afterEach(() => stack.restore());

  it("signs with the stack's callback secret, sends to its CallbackUrl, and records the caller's ARN", async () => {
    const job = await recordCheckout(h.deps.db, 'cs_test_stack_link', h.now());

    const result = await stackOps([
      ...link('cs_test_stack_link'),
      '--stack',
      STACK,
      '--yes',
      '--json',
      '--reason',
      'INC-7',
    ]);

    expect(result.code).toBe(0);
    expect(result.json()).toMatchObject({ result: 'linked', account_status: 'active' });
    expect(route.received).toBe(1);
    const history = await historyOf(h.deps.db, job.id);
    expect(history.at(-1)).toMatchObject({
      kind: 'operator_link',
      actor: `operator:${OPERATOR_ARN}`,
      reason: 'INC-7',
    });
  });

  it('reports a secret the route does not verify with (a rotation half done) as a wrong signature secret', async () => {
    const job = await recordCheckout(h.deps.db, 'cs_test_stack_rotated', h.now());
    h.secretsManager
      .on(GetSecretValueCommand, { SecretId: rotatedArn })
      .resolves({ SecretString: 'the-next-callback-secret' });
    stack.restore();
    stack = mockStack(stackOutputs({ CallbackUrl: route.url, CallbackSecretArn: rotatedArn }));

    const result = await stackOps([
      ...link('cs_test_stack_rotated'),
      '--stack',
      STACK,
      '--yes',
      '--reason',
      'r',
    ]);

    expect(result.code).toBe(3);
    expect(result.stderr).toContain('wrong signature secret');
    expect(result.stderr).toContain('callback secret');
    expect(await jobColumns(h.deps.db, job.id)).toMatchObject({ status: 'enqueued' });
  });

  it('falls back to the trigger secret when no callback secret is set, as the route does', async () => {
    h.setSecret('callbackSecret', undefined);
    h.setSecret('triggerSecret', 'shared-trigger-secret');

    const result = await stackOps(['callback-check', '--stack', STACK, '--json']);

    expect(result.code).toBe(0);
    expect(result.json()).toMatchObject({
      result: 'signature_accepted',
      signed_with: 'trigger secret (no callback secret is set)',
    });
  });
});
