import { readFileSync } from 'node:fs';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler } from '../../functions/handlers/openapi.js';
import { ROUTES } from '../../functions/routes.js';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.js';
import { CapturingLog, lambdaContext } from '../support/handler-harness.js';
import { httpEvent } from '../support/http-events.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';

/** `GET /api/openapi.json` serves the checked-in document, in Lambda and locally alike. */
const checkedIn = JSON.parse(
  readFileSync(new URL('../../contract/openapi.json', import.meta.url), 'utf8'),
);

let db: TestDatabase;
let runtime: LocalRuntime;

beforeAll(async () => {
  db = await freshDatabase({ migrated: false });
  runtime = await startLocalRuntime(
    { DATABASE_URL: db.connectionString, PORT: '0', SANDBOX_ORCHESTRATOR: 'off' },
    new CapturingLog(),
  );
}, 60_000);
afterAll(async () => {
  await runtime?.stop();
  await db?.close();
});

describe('GET /api/openapi.json', () => {
  it('answers the checked-in document from the Lambda entry point, with nothing configured', async () => {
    const answer = (await handler(
      httpEvent({ method: 'GET', path: ROUTES.openApi.path }),
      lambdaContext(),
    )) as APIGatewayProxyStructuredResultV2;

    expect(answer.statusCode).toBe(200);
    expect(answer.headers).toMatchObject({
      'content-type': 'application/json',
      'access-control-allow-origin': '*',
    });
    expect(JSON.parse(answer.body ?? '')).toEqual(checkedIn);
  });

  it('answers the same document from the local runtime', async () => {
    const response = await fetch(`${runtime.url}${ROUTES.openApi.path}`);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual(checkedIn);
  });
});
