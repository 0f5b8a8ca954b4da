import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { EnvironmentSecretSource } from '../../functions/adapters/secrets.js';
import {
  checkProvisioningSignature,
  signProvisioningBody,
} from '../../functions/core/signatures.js';
import {
  createSandboxTriggerHandler,
  runSandboxSaga,
  type SandboxTriggerDependencies,
} from '../../functions/handlers/sandbox-orchestrator.js';
import type { SagaJob } from '../../functions/sandbox/sandbox-orchestrator.js';
import { loopbackServer } from '../ops/ops-harness.js';
import { lambdaContext } from '../support/handler-harness.js';
import { httpEvent } from '../support/http-events.js';

const TRIGGER_SECRET = 'trigger-secret-sandbox-7c1e';
const CALLBACK_SECRET = 'callback-secret-sandbox-2b9d';
const secrets = new EnvironmentSecretSource({
  PROVISIONING_TRIGGER_SECRET: TRIGGER_SECRET,
  PROVISIONING_CALLBACK_SECRET: CALLBACK_SECRET,
});

function onboarding(callbackUrl: string) {
  return {
    job_id: randomUUID(),
    stripe_session_id: 'cs_test_sandbox',
    account_id: randomUUID(),
    package_slug: 'growth',
    tokens_quota: 1_100_000,
    customer_email: 'customer@example.com',
    callback_url: callbackUrl,
  };
}

function trigger(body: string, secret = TRIGGER_SECRET, path = '/trigger/onboarding') {
  const { timestamp, signature } = signProvisioningBody(body, secret, new Date());
  return httpEvent({
    method: 'POST',
    path,
    body,
    headers: {
      'X-Provisioning-Timestamp': timestamp,
      'X-Provisioning-Signature': signature,
      'Idempotency-Key': 'job',
    },
  });
}

function triggerHandler(overrides: Partial<SandboxTriggerDependencies> = {}) {
  const started: SagaJob[] = [];
  const handler = createSandboxTriggerHandler({
    secrets,
    mode: 'ok',
    retryAfterSeconds: 30,
    delayMs: 0,
    clock: () => new Date(),
    startSaga: async (job) => {
      started.push(job);
    },
    ...overrides,
  });
  return { handler, started };
}

/** Every callback the orchestrator side received verifies with this secret. */
function expectSignedWith(
  requests: readonly { body: string; headers: Record<string, unknown> }[],
  secret: string,
): void {
  for (const request of requests) {
    expect(
      checkProvisioningSignature({
        rawBody: request.body,
        signature: request.headers['x-provisioning-signature'] as string,
        timestamp: request.headers['x-provisioning-timestamp'] as string,
        secrets: [secret],
        now: new Date(),
      }),
    ).toBe('valid');
  }
}

let closeServer: (() => Promise<void>) | undefined;
afterEach(async () => {
  await closeServer?.();
  closeServer = undefined;
});

describe('the deployed sandbox orchestrator (sandboxOrchestrator: true)', () => {
  it('accepts a signed trigger at once and hands its saga on before answering', async () => {
    const { handler, started } = triggerHandler();
    const input = onboarding('https://handoff.example.com/api/internal/provisioning/callback');

    const answer = await handler(trigger(JSON.stringify(input)), lambdaContext());

    expect(answer.statusCode).toBe(202);
    expect(started).toEqual([{ input, mode: 'ok' }]);
  });

  it('refuses a trigger signed with another secret, and starts nothing', async () => {
    const { handler, started } = triggerHandler();

    const answer = await handler(
      trigger(JSON.stringify(onboarding('https://x.example.com/cb')), 'not-the-secret'),
      lambdaContext(),
    );

    expect(answer.statusCode).toBe(401);
    expect(started).toEqual([]);
  });

  it('answers by its mode as the local sandbox does: 503 when down, 429 with Retry-After when throttling', async () => {
    const body = JSON.stringify(onboarding('https://x.example.com/cb'));

    const down = await triggerHandler({ mode: 'down' }).handler(trigger(body), lambdaContext());
    const throttled = await triggerHandler({ mode: 'throttle' }).handler(
      trigger(body),
      lambdaContext(),
    );

    expect(down.statusCode).toBe(503);
    expect(throttled).toMatchObject({ statusCode: 429, headers: { 'retry-after': '30' } });
  });

  it('serves only POST /trigger/onboarding, and says 503 while it has no trigger secret', async () => {
    const body = JSON.stringify(onboarding('https://x.example.com/cb'));

    const elsewhere = await triggerHandler().handler(
      trigger(body, TRIGGER_SECRET, '/other'),
      lambdaContext(),
    );
    const unconfigured = await triggerHandler({
      secrets: new EnvironmentSecretSource({}),
    }).handler(trigger(body), lambdaContext());

    expect(elsewhere.statusCode).toBe(404);
    expect(unconfigured.statusCode).toBe(503);
  });

  it('reports the phases then the tenant, signed with the callback secret, the same tenant for the same job', async () => {
    const orchestratorSide = await loopbackServer(() => ({ status: 200, body: '{"ok":true}' }));
    closeServer = orchestratorSide.close;
    const input = onboarding(`${orchestratorSide.url}/api/internal/provisioning/callback`);
    const deps = { secrets, delayMs: 0, sagaHeartbeats: 1, clock: () => new Date() };

    await runSandboxSaga(deps, { input, mode: 'ok' });
    await runSandboxSaga(deps, { input, mode: 'ok' });

    const bodies = orchestratorSide.requests.map((request) => JSON.parse(request.body));
    expect(bodies.map((body) => body.status)).toEqual([
      'provisioning',
      'provisioning',
      'provisioned',
      'provisioning',
      'provisioning',
      'provisioned',
    ]);
    expect(bodies[2]).toMatchObject({
      stripe_session_id: 'cs_test_sandbox',
      deployment_id: expect.stringMatching(/^dpl_sandbox_[0-9a-f]{12}$/),
      cell_id: 'cell-sandbox-1',
      tokens_quota: 1_100_000,
    });
    expect(bodies[5].deployment_id).toBe(bodies[2].deployment_id);
    expectSignedWith(orchestratorSide.requests, CALLBACK_SECRET);
  });

  it('signs its callbacks with the new callback secret while a rotation holds "new,old", so the route accepts them', async () => {
    const orchestratorSide = await loopbackServer(() => ({ status: 200, body: '{"ok":true}' }));
    closeServer = orchestratorSide.close;
    const rotating = new EnvironmentSecretSource({
      PROVISIONING_TRIGGER_SECRET: TRIGGER_SECRET,
      PROVISIONING_CALLBACK_SECRET: `callback-secret-new-5f3a,${CALLBACK_SECRET}`,
    });
    const input = onboarding(`${orchestratorSide.url}/api/internal/provisioning/callback`);

    await runSandboxSaga(
      { secrets: rotating, delayMs: 0, sagaHeartbeats: 1, clock: () => new Date() },
      { input, mode: 'ok' },
    );

    expect(orchestratorSide.requests).toHaveLength(3);
    expectSignedWith(orchestratorSide.requests, 'callback-secret-new-5f3a');
  });

  it('refuses a saga invocation that is not a job', async () => {
    await expect(
      runSandboxSaga(
        { secrets, delayMs: 0, sagaHeartbeats: 1, clock: () => new Date() },
        { input: { job_id: 'nope' }, mode: 'ok' },
      ),
    ).rejects.toThrow(/input\.job_id/);
  });
});
