import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  METRICS_NAMESPACE,
  serviceNameFor,
  TelemetryRegistry,
} from '../../functions/adapters/telemetry.js';
import type { SqlExecutor } from '../../functions/db/executor.js';
import { createCallbackHandler } from '../../functions/handlers/callback.js';
import {
  createJobCreateHandler,
  createJobReadHandler,
} from '../../functions/handlers/operator-jobs.js';
import { createStatusHandler } from '../../functions/handlers/status.js';
import { createStripeWebhookHandler } from '../../functions/handlers/stripe-webhook.js';
import { PowertoolsTelemetry } from '../../functions/observability.js';
import type { RouteName } from '../../functions/routes.js';
import {
  CALLBACK_URL,
  type Harness,
  handlerHarness,
  lambdaContext,
} from '../support/handler-harness.js';
import { httpEvent } from '../support/http-events.js';
import { checkoutEvent, signedCallback, signedStripeDelivery } from '../support/signed-requests.js';

/**
 * Every answer of every route is counted by class under the route's name: a 5xx the
 * error mapper answers never reaches Lambda's Errors metric, so `HttpServerError` is
 * what the paging alarm reads.
 */

const STRIPE_SECRET = 'whsec_http_answers';
const CALLBACK_SECRET = 'callback-secret-http-answers';

let h: Harness;

beforeAll(async () => {
  h = await handlerHarness();
  h.setSecret('stripeWebhookSecrets', STRIPE_SECRET);
  h.setSecret('callbackSecret', CALLBACK_SECRET);
});
afterAll(async () => {
  await h.close();
});

/** A database that fails every statement: the outage that must page. */
const failingDatabase: SqlExecutor = {
  execute: () => Promise.reject(new Error('connection terminated unexpectedly')),
  transaction: () => Promise.reject(new Error('connection terminated unexpectedly')),
};

function stripeDelivery() {
  return signedStripeDelivery(
    checkoutEvent(h.now(), 'cs_test_http_answers'),
    STRIPE_SECRET,
    h.now(),
  );
}

function callbackReport() {
  return signedCallback(
    { stripe_session_id: 'cs_test_http_answers', status: 'provisioning' },
    CALLBACK_SECRET,
    h.now(),
  );
}

type Route = {
  readonly name: RouteName;
  readonly handler: (
    db: SqlExecutor,
    telemetry: TelemetryRegistry,
  ) => (event: ReturnType<typeof httpEvent>) => Promise<{ statusCode?: number }>;
  /** A request the route refuses (4xx). */
  readonly refused: () => ReturnType<typeof httpEvent>;
  /** A request the route serves, which needs the database. */
  readonly served: () => ReturnType<typeof httpEvent>;
};

const call =
  <E>(
    handler: (
      event: E,
      context: ReturnType<typeof lambdaContext>,
    ) => Promise<{ statusCode?: number }>,
  ) =>
  (event: E) =>
    handler(event, lambdaContext());

const ROUTES: Route[] = [
  {
    name: 'stripeWebhook',
    handler: (db, telemetry) =>
      call(
        createStripeWebhookHandler({
          ...h.deps,
          db,
          telemetry,
          queue: h.queue,
          secrets: h.secrets,
          callbackUrl: CALLBACK_URL,
          stripeMode: 'test',
        }),
      ),
    refused: () =>
      httpEvent({ method: 'POST', path: '/api/webhooks/stripe', body: '{}', headers: {} }),
    served: stripeDelivery,
  },
  {
    name: 'callback',
    handler: (db, telemetry) =>
      call(createCallbackHandler({ ...h.deps, db, telemetry, secrets: h.secrets })),
    refused: () =>
      httpEvent({ method: 'POST', path: '/api/internal/provisioning/callback', body: '{}' }),
    served: callbackReport,
  },
  {
    name: 'status',
    handler: (db, telemetry) => call(createStatusHandler({ db, telemetry })),
    refused: () => httpEvent({ method: 'GET', path: '/api/provisioning/status?session_id=%00' }),
    served: () =>
      httpEvent({ method: 'GET', path: '/api/provisioning/status?session_id=cs_test_1' }),
  },
  {
    name: 'jobRead',
    handler: (db, telemetry) => call(createJobReadHandler({ db, telemetry })),
    refused: () =>
      httpEvent({
        method: 'GET',
        path: '/api/internal/provisioning/jobs/nope',
        pathParameters: { stripe_session_id: 'nope' },
      }),
    served: () =>
      httpEvent({
        method: 'GET',
        path: '/api/internal/provisioning/jobs/cs_test_1',
        pathParameters: { stripe_session_id: 'cs_test_1' },
      }),
  },
  {
    name: 'jobCreate',
    handler: (db, telemetry) =>
      call(
        createJobCreateHandler({
          ...h.deps,
          db,
          telemetry,
          queue: h.queue,
          callbackUrl: CALLBACK_URL,
        }),
      ),
    // Refused before any statement: no Idempotency-Key.
    refused: () =>
      httpEvent({
        method: 'POST',
        path: '/api/internal/provisioning/jobs',
        body: JSON.stringify({ package_slug: 'growth', customer_email: 'a@example.com' }),
      }),
    served: () =>
      httpEvent({
        method: 'POST',
        path: '/api/internal/provisioning/jobs',
        headers: { 'idempotency-key': 'http-answers-1' },
        body: JSON.stringify({ package_slug: 'growth', customer_email: 'a@example.com' }),
      }),
  },
];

describe('every HTTP route counts its answers by class, under its own name', () => {
  it.each(ROUTES)(
    '$name: a database outage answers 500 and is counted as HttpServerError',
    async (route) => {
      const telemetry = new TelemetryRegistry();

      const answer = await route.handler(failingDatabase, telemetry)(route.served());

      expect(answer.statusCode).toBe(500);
      expect(telemetry.countedFor('HttpServerError', { route: route.name })).toBe(1);
      expect(telemetry.countedFor('HttpClientError', { route: route.name })).toBe(0);
    },
  );

  it.each(ROUTES)(
    '$name: a refused request is counted as HttpClientError, never as a server error',
    async (route) => {
      const telemetry = new TelemetryRegistry();

      const answer = await route.handler(h.deps.db, telemetry)(route.refused());

      expect(answer.statusCode).toBeGreaterThanOrEqual(400);
      expect(answer.statusCode).toBeLessThan(500);
      expect(telemetry.countedFor('HttpClientError', { route: route.name })).toBe(1);
      expect(telemetry.dimensioned.get('HttpServerError')).toBeUndefined();
    },
  );
});

describe('in Lambda', () => {
  it('a route’s count is its own EMF document, with the stage’s service and the route as dimensions', () => {
    const written: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    const metrics = new Metrics({
      namespace: METRICS_NAMESPACE,
      serviceName: serviceNameFor('prod'),
    });

    try {
      new PowertoolsTelemetry(metrics).countFor('HttpServerError', { route: 'callback' });
    } finally {
      write.mockRestore();
    }

    const documents = written.map((line) => JSON.parse(line));
    expect(documents).toHaveLength(1);
    expect(documents[0]).toMatchObject({
      service: 'provisioning-handoff-prod',
      route: 'callback',
      HttpServerError: 1,
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: 'ProvisioningHandoff',
            Dimensions: [expect.arrayContaining(['service', 'route'])],
          },
        ],
      },
    });
  });
});
