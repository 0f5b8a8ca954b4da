import { readFileSync } from 'node:fs';
import { Validator } from '@cfworker/json-schema';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signCallback } from '../../contract/callback.js';
import { createCallbackHandler } from '../../functions/handlers/callback.js';
import {
  createJobCreateHandler,
  createJobReadHandler,
} from '../../functions/handlers/operator-jobs.js';
import { createStatusHandler } from '../../functions/handlers/status.js';
import { createStripeWebhookHandler } from '../../functions/handlers/stripe-webhook.js';
import { ROUTES, type RouteName } from '../../functions/routes.js';
import {
  CALLBACK_URL,
  type Harness,
  handlerHarness,
  lambdaContext,
} from '../support/handler-harness.js';
import { httpEvent } from '../support/http-events.js';
import { checkoutEvent, signedStripeDelivery } from '../support/signed-requests.js';

/**
 * What the handlers really answer is what the checked-in OpenAPI document says: every
 * status code is listed for its operation, and every body validates against the listed
 * schema and has no field the schema does not name (fields may be added, but not
 * without being documented). Exercised over a checkout's whole life.
 */
type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: unknown;
  anyOf?: JsonSchema[];
  items?: JsonSchema;
};
type Operation = {
  responses: Record<string, { content?: Record<string, { schema: JsonSchema }> }>;
};
const document = JSON.parse(
  readFileSync(new URL('../../contract/openapi.json', import.meta.url), 'utf8'),
) as {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, JsonSchema> };
};

/** Field names present in `value` that `schema` neither names nor leaves open. */
function undocumentedFields(value: unknown, schema: JsonSchema, at = ''): string[] {
  if (Array.isArray(value) && schema.items) {
    return value.flatMap((item, i) => undocumentedFields(item, schema.items ?? {}, `${at}[${i}]`));
  }
  if (typeof value !== 'object' || value === null) return [];
  const objectSchema = schema.anyOf?.find((branch) => branch.type === 'object') ?? schema;
  const properties = objectSchema.properties ?? {};
  return Object.entries(value).flatMap(([key, field]) => {
    const fieldSchema = properties[key];
    if (fieldSchema) return undocumentedFields(field, fieldSchema, `${at}.${key}`);
    return objectSchema.additionalProperties === undefined ? [`${at}.${key}`] : [];
  });
}

function expectDocumented(route: RouteName, answer: APIGatewayProxyStructuredResultV2) {
  const { method, path } = ROUTES[route];
  const operation = document.paths[path]?.[method.toLowerCase()];
  const listed = operation?.responses[String(answer.statusCode)];
  expect(listed, `${method} ${path} answered ${answer.statusCode}, not documented`).toBeDefined();
  const ref = listed?.content?.['application/json']?.schema.$ref ?? '';
  const schema = document.components.schemas[ref.replace('#/components/schemas/', '')] ?? {};
  const body = JSON.parse(answer.body ?? 'null');
  const result = new Validator(schema as never, '2020-12', false).validate(body);

  expect(result.errors.map((error) => error.error)).toEqual([]);
  expect(undocumentedFields(body, schema)).toEqual([]);
  return body;
}

const WEBHOOK_SECRET = 'whsec_answers_test';
const CALLBACK_SECRET = 'answers-callback-secret';
const SESSION = 'cs_test_answers_1';
let h: Harness;
let call: (route: RouteName, event: APIGatewayProxyEventV2) => Promise<unknown>;

beforeAll(async () => {
  h = await handlerHarness();
  h.setSecret('stripeWebhookSecrets', WEBHOOK_SECRET);
  h.setSecret('callbackSecret', CALLBACK_SECRET);
  const withQueue = { ...h.deps, queue: h.queue, callbackUrl: CALLBACK_URL };
  const handlers = {
    stripeWebhook: createStripeWebhookHandler({
      ...withQueue,
      secrets: h.secrets,
      stripeMode: 'test',
    }),
    callback: createCallbackHandler({ ...h.deps, secrets: h.secrets }),
    status: createStatusHandler(h.deps),
    jobRead: createJobReadHandler(h.deps),
    jobCreate: createJobCreateHandler(withQueue),
  };
  call = async (route, event) => {
    const handler = handlers[route as keyof typeof handlers];
    return expectDocumented(route, await handler(event, lambdaContext()));
  };
});
afterAll(async () => {
  await h.close();
});

