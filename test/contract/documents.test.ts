import { readFileSync } from 'node:fs';
import { Validator } from '@cfworker/json-schema';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildJsonSchemas, buildOpenApiDocument } from '../../contract/openapi.js';
import { callbackBody } from '../../functions/core/callback-body.js';
import { onboardingInput } from '../../functions/core/onboarding-input.js';
import { LOCAL_ROUTES, ROUTES } from '../../functions/routes.js';

/**
 * The checked-in contract documents are what the orchestrator team builds against:
 * they must be exactly what the zod schemas generate, cover every route, and mean in
 * JSON Schema what the zod schemas mean in code.
 */
const REGENERATE = 'out of date: run `npm run contract:generate` and commit the result';

function checkedIn(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`../../contract/${name}`, import.meta.url), 'utf8'));
}

type OpenApi = {
  paths: Record<string, Record<string, unknown>>;
  webhooks: Record<string, unknown>;
  components: Record<string, Record<string, object>>;
};
const document = checkedIn('openapi.json') as OpenApi;

function validatorOf(schema: object): Validator {
  return new Validator(schema as ConstructorParameters<typeof Validator>[0], '2020-12', false);
}

describe('the checked-in documents', () => {
  it('are what the zod schemas generate (the drift check)', () => {
    expect(document, `contract/openapi.json is ${REGENERATE}`).toEqual(buildOpenApiDocument());
    for (const [name, schema] of Object.entries(buildJsonSchemas())) {
      expect(checkedIn(name), `contract/${name} is ${REGENERATE}`).toEqual(schema);
    }
  });

  it('document every route of functions/routes.ts, and the trigger under webhooks', () => {
    const documented = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const served = [...Object.values(ROUTES), ...Object.values(LOCAL_ROUTES)].map(
      (route) => `${route.method} ${route.path}`,
    );

    expect(documented.sort()).toEqual(served.sort());
    expect(document.webhooks).toHaveProperty('onboardingTrigger.post');
  });

  it('resolve every $ref they hold', () => {
    const refs = JSON.stringify(document).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) {
      const pointer = ref.slice('"$ref":"#/'.length, -1).split('/');
      const target = pointer.reduce<unknown>(
        (node, key) => (node as Record<string, unknown> | undefined)?.[key],
        document,
      );
      expect(target, ref).toBeDefined();
    }
  });

  it('reference every component they declare: no inline copy drifts from its component', () => {
    const text = JSON.stringify(document);
    // Security schemes are named in `security`, not referenced.
    for (const kind of ['schemas', 'parameters']) {
      for (const name of Object.keys(document.components[kind] ?? {})) {
        expect(text, `components.${kind}.${name}`).toContain(`"#/components/${kind}/${name}"`);
      }
    }
  });

  it('use only patterns a Go (RE2) validator can compile: no lookaround, no backreference', () => {
    const patterns = [...JSON.stringify(document).matchAll(/"pattern":("(?:[^"\\]|\\.)*")/g)].map(
      ([, pattern]) => JSON.parse(pattern ?? '""') as string,
    );

    expect(patterns.length).toBeGreaterThan(5);
    for (const pattern of patterns) expect(pattern).not.toMatch(/\(\?<?[=!]|\\[1-9]/);
  });
});

describe('the JSON Schemas accept exactly what the product accepts', () => {
  const sessionIds = fc.constantFrom(
    'cs_test_a1B2',
    `op_${'0f'.repeat(16)}`,
    'op_NOT_HEX',
    'pi_123',
    '',
  );
  const orNullOrAbsent = <T>(value: fc.Arbitrary<T>) =>
    fc.option(fc.option(value, { nil: null }), { nil: undefined });

  it('for the callback body, the "provisioned needs deployment_id and cell_id" rule included', () => {
    const validator = validatorOf(checkedIn('callback-body.schema.json'));
    const bodies = fc.record(
      {
        stripe_session_id: sessionIds,
        status: fc.constantFrom('provisioning', 'provisioned', 'failed', 'done'),
        deployment_id: orNullOrAbsent(fc.constantFrom('dpl_abc', 'dpl_', 'abc', '')),
        cell_id: orNullOrAbsent(fc.constantFrom('cell-1', 'eu.west:2', '-bad', '')),
        tokens_quota: orNullOrAbsent(fc.constantFrom(0, 1_100_000, -1, 1.5, '100')),
        phase: orNullOrAbsent(fc.constantFrom('database', 'x'.repeat(201))),
        error: orNullOrAbsent(fc.string()),
        database: orNullOrAbsent(
          fc.record({
            id: fc.constantFrom('db_1', ''),
            status: fc.constantFrom('ready', 'gone'),
          }),
        ),
        extra: fc.option(fc.string(), { nil: undefined }),
      },
      { requiredKeys: ['stripe_session_id', 'status'] },
    );

    fc.assert(
      fc.property(bodies, (raw) => {
        const body = JSON.parse(JSON.stringify(raw));
        expect(validator.validate(body).valid).toBe(callbackBody.safeParse(body).success);
      }),
      { numRuns: 500 },
    );
  });

  it('for the trigger payload', () => {
    const validator = validatorOf(checkedIn('onboarding-input.schema.json'));
    const payloads = fc.record({
      job_id: fc.oneof(fc.uuid({ version: 4 }), fc.constantFrom('job-1', '')),
      stripe_session_id: sessionIds,
      account_id: fc.oneof(fc.uuid({ version: 4 }), fc.constant('not-a-uuid')),
      package_slug: fc.constantFrom('growth', 'scale_2', 'Growth', '-x', ''),
      tokens_quota: fc.constantFrom(1, 1_100_000, 0, -5, 2.5),
      customer_email: fc.option(fc.constantFrom('ada@example.com', 'x'.repeat(255)), {
        nil: null,
      }),
      callback_url: fc.constantFrom(
        'https://handoff.example.com/api/internal/provisioning/callback',
        'http://127.0.0.1:3000/api/internal/provisioning/callback',
        'javascript:alert(1)',
        'ftp://example.com/callback',
        'not a url',
      ),
    });

    fc.assert(
      fc.property(payloads, (payload) => {
        expect(validator.validate(payload).valid).toBe(onboardingInput.safeParse(payload).success);
      }),
      { numRuns: 500 },
    );
  });
});
