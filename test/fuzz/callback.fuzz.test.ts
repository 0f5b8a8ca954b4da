import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { callbackBody } from '../../functions/core/callback-body.js';
import { createCallbackHandler } from '../../functions/handlers/callback.js';
import { httpEvent } from '../support/http-events.js';
import {
  type DrawnSignature,
  drawnSignature,
  field,
  type Hostility,
  mutation,
  record,
  signing,
  underHostility,
} from './arbitraries.js';
import {
  appRouteUnderFuzz,
  CALLBACK_SECRET,
  FUZZ_RUNS,
  FUZZ_TIMEOUT_MS,
  fuzzRoute,
  NOW,
  withBody,
} from './fuzz-harness.js';

/**
 * `POST /api/internal/provisioning/callback` under fire: reports drawn from the callback
 * contract (every field made hostile in turn) on jobs that exist and do not, their
 * bytes mutated, signed as the orchestrator signs, or not, or badly. Never a 5xx; a
 * refusal writes nothing but its trail (kept only once the signature verified) and
 * names its field or header.
 */

const { database, ...flat } = callbackBody.shape;
/** The contract's fields, its nested database's named `database_<key>`: the ones made hostile in turn. */
const REPORT_FIELDS = [
  ...Object.keys(flat),
  ...Object.keys(database.unwrap().unwrap().shape).map((key) => `database_${key}`),
];
/** What a refusal may name: a header, the body, or a field of the contract. */
const FIELDS = [
  'X-Provisioning-Signature',
  'X-Provisioning-Timestamp',
  'body',
  ...Object.keys(callbackBody.shape),
];
const JOBS = Array.from({ length: 30 }, (_, i) => `cs_test_callback_fuzz_${i}`);

function report(how: Hostility) {
  const f = (name: string, valid: fc.Arbitrary<unknown>) => field(how, name, valid);
  return record(how, {
    stripe_session_id: f(
      'stripe_session_id',
      fc.oneof(
        { weight: 5, arbitrary: fc.constantFrom(...JOBS) },
        fc.stringMatching(/^cs_test_[A-Za-z0-9]{4,20}$/),
        fc.stringMatching(/^op_[0-9a-f]{32}$/),
      ),
    ),
    status: f('status', fc.constantFrom('provisioning', 'provisioned', 'failed')),
    deployment_id: f(
      'deployment_id',
      fc.option(fc.stringMatching(/^dpl_[A-Za-z0-9_-]{1,20}$/), { freq: 6 }),
    ),
    cell_id: f('cell_id', fc.option(fc.stringMatching(/^cell-[a-z0-9]{1,8}$/), { freq: 6 })),
    // Hostile: negative, fractional, beyond 2^53, not a number.
    tokens_quota: fc.oneof(
      { weight: 4, arbitrary: f('tokens_quota', fc.option(fc.nat())) },
      fc.oneof(fc.integer({ max: -1 }), fc.double(), fc.constant(2 ** 62), fc.constant('1e3')),
    ),
    phase: f('phase', fc.option(fc.constantFrom('cell', 'database', 'préparé ✓', ''))),
    error: f('error', fc.option(fc.constantFrom('boom', 'Error: x\n    at saga (s.ts:1)', ''))),
    database: fc.option(
      record(how, {
        id: f('database_id', fc.stringMatching(/^db_[A-Za-z0-9]{2,12}$/)),
        status: f(
          'database_status',
          fc.constantFrom('provisioning', 'migrating', 'ready', 'failed'),
        ),
      }),
    ),
  });
}

const delivery = fc.record({
  report: underHostility(REPORT_FIELDS, report),
  mutate: mutation,
  signing,
  base64: fc.boolean(),
  // A body signed alone is refused (requireCallbackTimestamp): now and then.
  untimed: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, fc.constant(true)),
});

function headersOf(signature: DrawnSignature): Record<string, string> {
  switch (signature.kind) {
    case 'none':
      return {};
    case 'garbage':
      return {
        'x-provisioning-signature': signature.header,
        'x-provisioning-timestamp': signature.header,
      };
    case 'signed':
      return {
        ...(signature.timestamp === undefined
          ? {}
          : { 'x-provisioning-timestamp': String(signature.timestamp) }),
        'x-provisioning-signature': signature.signature,
      };
  }
}

const under = appRouteUnderFuzz((deps) => createCallbackHandler(deps), JOBS);

describe('the orchestrator callback under hostile input', () => {
  it(
    `answers ${FUZZ_RUNS} reports without a 5xx, writing nothing for a refusal but its trail`,
    async () => {
      const tally = await fuzzRoute({
        name: 'POST /api/internal/provisioning/callback',
        ...under,
        inputs: delivery,
        request: ({ report: body, mutate, signing: how, base64, untimed }) => {
          const original = Buffer.from(JSON.stringify(body));
          const sent = mutate(original);
          const headers = {
            'content-type': 'application/json',
            ...headersOf(
              drawnSignature(how, {
                secret: CALLBACK_SECRET,
                now: NOW,
                original,
                sent,
                timed: !untimed,
              }),
            ),
          };
          return withBody(
            httpEvent({ method: 'POST', path: '/api/internal/provisioning/callback', headers }),
            sent,
            base64,
          );
        },
        fields: FIELDS,
        // A body refused after its signature verified is kept; a 401 (anyone can send
        // one) and a 404 (a session with no job) are not.
        refusalsKept: ({ status }) => (status === 400 ? 1 : 0),
      });

      // The suite reached past the signature: reports were applied, and refused for their content.
      expect(tally.count(200)).toBeGreaterThan(FUZZ_RUNS / 20);
      expect(tally.count(400)).toBeGreaterThan(FUZZ_RUNS / 20);
    },
    FUZZ_TIMEOUT_MS,
  );
});
