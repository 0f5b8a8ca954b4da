import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, APIGatewayProxyEventV2WithIAMAuthorizer } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RULES } from '../../functions/core/rules.js';
import { recordSettledCheckout } from '../../functions/db/jobs/checkout-records.js';
import {
  createJobCreateHandler,
  createJobReadHandler,
} from '../../functions/handlers/operator-jobs.js';
import {
  CALLBACK_URL,
  type Harness,
  handlerHarness,
  lambdaContext,
} from '../support/handler-harness.js';
import { httpEvent } from '../support/http-events.js';
import { uniqueId } from '../support/signed-requests.js';

const OPERATOR_ARN = 'arn:aws:sts::123456789012:assumed-role/operators/ada';

let h: Harness;
let readJob: ReturnType<typeof createJobReadHandler>;
let createJob: ReturnType<typeof createJobCreateHandler>;

beforeAll(async () => {
  h = await handlerHarness();
  readJob = createJobReadHandler({ db: h.deps.db, telemetry: h.telemetry });
  createJob = createJobCreateHandler({ ...h.deps, queue: h.queue, callbackUrl: CALLBACK_URL });
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  h.sqs.reset();
  h.sqs.resolves({});
  h.telemetry.counters.clear();
  h.log.entries.length = 0;
});

/** An operator's request as API Gateway delivers it after IAM authorisation. */
function asOperator(event: APIGatewayProxyEventV2, userArn = OPERATOR_ARN): APIGatewayProxyEventV2 {
  const authorised: APIGatewayProxyEventV2WithIAMAuthorizer = {
    ...event,
    requestContext: {
      ...event.requestContext,
      authorizer: {
        iam: {
          accessKey: 'ASIATEST',
          accountId: '123456789012',
          callerId: 'AROATEST:ada',
          cognitoIdentity: null,
          principalOrgId: 'o-test',
          userArn,
          userId: 'AROATEST:ada',
        },
      },
    },
  };
  return authorised;
}

async function post(
  body: unknown,
  options: { key?: string | undefined; raw?: string; operator?: boolean } = {},
) {
  const event = httpEvent({
    method: 'POST',
    path: '/api/internal/provisioning/jobs',
    headers: {
      'Content-Type': 'application/json',
      ...(options.key === undefined ? {} : { 'Idempotency-Key': options.key }),
    },
    body: options.raw ?? JSON.stringify(body),
  });
  const response = await createJob(
    options.operator === false ? event : asOperator(event),
    lambdaContext(),
  );
  return { statusCode: response.statusCode, body: JSON.parse(response.body ?? '{}') };
}

async function get(sessionId: string) {
  const response = await readJob(
    asOperator(
      httpEvent({
        method: 'GET',
        path: `/api/internal/provisioning/jobs/${sessionId}`,
        route: '/api/internal/provisioning/jobs/{stripe_session_id}',
        pathParameters: { stripe_session_id: sessionId },
      }),
    ),
    lambdaContext(),
  );
  return { statusCode: response.statusCode, body: JSON.parse(response.body ?? '{}') };
}

function comp(email = `${uniqueId('tenant')}@example.com`) {
  return { package_slug: 'scale', customer_email: email, reason: 'partner programme' };
}

async function jobById(jobId: string) {
  const { rows } = await h.db.pool.query('SELECT * FROM provisioning_jobs WHERE id = $1', [jobId]);
  return rows[0];
}

