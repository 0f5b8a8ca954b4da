import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  HEADERS,
  InvalidCallbackError,
  signCallback,
  type TriggerVerification,
  verifyTrigger,
} from 'provisioning-handoff/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpOrchestratorTrigger } from '../../functions/adapters/http-orchestrator.js';
import { EnvironmentSecretSource } from '../../functions/adapters/secrets.js';
import { parseCallbackBody } from '../../functions/core/callback-body.js';
import {
  checkProvisioningSignature,
  signProvisioningBody,
} from '../../functions/core/signatures.js';
import { readBody } from '../../local/read-body.js';

/**
 * The kit an orchestrator builds on, imported as it would be (the package export):
 * `verifyTrigger` accepts exactly what the product's hand-off sends and refuses the
 * rest; `signCallback` signs what the product's callback route accepts.
 */
const TRIGGER_SECRET = 'kit-trigger-secret';
const CALLBACK_SECRET = 'kit-callback-secret';
const JOB_ID = '6f1c2a4e-8b3d-4e5f-9a7b-1c2d3e4f5a6b';
const PAYLOAD = {
  job_id: JOB_ID,
  stripe_session_id: 'cs_test_kit',
  account_id: '0b9e8d7c-6a5f-4e3d-8c2b-1a0f9e8d7c6b',
  package_slug: 'growth',
  tokens_quota: 1_100_000,
  customer_email: 'buyer@example.com',
  callback_url: 'https://handoff.example.com/api/internal/provisioning/callback',
};
const BODY = JSON.stringify(PAYLOAD);
const NOW = new Date('2026-11-23T10:00:00.000Z');

/** A trigger as the hand-off signs it, at `at`, with `secret`. */
function trigger(options: { at?: Date; secret?: string; body?: string } = {}) {
  const body = options.body ?? BODY;
  const { timestamp, signature } = signProvisioningBody(
    body,
    options.secret ?? TRIGGER_SECRET,
    options.at ?? NOW,
  );
  return {
    body,
    headers: {
      [HEADERS.timestamp]: timestamp,
      [HEADERS.signature]: signature,
      [HEADERS.idempotencyKey]: JOB_ID,
    } as Record<string, string>,
  };
}

const refusal = (verification: TriggerVerification) =>
  verification.ok ? 'accepted' : `${verification.status} ${verification.reason}`;

