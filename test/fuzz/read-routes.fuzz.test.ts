import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobReadHandler } from '../../functions/handlers/operator-jobs.js';
import { createStatusHandler } from '../../functions/handlers/status.js';
import { httpEvent } from '../support/http-events.js';
import { field, type Hostility, underHostility } from './arbitraries.js';
import {
  FUZZ_RUNS,
  FUZZ_TIMEOUT_MS,
  type FuzzGround,
  fuzzGround,
  fuzzRoute,
} from './fuzz-harness.js';

/**
 * The read routes, logged in read-only as in AWS: the public status route (the query
 * string) and the operator read (the path). Never a 5xx, never a write; a refusal
 * names the parameter.
 */

const SESSIONS = Array.from({ length: 10 }, (_, i) => `cs_test_read_fuzz_${i}`);

function sessionParameter(how: Hostility) {
  return field(
    how,
    'session',
    fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...SESSIONS) },
      fc.stringMatching(/^cs_(test|live)_[A-Za-z0-9]{1,40}$/),
      fc.stringMatching(/^op_[0-9a-f]{32}$/),
    ),
  ).map((value) => (typeof value === 'string' ? value : JSON.stringify(value)));
}

const session = underHostility(['session'], sessionParameter);

/** Query strings as API Gateway hands them over: values decoded, any names. */
const query = fc.oneof(
  { weight: 6, arbitrary: session.map((id) => ({ session_id: id })) },
  fc.dictionary(
    fc.oneof(fc.constant('session_id'), fc.string({ unit: 'binary', maxLength: 10 })),
    session,
    { maxKeys: 4 },
  ),
  fc.constant(undefined),
);

let ground: FuzzGround;

beforeAll(async () => {
  ground = await fuzzGround(SESSIONS);
});
afterAll(async () => {
  await ground.close();
});

describe('the read routes under hostile input, read-only', () => {
  it(
    `GET /api/provisioning/status answers ${FUZZ_RUNS} query strings without a 5xx`,
    async () => {
      const deps = ground.deps('reader');
      const tally = await fuzzRoute({
        name: 'GET /api/provisioning/status',
        ground,
        route: createStatusHandler(deps),
        queue: deps.queue,
        inputs: query,
        request: (parameters) => ({
          ...httpEvent({ method: 'GET', path: '/api/provisioning/status' }),
          ...(parameters ? { queryStringParameters: parameters } : {}),
        }),
        fields: ['session_id'],
        refusalsKept: () => 0,
      });

      expect(tally.count(200)).toBeGreaterThan(FUZZ_RUNS / 10);
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    `GET /api/internal/provisioning/jobs/{stripe_session_id} answers ${FUZZ_RUNS} paths without a 5xx`,
    async () => {
      const deps = ground.deps('reader');
      const tally = await fuzzRoute({
        name: 'GET /api/internal/provisioning/jobs/{stripe_session_id}',
        ground,
        route: createJobReadHandler(deps),
        queue: deps.queue,
        inputs: fc.option(session, { freq: 20 }),
        request: (id) => ({
          ...httpEvent({ method: 'GET', path: '/api/internal/provisioning/jobs/x' }),
          ...(id === null ? {} : { pathParameters: { stripe_session_id: id } }),
        }),
        fields: ['stripe_session_id'],
        refusalsKept: () => 0,
      });

      expect(tally.count(200)).toBeGreaterThan(FUZZ_RUNS / 10);
    },
    FUZZ_TIMEOUT_MS,
  );
});