async function count(sql: string, ...params: unknown[]): Promise<number> {
  const { rows } = await h.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n ${sql}`, params);
  return rows[0]?.n ?? 0;
}

function sends() {
  return h.sqs.commandCalls(SendMessageCommand).map((call) => call.args[0].input);
}

async function rejectionsFor(reference: string | null) {
  const { rows } = await h.db.pool.query(
    reference === null
      ? 'SELECT source, reason FROM rejected_inputs WHERE reference IS NULL ORDER BY id'
      : 'SELECT source, reason FROM rejected_inputs WHERE reference = $1 ORDER BY id',
    reference === null ? [] : [reference],
  );
  return rows;
}

describe('reading a job', () => {
  it('answers the job row, its account and its history', async () => {
    const sessionId = `cs_test_${uniqueId('read')}`;
    const { job } = await recordSettledCheckout(
      h.deps.db,
      {
        stripeSessionId: sessionId,
        stripeCustomerId: 'cus_1',
        customerEmail: 'a@example.com',
        packageSlug: 'starter',
        callbackUrl: CALLBACK_URL,
      },
      h.now(),
      DEFAULT_RULES.handoffLeaseSeconds,
    );

    const { statusCode, body } = await get(sessionId);

    expect(statusCode).toBe(200);
    expect(body.job).toMatchObject({
      id: job.id,
      stripe_session_id: sessionId,
      status: 'enqueued',
      attempts: 1,
      package_slug: 'starter',
      tokens_quota: 100_000,
      last_error: null,
    });
    expect(body.account).toMatchObject({
      id: job.account_id,
      status: 'pending',
      email: 'a@example.com',
    });
    expect(body.history).toEqual([
      expect.objectContaining({ job_id: job.id, kind: 'recorded', actor: 'stripe' }),
    ]);
  });

  it('answers 404 for a session without a job', async () => {
    expect(await get('cs_test_nobody_here')).toEqual({
      statusCode: 404,
      body: { error: 'no provisioning job for stripe_session_id' },
    });
  });

  it('refuses a malformed session id with a 400 that names it', async () => {
    const { statusCode, body } = await get('not a session');

    expect(statusCode).toBe(400);
    expect(body.error).toMatch(/^stripe_session_id: /);
  });
});

describe('asking for a job', () => {
  it('records the job under a synthetic session, hands it off and answers 202 with where to follow it', async () => {
    const request = comp();

    const { statusCode, body } = await post(request, { key: uniqueId('key') });

    expect(statusCode).toBe(202);
    const job = await jobById(body.jobId);
    expect(job.stripe_session_id).toMatch(/^op_[0-9a-f]{32}$/);
    expect(body).toEqual({
      jobId: job.id,
      statusUrl: `/api/provisioning/status?session_id=${job.stripe_session_id}`,
    });
    expect(job).toMatchObject({ status: 'enqueued', attempts: 1, tokens_quota: 10_000_000 });
    expect(job.trigger_payload).toMatchObject({
      customer_email: request.customer_email,
      package_slug: 'scale',
      callback_url: CALLBACK_URL,
    });
    const messages = sends();
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      MessageGroupId: job.id,
      MessageDeduplicationId: `${job.id}:1`,
    });
    const read = await get(job.stripe_session_id);
    expect(read.body.history).toEqual([
      expect.objectContaining({
        kind: 'recorded',
        actor: `operator:${OPERATOR_ARN}`,
        reason: 'partner programme',
      }),
    ]);
  });

  it('answers the same job for the same key and body, without a second hand-off', async () => {
    const key = uniqueId('key');
    const request = comp();

    const first = await post(request, { key });
    const reordered = JSON.stringify({
      reason: request.reason,
      customer_email: request.customer_email,
      package_slug: request.package_slug,
    });
    const again = await post(undefined, { key, raw: `  ${reordered}\n` });

    expect(again).toEqual(first);
    expect(again.statusCode).toBe(202);
    expect(await count('FROM provisioning_jobs WHERE id = $1', first.body.jobId)).toBe(1);
    expect(sends()).toHaveLength(1);
  });

  it('refuses the same key with another body with a 409 that names the key', async () => {
    const key = uniqueId('key');
    const first = await post(comp(), { key });
    const jobsBefore = await count('FROM provisioning_jobs');

    const conflict = await post({ ...comp(), package_slug: 'growth' }, { key });

    expect(conflict).toEqual({
      statusCode: 409,
      body: { error: `Idempotency-Key '${key}' was already used with a different body` },
    });
    expect(await count('FROM provisioning_jobs')).toBe(jobsBefore);
    expect((await jobById(first.body.jobId)).package_slug).toBe('scale');
    expect(sends()).toHaveLength(1);
  });

  it('gives one job and one hand-off for 20 concurrent identical requests', async () => {
    const key = uniqueId('key');
    const request = comp();

    const responses = await Promise.all(Array.from({ length: 20 }, () => post(request, { key })));

    expect(responses.map((r) => r.statusCode)).toEqual(Array(20).fill(202));
    expect(new Set(responses.map((r) => r.body.jobId)).size).toBe(1);
    expect(await count('FROM operator_requests WHERE idempotency_key = $1', key)).toBe(1);
    const job = await jobById(responses[0]?.body.jobId);
    expect(
      await count('FROM provisioning_jobs WHERE stripe_session_id = $1', job.stripe_session_id),
    ).toBe(1);
    expect(sends()).toHaveLength(1);
  });

  it('gives distinct jobs for distinct keys, even with the same body', async () => {
    const request = comp();

    const first = await post(request, { key: uniqueId('key') });
    const second = await post(request, { key: uniqueId('key') });

    expect(first.body.jobId).not.toBe(second.body.jobId);
    expect(sends()).toHaveLength(2);
  });

  it('records who asked as operator:unknown when there is no IAM identity', async () => {
    const { body } = await post(comp(), { key: uniqueId('key'), operator: false });

    const job = await jobById(body.jobId);
    const read = await get(job.stripe_session_id);
    expect(read.body.history[0].actor).toBe('operator:unknown');
  });

  it('answers 202 when the queue send fails; the job waits for the reconciler', async () => {
    h.sqs.reset();
    h.sqs.rejects(new Error('SQS unavailable'));

    const { statusCode, body } = await post(comp(), { key: uniqueId('key') });

    expect(statusCode).toBe(202);
    expect(await jobById(body.jobId)).toMatchObject({ status: 'enqueued', attempts: 1 });
    expect(h.telemetry.counters.get('HandoffEnqueueFailed')).toBe(1);
  });
});

describe('refusing a bad request', () => {
  async function nothingWritten(run: () => Promise<unknown>) {
    const before = {
      jobs: await count('FROM provisioning_jobs'),
      accounts: await count('FROM customer_accounts'),
      requests: await count('FROM operator_requests'),
    };
    await run();
    return {
      jobs: (await count('FROM provisioning_jobs')) - before.jobs,
      accounts: (await count('FROM customer_accounts')) - before.accounts,
      requests: (await count('FROM operator_requests')) - before.requests,
      sends: sends().length,
    };
  }
  const NOTHING = { jobs: 0, accounts: 0, requests: 0, sends: 0 };

  it('requires an Idempotency-Key and says so', async () => {
    let response: Awaited<ReturnType<typeof post>> | undefined;
    const rejectionsBefore = (await rejectionsFor(null)).length;

    const written = await nothingWritten(async () => {
      response = await post(comp());
    });

    expect(response).toEqual({
      statusCode: 400,
      body: { error: 'Idempotency-Key: header is required' },
    });
    expect(written).toEqual(NOTHING);
    expect((await rejectionsFor(null)).slice(rejectionsBefore)).toEqual([
      { source: 'operator_api', reason: 'Idempotency-Key: header is required' },
    ]);
    expect(h.telemetry.counters.get('InputRejected')).toBe(1);
  });

  it('refuses an overlong Idempotency-Key', async () => {
    const response = await post(comp(), { key: 'k'.repeat(256) });

    expect(response.statusCode).toBe(400);
    expect(response.body.error).toMatch(/^Idempotency-Key: /);
  });

  it.each([
    ['a malformed email', { customer_email: 'not-an-email' }, /^customer_email: /],
    ['a missing package', { package_slug: undefined }, /^package_slug: /],
    ['an unknown field', { packageSlug: 'scale' }, /packageSlug/],
    ['an empty reason', { reason: '  ' }, /^reason: /],
  ])('refuses %s with a 400 naming the field, and records why', async (_, change, message) => {
    const key = uniqueId('key');
    let response: Awaited<ReturnType<typeof post>> | undefined;

    const written = await nothingWritten(async () => {
      response = await post({ ...comp(), ...change }, { key });
    });

    expect(response?.statusCode).toBe(400);
    expect(response?.body.error).toMatch(message);
    expect(written).toEqual(NOTHING);
    expect(await rejectionsFor(key)).toEqual([
      { source: 'operator_api', reason: expect.stringMatching(message) },
    ]);
  });

  it('refuses a package the catalogue does not sell, which the operator can fix', async () => {
    const key = uniqueId('key');
    let response: Awaited<ReturnType<typeof post>> | undefined;

    const written = await nothingWritten(async () => {
      response = await post({ ...comp(), package_slug: 'platinum' }, { key });
    });

    expect(response).toEqual({
      statusCode: 400,
      body: { error: "package_slug: no package 'platinum' in the catalogue" },
    });
    expect(written).toEqual(NOTHING);
    expect(await rejectionsFor(key)).toHaveLength(1);
  });

  it('refuses a body that is not JSON', async () => {
    const response = await post(undefined, { key: uniqueId('key'), raw: 'package_slug=scale' });

    expect(response).toEqual({ statusCode: 400, body: { error: 'body: must be a JSON object' } });
  });

  it('lets the same key succeed once the request is corrected', async () => {
    const key = uniqueId('key');
    await post({ ...comp(), package_slug: 'platinum' }, { key });

    const corrected = await post(comp(), { key });

    expect(corrected.statusCode).toBe(202);
  });
});
