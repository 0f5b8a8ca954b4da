import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RULES } from '../../functions/core/rules.js';
import { applyCallback } from '../../functions/db/jobs/callbacks.js';
import {
  recordAwaitingPayment,
  recordSettledCheckout,
} from '../../functions/db/jobs/checkout-records.js';
import { createStatusHandler } from '../../functions/handlers/status.js';
import {
  CALLBACK_URL,
  type Harness,
  handlerHarness,
  lambdaContext,
} from '../support/handler-harness.js';
import { httpEvent } from '../support/http-events.js';

let h: Harness;
let status: ReturnType<typeof createStatusHandler>;

beforeAll(async () => {
  h = await handlerHarness();
  status = createStatusHandler({ db: h.deps.db, telemetry: h.telemetry });
});
afterAll(async () => {
  await h.close();
});

async function stateOf(sessionId: string) {
  const response = await status(
    httpEvent({ method: 'GET', path: `/api/provisioning/status?session_id=${sessionId}` }),
    lambdaContext(),
  );
  return { statusCode: response.statusCode, body: JSON.parse(response.body ?? '{}') };
}

function checkout(sessionId: string) {
  return {
    stripeSessionId: sessionId,
    stripeCustomerId: null,
    customerEmail: 'a@example.com',
    packageSlug: 'starter',
    callbackUrl: CALLBACK_URL,
  };
}

describe('the checkout success page status', () => {
  it('walks queued → running with its phase → ready', async () => {
    await recordSettledCheckout(
      h.deps.db,
      checkout('cs_test_walk'),
      h.now(),
      DEFAULT_RULES.handoffLeaseSeconds,
    );
    const queued = await stateOf('cs_test_walk');
    await applyCallback(
      h.deps.db,
      { stripeSessionId: 'cs_test_walk', status: 'provisioning', phase: 'database' },
      h.now(),
      DEFAULT_RULES,
    );
    const running = await stateOf('cs_test_walk');
    await applyCallback(
      h.deps.db,
      {
        stripeSessionId: 'cs_test_walk',
        status: 'provisioned',
        deploymentId: 'dpl_w',
        cellId: 'c',
      },
      h.now(),
      DEFAULT_RULES,
    );
    const ready = await stateOf('cs_test_walk');

    expect(queued).toEqual({
      statusCode: 200,
      body: { session_id: 'cs_test_walk', state: 'queued' },
    });
    expect(running.body).toEqual({
      session_id: 'cs_test_walk',
      state: 'running',
      phase: 'database',
    });
    expect(ready.body).toEqual({ session_id: 'cs_test_walk', state: 'ready' });
  });

  it('stays queued while the product retries a failed saga, and says failed (and nothing of why) once it has no budget left', async () => {
    const { job } = await recordSettledCheckout(
      h.deps.db,
      checkout('cs_test_failed'),
      h.now(),
      DEFAULT_RULES.handoffLeaseSeconds,
    );
    const failed = {
      stripeSessionId: 'cs_test_failed',
      status: 'failed' as const,
      error: 'secret internal detail',
    };
    await applyCallback(h.deps.db, failed, h.now(), DEFAULT_RULES);
    const retrying = await stateOf('cs_test_failed');
    await h.db.pool.query('UPDATE provisioning_jobs SET budget_spent = $2 WHERE id = $1', [
      job.id,
      DEFAULT_RULES.maxAttempts,
    ]);
    await applyCallback(h.deps.db, failed, h.now(), DEFAULT_RULES);

    const { body } = await stateOf('cs_test_failed');

    expect(retrying.body).toEqual({ session_id: 'cs_test_failed', state: 'queued' });
    expect(body).toEqual({ session_id: 'cs_test_failed', state: 'failed' });
  });

  it('says failed for a job the orchestrator refused (parked) and for a cancelled one', async () => {
    for (const session of ['cs_test_parked', 'cs_test_cancelled']) {
      await recordSettledCheckout(
        h.deps.db,
        checkout(session),
        h.now(),
        DEFAULT_RULES.handoffLeaseSeconds,
      );
    }
    await h.db.pool.query(
      "UPDATE provisioning_jobs SET parked_at = now() WHERE stripe_session_id = 'cs_test_parked'",
    );
    await h.db.pool.query(
      "UPDATE provisioning_jobs SET status = 'cancelled' WHERE stripe_session_id = 'cs_test_cancelled'",
    );

    expect((await stateOf('cs_test_parked')).body.state).toBe('failed');
    expect((await stateOf('cs_test_cancelled')).body.state).toBe('failed');
  });

  it('says queued while a delayed payment is pending', async () => {
    await recordAwaitingPayment(h.deps.db, checkout('cs_test_waiting'), h.now());

    expect((await stateOf('cs_test_waiting')).body.state).toBe('queued');
  });

  it('answers for an operator-created job, whose status URL carries an op_ session', async () => {
    const operatorSession = `op_${'0'.repeat(32)}`;
    await recordSettledCheckout(
      h.deps.db,
      checkout(operatorSession),
      h.now(),
      DEFAULT_RULES.handoffLeaseSeconds,
    );

    expect(await stateOf(operatorSession)).toEqual({
      statusCode: 200,
      body: { session_id: operatorSession, state: 'queued' },
    });
  });

  it('answers 200 unknown for a session it never saw', async () => {
    expect(await stateOf('cs_test_nobody')).toEqual({
      statusCode: 200,
      body: { session_id: 'cs_test_nobody', state: 'unknown' },
    });
  });

  it('refuses a missing or malformed session id with a 400 that names it', async () => {
    const missing = await status(
      httpEvent({ method: 'GET', path: '/api/provisioning/status' }),
      lambdaContext(),
    );
    const malformed = await stateOf('not-a-session');

    expect(missing.statusCode).toBe(400);
    expect(JSON.parse(missing.body ?? '{}').error).toMatch(/^session_id: /);
    expect(malformed.statusCode).toBe(400);
  });
});

describe('a success page on another origin (CORS, the allowedOrigins setting)', () => {
  const SHOP = 'https://shop.example.com';
  const read = (path: string, origin: string) =>
    createStatusHandler({ db: h.deps.db, telemetry: h.telemetry }, { allowedOrigins: [SHOP] })(
      httpEvent({ method: 'GET', path, headers: { origin } }),
      lambdaContext(),
    );

  it('may read the state when its origin is allowed, and so may it read a refusal', async () => {
    const ok = await read('/api/provisioning/status?session_id=cs_test_cors', SHOP);
    const refused = await read('/api/provisioning/status?session_id=nope', SHOP);

    expect(ok.statusCode).toBe(200);
    expect(ok.headers).toMatchObject({ 'access-control-allow-origin': SHOP, vary: 'origin' });
    expect(refused.statusCode).toBe(400);
    expect(refused.headers).toMatchObject({ 'access-control-allow-origin': SHOP });
  });

  it('is not allowed from any other origin, nor by default', async () => {
    const other = await read(
      '/api/provisioning/status?session_id=cs_test_cors',
      'https://evil.example',
    );
    const byDefault = await status(
      httpEvent({
        method: 'GET',
        path: '/api/provisioning/status?session_id=cs_test_cors',
        headers: { origin: SHOP },
      }),
      lambdaContext(),
    );

    expect(other.headers?.['access-control-allow-origin']).toBeUndefined();
    expect(byDefault.headers?.['access-control-allow-origin']).toBeUndefined();
  });
});