describe('verifyTrigger', () => {
  let server: Server;
  let url: string;
  const verified: TriggerVerification[] = [];

  beforeAll(async () => {
    // An orchestrator written with the kit, behind a real HTTP server.
    server = createServer(async (request, response) => {
      const verification = verifyTrigger(
        { body: await readBody(request), headers: request.headers },
        { secret: TRIGGER_SECRET },
      );
      verified.push(verification);
      response.writeHead(verification.ok ? 202 : verification.status).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/trigger/onboarding`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it("accepts the product's own hand-off, and hands back the payload and the job id to deduplicate on", async () => {
    const handoff = new HttpOrchestratorTrigger({
      url,
      secrets: new EnvironmentSecretSource({ PROVISIONING_TRIGGER_SECRET: TRIGGER_SECRET }),
      timeoutMs: 5_000,
      clock: () => new Date(),
    });

    const outcome = await handoff.trigger({ jobId: JOB_ID, payload: PAYLOAD });

    expect(outcome).toEqual({ outcome: 'accepted', httpStatus: 202 });
    expect(verified.at(-1)).toEqual({ ok: true, input: PAYLOAD, idempotencyKey: JOB_ID });
  });

  it('reads fetch Headers as well as Node headers, names in any case', () => {
    const { body, headers } = trigger();
    const request = new Request('http://orchestrator.test/trigger', {
      method: 'POST',
      body,
      headers,
    });
    const lowercase = Object.fromEntries(
      Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]),
    );

    expect(
      verifyTrigger({ body, headers: request.headers }, { secret: TRIGGER_SECRET, now: NOW }),
    ).toMatchObject({ ok: true });
    expect(
      verifyTrigger({ body, headers: lowercase }, { secret: TRIGGER_SECRET, now: NOW }),
    ).toMatchObject({ ok: true });
  });

  it('accepts either secret during a rotation', () => {
    const signedWithNew = trigger({ secret: 'the-new-secret' });

    const verification = verifyTrigger(signedWithNew, {
      secret: [TRIGGER_SECRET, 'the-new-secret'],
      now: NOW,
    });

    expect(verification.ok).toBe(true);
  });

  it.each([
    ['a replay 301 s old', { at: new Date(NOW.getTime() - 301_000) }, /401 .*away from now/],
    ['a timestamp 301 s ahead', { at: new Date(NOW.getTime() + 301_000) }, /401 .*away from now/],
    ['another secret', { secret: 'someone-else' }, /401 .*does not match/],
  ])('refuses %s with 401', (_case, options, reason) => {
    expect(refusal(verifyTrigger(trigger(options), { secret: TRIGGER_SECRET, now: NOW }))).toMatch(
      reason,
    );
  });

  it('refuses a body changed after signing', () => {
    const signed = trigger();
    const tampered = { ...signed, body: BODY.replace('growth', 'scale') };

    expect(refusal(verifyTrigger(tampered, { secret: TRIGGER_SECRET, now: NOW }))).toMatch(
      /^401 .*does not match/,
    );
  });

  it.each([
    [HEADERS.timestamp, /^401 X-Provisioning-Timestamp is missing/],
    [HEADERS.signature, /^401 X-Provisioning-Signature is missing/],
  ])('refuses a trigger without %s', (header, reason) => {
    const { body, headers } = trigger();
    delete headers[header];

    expect(refusal(verifyTrigger({ body, headers }, { secret: TRIGGER_SECRET, now: NOW }))).toMatch(
      reason,
    );
  });

  it('refuses a signed body that is not an OnboardingInput with 400, naming the field', () => {
    const signed = trigger({ body: JSON.stringify({ ...PAYLOAD, tokens_quota: 'lots' }) });

    expect(refusal(verifyTrigger(signed, { secret: TRIGGER_SECRET, now: NOW }))).toMatch(
      /^400 tokens_quota: /,
    );
  });

  it('refuses an Idempotency-Key that is not the job id of the body', () => {
    const signed = trigger();
    signed.headers[HEADERS.idempotencyKey] = 'another-job';

    expect(refusal(verifyTrigger(signed, { secret: TRIGGER_SECRET, now: NOW }))).toMatch(
      /^400 Idempotency-Key must be the job id/,
    );
  });
});

describe('signCallback', () => {
  const report = {
    stripe_session_id: 'cs_test_kit',
    status: 'provisioned',
    deployment_id: 'dpl_kit_1',
    cell_id: 'cell-1',
    tokens_quota: 1_100_000,
  } as const;

  it('signs what the callback route verifies and parses, timestamped', () => {
    const signed = signCallback(report, CALLBACK_SECRET, NOW);

    expect(signed.headers[HEADERS.timestamp]).toBe(String(NOW.getTime() / 1000));
    expect(
      checkProvisioningSignature({
        rawBody: Buffer.from(signed.body),
        signature: signed.headers[HEADERS.signature],
        timestamp: signed.headers[HEADERS.timestamp],
        secrets: [CALLBACK_SECRET],
        now: NOW,
      }),
    ).toBe('valid');
    expect(parseCallbackBody(Buffer.from(signed.body))).toMatchObject({
      ok: true,
      report: { status: 'provisioned', deploymentId: 'dpl_kit_1', cellId: 'cell-1' },
    });
  });

  it('refuses to sign a report the route would refuse, naming the field', () => {
    expect(() =>
      signCallback({ stripe_session_id: 'cs_test_kit', status: 'provisioned' }, CALLBACK_SECRET),
    ).toThrow(
      new InvalidCallbackError(
        'deployment_id: required when status is provisioned; cell_id: required when status is provisioned',
      ),
    );
  });
});
