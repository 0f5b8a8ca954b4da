import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createJobCreateHandler } from '../../functions/handlers/operator-jobs.js';
import { httpEvent } from '../support/http-events.js';
import { field, type Hostility, mutation, record, underHostility } from './arbitraries.js';
import {
  appRouteUnderFuzz,
  FUZZ_RUNS,
  FUZZ_TIMEOUT_MS,
  fuzzRoute,
  withBody,
} from './fuzz-harness.js';

/**
 * `POST /api/internal/provisioning/jobs` (operators, IAM-signed in AWS) under hostile
 * input: the idempotency key and every field of the request made hostile in turn,
 * the bytes mutated. Never a 5xx; a refusal writes nothing but its trail and names its
 * field or header.
 */

const FIELDS = ['Idempotency-Key', 'body', 'package_slug', 'customer_email', 'reason'];
const KEYS = Array.from({ length: 20 }, (_, i) => `fuzz-key-${i}`);

function request(how: Hostility) {
  const f = (name: string, valid: fc.Arbitrary<unknown>) => field(how, name, valid);
  return fc.record({
    key: f('key', fc.oneof(fc.constantFrom(...KEYS), fc.stringMatching(/^[!-~]{1,40}$/))),
    body: record(how, {
      package_slug: f('package_slug', fc.constantFrom('growth', 'growth', 'starter', 'enterprise')),
      customer_email: f(
        'customer_email',
        fc.stringMatching(/^[a-z0-9]{1,12}@[a-z]{1,10}\.(com|org)$/),
      ),
      reason: f('reason', fc.constantFrom('comped for a partner', 'manual tenant, INC-4')),
    }),
  });
}

const submission = fc.record({
  request: underHostility(['key', 'package_slug', 'customer_email', 'reason'], request),
  mutate: mutation,
  base64: fc.boolean(),
  keyless: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, fc.constant(true)),
});

const under = appRouteUnderFuzz((deps) => createJobCreateHandler(deps));

describe('the operator job route under hostile input', () => {
  it(
    `answers ${FUZZ_RUNS} requests without a 5xx, writing nothing for a refusal but its trail`,
    async () => {
      const tally = await fuzzRoute({
        name: 'POST /api/internal/provisioning/jobs',
        ...under,
        inputs: submission,
        request: ({ request: { key, body }, mutate, base64, keyless }) => {
          const headers: Record<string, string> =
            keyless || typeof key !== 'string' ? {} : { 'idempotency-key': key };
          return withBody(
            httpEvent({ method: 'POST', path: '/api/internal/provisioning/jobs', headers }),
            mutate(Buffer.from(JSON.stringify(body))),
            base64,
          );
        },
        fields: FIELDS,
        // Every 400 refuses an operator's request and is kept; a 409 does not refuse the input.
        refusalsKept: ({ status }) => (status === 400 ? 1 : 0),
      });

      expect(tally.count(202)).toBeGreaterThan(FUZZ_RUNS / 20);
      expect(tally.count(409)).toBeGreaterThan(0);
    },
    FUZZ_TIMEOUT_MS,
  );
});
