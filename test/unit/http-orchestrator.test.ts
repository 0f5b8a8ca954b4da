import { createHmac } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpOrchestratorTrigger } from '../../functions/adapters/http-orchestrator.js';
import { EnvironmentSecretSource } from '../../functions/adapters/secrets.js';
import { checkProvisioningSignature } from '../../functions/core/signatures.js';
import { freePort } from '../../local/free-port.js';

/**
 * The trigger client (SPEC 2.3) against a real HTTP server on loopback: what the
 * orchestrator receives, and how each answer (or its absence) is classified.
 */

const SECRET = 'trigger-secret-for-unit-tests';
const NOW = new Date('2026-11-23T10:00:00.000Z');
const JOB_ID = '6f1c2a4e-8b3d-4e5f-9a7b-1c2d3e4f5a6b';
const PAYLOAD = {
  job_id: JOB_ID,
  stripe_session_id: 'cs_test_trigger',
  account_id: '0b9e8d7c-6a5f-4e3d-8c2b-1a0f9e8d7c6b',
  package_slug: 'growth',
  tokens_quota: 1_100_000,
  customer_email: 'buyer@example.com',
  callback_url: 'https://handoff.example.com/api/internal/provisioning/callback',
};

interface ReceivedRequest {
  readonly method: string | undefined;
  readonly path: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** How the fake orchestrator answers the next requests; a test sets it in Prepare. */
let answer: (path: string | undefined, response: ServerResponse) => void;
let received: ReceivedRequest[];
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({
        method: request.method,
        path: request.url,
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      answer(request.url, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  // A request left unanswered on purpose would otherwise hold the server open.
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  received = [];
  answer = (_path, response) => response.writeHead(202).end('{"accepted":true}');
});

function orchestrator(
  options: { url?: string | undefined; secret?: string | undefined; timeoutMs?: number } = {},
) {
  const url = 'url' in options ? options.url : `${baseUrl}/trigger/onboarding`;
  const secret = 'secret' in options ? options.secret : SECRET;
  return new HttpOrchestratorTrigger({
    url,
    secrets: new EnvironmentSecretSource({ PROVISIONING_TRIGGER_SECRET: secret }),
    timeoutMs: options.timeoutMs ?? 2_000,
    clock: () => NOW,
  });
}

async function trigger(client = orchestrator()) {
  return (await client.trigger({ jobId: JOB_ID, payload: PAYLOAD })).outcome;
}

describe('the trigger the orchestrator receives', () => {
  it('is a signed JSON POST of the stored payload, keyed by the job id', async () => {
    const outcome = await trigger();

    expect(outcome).toBe('accepted');
    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe('/trigger/onboarding');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['idempotency-key']).toBe(JOB_ID);
    expect(JSON.parse(request?.body ?? '')).toEqual(PAYLOAD);
  });

  it('carries a timestamped signature the orchestrator can verify with the trigger secret', async () => {
    await trigger();

    const [request] = received;
    const timestamp = request?.headers['x-provisioning-timestamp'];
    const signature = request?.headers['x-provisioning-signature'];
    expect(timestamp).toBe(String(Math.floor(NOW.getTime() / 1000)));
    // As the orchestrator's docs compute it: openssl dgst -sha256 -hmac over "<timestamp>.<body>".
    expect(signature).toBe(
      createHmac('sha256', SECRET).update(`${timestamp}.${request?.body}`).digest('hex'),
    );
    const verify = (secret: string) =>
      checkProvisioningSignature({
        rawBody: request?.body ?? '',
        signature: typeof signature === 'string' ? signature : undefined,
        timestamp: typeof timestamp === 'string' ? timestamp : undefined,
        secrets: [secret],
        now: NOW,
      });
    expect(verify(SECRET)).toBe('valid');
    expect(verify('another-secret')).toBe('mismatch');
  });
});

describe('how an answer is classified', () => {
  it.each([200, 201, 202, 204])('%i is accepted', async (status) => {
    answer = (_path, response) => response.writeHead(status).end();

    expect(await trigger()).toBe('accepted');
  });

  it.each([400, 401, 403, 404, 409, 422, 429])(
    '%i is http_4xx, with its status',
    async (status) => {
      answer = (_path, response) => response.writeHead(status).end('{"error":"refused"}');

      const result = await orchestrator().trigger({ jobId: JOB_ID, payload: PAYLOAD });

      expect(result).toEqual({ outcome: 'http_4xx', httpStatus: status });
    },
  );

  it.each([
    ['120', 120],
    ['Mon, 23 Nov 2026 10:02:00 GMT', 120],
    ['soon', undefined],
  ])('carries the Retry-After %s of a 429 as %s seconds', async (header, seconds) => {
    answer = (_path, response) => response.writeHead(429, { 'retry-after': header }).end();

    const result = await orchestrator().trigger({ jobId: JOB_ID, payload: PAYLOAD });

    expect(result.retryAfterSeconds).toBe(seconds);
  });

  it.each([500, 502, 503, 504])('%i is http_5xx', async (status) => {
    answer = (_path, response) => response.writeHead(status).end('upstream trouble');

    expect(await trigger()).toBe('http_5xx');
  });

  it('is not accepted on a redirect, which is not followed (http_4xx: the URL is misconfigured)', async () => {
    answer = (path, response) => {
      if (path === '/elsewhere') response.writeHead(202).end();
      else response.writeHead(307, { location: `${baseUrl}/elsewhere` }).end();
    };

    const outcome = await trigger();

    expect(outcome).toBe('http_4xx');
    expect(received.map((request) => request.path)).toEqual(['/trigger/onboarding']);
  });

  it('is timeout when the orchestrator does not answer in time', async () => {
    answer = () => {
      // Never answers.
    };
    const started = Date.now();

    const outcome = await trigger(orchestrator({ timeoutMs: 150 }));

    expect(outcome).toBe('timeout');
    expect(received).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('is fetch_error when nothing listens at the trigger URL', async () => {
    const closedPort = await freePort();

    const outcome = await trigger(orchestrator({ url: `http://127.0.0.1:${closedPort}/trigger` }));

    expect(outcome).toBe('fetch_error');
  });

  it('is trigger_not_configured, with nothing sent, when the URL is unset', async () => {
    expect(await trigger(orchestrator({ url: undefined }))).toBe('trigger_not_configured');
    expect(received).toEqual([]);
  });

  it('is trigger_not_configured, with nothing sent, when the trigger secret is unset or blank', async () => {
    expect(await trigger(orchestrator({ secret: undefined }))).toBe('trigger_not_configured');
    expect(await trigger(orchestrator({ secret: '   ' }))).toBe('trigger_not_configured');
    expect(received).toEqual([]);
  });
});