function stripeDelivery(eventId: string) {
  const event = { ...checkoutEvent(h.now(), SESSION), id: eventId };
  return signedStripeDelivery(event, WEBHOOK_SECRET, h.now());
}

function callback(report: Parameters<typeof signCallback>[0], secret = CALLBACK_SECRET) {
  const { body, headers } = signCallback(report, secret, h.now());
  return httpEvent({ method: 'POST', path: ROUTES.callback.path, headers, body });
}

const status = (sessionId: string) =>
  httpEvent({
    method: 'GET',
    path: `${ROUTES.status.path}?session_id=${encodeURIComponent(sessionId)}`,
  });

const jobRead = (sessionId: string) =>
  httpEvent({
    method: 'GET',
    path: ROUTES.jobRead.path.replace('{stripe_session_id}', sessionId),
    route: ROUTES.jobRead.path,
    pathParameters: { stripe_session_id: sessionId },
  });

const jobCreate = (body: object) =>
  httpEvent({
    method: 'POST',
    path: ROUTES.jobCreate.path,
    headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'answers-key-1' },
    body: JSON.stringify(body),
  });

describe('every answer is documented', () => {
  it('over a checkout, from the webhook to provisioned', async () => {
    expect(await call('stripeWebhook', stripeDelivery('evt_answers_1'))).toMatchObject({
      outcome: 'recorded',
    });
    expect(await call('stripeWebhook', stripeDelivery('evt_answers_1'))).toMatchObject({
      outcome: 'duplicate',
    });
    expect(await call('status', status(SESSION))).toEqual({ session_id: SESSION, state: 'queued' });

    await call(
      'callback',
      callback({ stripe_session_id: SESSION, status: 'provisioning', phase: 'database' }),
    );
    expect(await call('status', status(SESSION))).toEqual({
      session_id: SESSION,
      state: 'running',
      phase: 'database',
    });
    expect(
      await call(
        'callback',
        callback({
          stripe_session_id: SESSION,
          status: 'provisioned',
          deployment_id: 'dpl_answers',
          cell_id: 'cell-1',
          database: { id: 'db_answers', status: 'ready' },
        }),
      ),
    ).toEqual({ ok: true, status: 'provisioned' });

    const report = (await call('jobRead', jobRead(SESSION))) as { history: unknown[] };
    expect(report.history.length).toBeGreaterThanOrEqual(3);
  });

  it('for the refusals: unknown sessions, bad signatures, malformed bodies, reused keys', async () => {
    expect(await call('status', status('cs_test_nobody'))).toMatchObject({ state: 'unknown' });
    await call('status', status('not-a-session'));
    await call('jobRead', jobRead('cs_test_nobody'));
    await call('callback', callback({ stripe_session_id: 'cs_test_nobody', status: 'failed' }));
    await call(
      'callback',
      callback({ stripe_session_id: SESSION, status: 'failed' }, 'not-the-secret'),
    );
    await call(
      'callback',
      httpEvent({ method: 'POST', path: ROUTES.callback.path, body: '{"status":"done"}' }),
    );

    const request = { package_slug: 'growth', customer_email: 'comped@example.com' };
    expect(await call('jobCreate', jobCreate(request))).toMatchObject({
      statusUrl: expect.stringContaining(ROUTES.status.path),
    });
    expect(
      await call('jobCreate', jobCreate({ ...request, customer_email: 'other@example.com' })),
    ).toMatchObject({ error: expect.stringContaining('Idempotency-Key') });
  });
});
