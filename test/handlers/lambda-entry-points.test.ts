import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { upsertPackage } from '../../functions/db/catalogue-repository.js';
import { DataApiBridge } from '../support/data-api-bridge.js';
import { TEST_DATA_API_TARGET } from '../support/executors.js';
import { lambdaContext, PACKAGES, QUEUE_URL, SECRET_ARNS } from '../support/handler-harness.js';
import { httpEvent } from '../support/http-events.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';

/**
 * The `handler` exports Lambda invokes, built from nothing but the environment the
 * stack sets: the wiring in functions/aws.ts is exercised as deployed (AWS clients
 * mocked, the Data API answered by the bridge over a real PostgreSQL).
 */
const WEBHOOK_SECRET = 'whsec_entry_point_test';
const sqs = mockClient(SQSClient);
const eventBridge = mockClient(EventBridgeClient);
const secretsManager = mockClient(SecretsManagerClient);
const ssm = mockClient(SSMClient);
const QUIET_PARAMETER = '/provisioning/test/reconciler-quiet';
let db: TestDatabase;
let bridge: DataApiBridge;

type Handler = (event: unknown, context: unknown) => Promise<unknown>;
// Imported only once the environment is set, as Lambda loads them.
const MODULES = {
  status: () => import('../../functions/handlers/status.js'),
  watchdog: () => import('../../functions/handlers/watchdog.js'),
  reconcile: () => import('../../functions/handlers/reconcile.js'),
  'stripe-webhook': () => import('../../functions/handlers/stripe-webhook.js'),
};
async function entryPoint(module: keyof typeof MODULES): Promise<Handler> {
  const { handler } = (await MODULES[module]()) as unknown as { handler: Handler };
  return handler;
}

beforeAll(async () => {
  db = await freshDatabase();
  bridge = new DataApiBridge({ pool: db.pool });
  bridge.serveEveryClient();
  for (const pkg of PACKAGES) await upsertPackage(db.executor, pkg);
  sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
  eventBridge.resolves({ FailedEntryCount: 0, Entries: [] });
  ssm
    .on(GetParameterCommand, { Name: QUIET_PARAMETER })
    .resolves({ Parameter: { Name: QUIET_PARAMETER, Value: 'awake' } });
  ssm.on(PutParameterCommand, { Name: QUIET_PARAMETER }).resolves({ Version: 2 });
  secretsManager
    .on(GetSecretValueCommand, { SecretId: SECRET_ARNS.stripeWebhookSecrets })
    .resolves({ SecretString: WEBHOOK_SECRET });
  // What the stack puts in the functions' environment (the watchdog gets no bus).
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIATEST',
    AWS_SECRET_ACCESS_KEY: 'test',
    DATABASE_RESOURCE_ARN: TEST_DATA_API_TARGET.resourceArn,
    DATABASE_SECRET_ARN: TEST_DATA_API_TARGET.secretArn,
    DATABASE_NAME: TEST_DATA_API_TARGET.database,
    HANDOFF_QUEUE_URL: QUEUE_URL,
    STRIPE_WEBHOOK_SECRET_ARN: SECRET_ARNS.stripeWebhookSecrets,
    STRIPE_MODE: 'test',
    RECONCILER_QUIET_PARAMETER: QUIET_PARAMETER,
    PUBLIC_BASE_URL: 'https://api.example.com',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
});

afterAll(async () => {
  sqs.restore();
  eventBridge.restore();
  secretsManager.restore();
  ssm.restore();
  await bridge.close();
  await db.close();
});

describe('the Lambda entry points, built from the environment', () => {
  it('the status route answers', async () => {
    const handler = await entryPoint('status');

    const answer = (await handler(
      httpEvent({ method: 'GET', path: '/api/provisioning/status?session_id=cs_test_nobody' }),
      lambdaContext(),
    )) as APIGatewayProxyStructuredResultV2;

    expect(answer.statusCode).toBe(200);
    expect(JSON.parse(answer.body ?? '{}')).toEqual({
      session_id: 'cs_test_nobody',
      state: 'unknown',
    });
  });

  it('the watchdog runs without an event bus, the reconciler (which announces capped jobs) with one', async () => {
    delete process.env.EVENT_BUS_NAME;
    const watchdog = await entryPoint('watchdog');
    process.env.EVENT_BUS_NAME = 'provisioning-lifecycle';
    vi.resetModules();
    const reconcile = await entryPoint('reconcile');

    const sweep = await watchdog({}, lambdaContext());
    // Too little time left to wait out a quiet time: the run arms it and returns.
    const run = await reconcile({}, lambdaContext(60_000));

    expect(sweep).toMatchObject({ event: 'provisioning.watchdog.run' });
    expect(run).toMatchObject({ event: 'provisioning.reconcile.run', stuck_total: 0 });
  });

  it('the Stripe webhook will not serve without knowing its Stripe mode', async () => {
    process.env.EVENT_BUS_NAME = 'provisioning-lifecycle';
    const mode = process.env.STRIPE_MODE;
    delete process.env.STRIPE_MODE;
    vi.resetModules();
    try {
      const handler = await entryPoint('stripe-webhook');

      await expect(async () =>
        handler(
          httpEvent({ method: 'POST', path: '/api/webhooks/stripe', body: '{}' }),
          lambdaContext(),
        ),
      ).rejects.toThrow(/STRIPE_MODE is required/);
    } finally {
      process.env.STRIPE_MODE = mode;
    }
  });

  it('the Stripe webhook records a paid checkout and hands it off with the public callback URL', async () => {
    process.env.EVENT_BUS_NAME = 'provisioning-lifecycle';
    // A fresh container: configuration is parsed once per module load.
    vi.resetModules();
    const handler = await entryPoint('stripe-webhook');
    const payload = JSON.stringify({
      id: 'evt_entry_point',
      object: 'event',
      type: 'checkout.session.completed',
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      data: {
        object: {
          id: 'cs_test_entry_point',
          object: 'checkout.session',
          mode: 'payment',
          payment_status: 'paid',
          customer: 'cus_1',
          customer_details: { email: 'a@example.com' },
          metadata: { package_slug: 'starter' },
        },
      },
    });
    const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET });

    const answer = (await handler(
      httpEvent({
        method: 'POST',
        path: '/api/webhooks/stripe',
        headers: { 'Stripe-Signature': signature },
        body: payload,
      }),
      lambdaContext(),
    )) as APIGatewayProxyStructuredResultV2;

    expect(answer.statusCode).toBe(200);
    const [send] = sqs.commandCalls(SendMessageCommand);
    const message = JSON.parse(send?.args[0].input.MessageBody ?? '{}');
    expect(send?.args[0].input.QueueUrl).toBe(QUEUE_URL);
    expect(message.triggerPayload.callback_url).toBe(
      'https://api.example.com/api/internal/provisioning/callback',
    );
  });
});
