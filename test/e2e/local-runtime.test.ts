import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Stripe from 'stripe';
import { afterEach, describe, expect, it } from 'vitest';
import { signProvisioningBody } from '../../functions/core/signatures.js';
import { freePort } from '../../local/free-port.js';
import { switchSandboxMode } from '../../local/sandbox-orchestrator.js';
import { type RuntimeProcess, startRuntimeProcess } from '../support/local-runtime-process.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';

/**
 * The local runtime as a user runs it: `npm start`'s entry point in a child process,
 * driven over HTTP only. Thresholds are shrunk to seconds so every flow of the
 * runbook plays out in a test.
 */
const WEBHOOK_SECRET = 'whsec_e2e_secret';
const CALLBACK_SECRET = 'e2e-callback-secret';
const FAST = {
  STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
  PROVISIONING_CALLBACK_SECRET: CALLBACK_SECRET,
  PROVISIONING_TRIGGER_SECRET: 'e2e-trigger-secret',
  RECONCILE_EVERY_SECONDS: '1',
  STALE_AFTER_SECONDS: '1',
  STUCK_AFTER_SECONDS: '2',
  SANDBOX_DELAY_MS: '10',
};
const stripe = new Stripe('sk_test_unused');

let runtime: RuntimeProcess | undefined;
let db: TestDatabase | undefined;
const dirs: string[] = [];

afterEach(async () => {
  // A clean stop: SIGKILL would orphan an embedded PostgreSQL.
  await runtime?.stop('SIGTERM');
  runtime = undefined;
  await db?.close();
  db = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function start(env: Record<string, string>): Promise<RuntimeProcess> {
  db = await freshDatabase({ migrated: false });
  runtime = await startRuntimeProcess({ ...FAST, DATABASE_URL: db.connectionString, ...env });
  return runtime;
}

function checkoutEvent(sessionId: string, packageSlug = 'growth'): string {
  return JSON.stringify({
    id: `evt_${randomBytes(8).toString('hex')}`,
    object: 'event',
    type: 'checkout.session.completed',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    data: {
      object: {
        id: sessionId,
        object: 'checkout.session',
        mode: 'payment',
        payment_status: 'paid',
        customer: 'cus_e2e',
        customer_details: { email: 'e2e@example.com' },
        metadata: { package_slug: packageSlug },
      },
    },
  });
}

async function deliver(url: string, payload: string, secret = WEBHOOK_SECRET): Promise<Response> {
  return fetch(`${url}/api/webhooks/stripe`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload, secret }),
    },
    body: payload,
  });
}

async function stateOf(url: string, sessionId: string): Promise<{ state: string; phase?: string }> {
  return (await fetch(`${url}/api/provisioning/status?session_id=${sessionId}`)).json() as Promise<{
    state: string;
  }>;
}

async function jobOf(url: string, sessionId: string) {
  const response = await fetch(`${url}/api/internal/provisioning/jobs/${sessionId}`);
  return {
    status: response.status,
    body: (await response.json()) as {
      job: Record<string, unknown>;
      account: Record<string, unknown>;
      history: unknown[];
    },
  };
}

async function stuckGauge(url: string): Promise<number> {
  const text = await (await fetch(`${url}/api/metrics`)).text();
  return Number(/^provisioning_jobs_stuck (\d+)$/m.exec(text)?.[1]);
}

async function eventually<T>(
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!accept(last)) {
    if (Date.now() > deadline)
      throw new Error(`condition not met in ${timeoutMs} ms; last value: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await probe();
  }
  return last;
}

const session = () => `cs_test_${randomBytes(10).toString('hex')}`;

describe('the local runtime', () => {
  it('turns a simulated paid checkout into a ready tenant and an active account', async () => {
    const { url } = await start({});
    const id = session();

    const delivered = await deliver(url, checkoutEvent(id));
    const ready = await eventually(
      () => stateOf(url, id),
      (s) => s.state === 'ready',
    );
    const { body } = await jobOf(url, id);

    expect(delivered.status).toBe(200);
    expect(ready).toEqual({ session_id: id, state: 'ready' });
    expect(body.job).toMatchObject({
      status: 'provisioned',
      tokens_quota: 1_100_000,
      deployment_id: expect.stringMatching(/^dpl_/),
    });
    expect(body.account).toMatchObject({ status: 'active', deployment_id: body.job.deployment_id });
  });

  it('records one job for 20 duplicate deliveries of one event', async () => {
    const { url } = await start({});
    const id = session();
    const payload = checkoutEvent(id);

    const answers = await Promise.all(Array.from({ length: 20 }, () => deliver(url, payload)));
    await eventually(
      () => stateOf(url, id),
      (s) => s.state === 'ready',
    );

    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    const { rows } = await (db as TestDatabase).pool.query(
      'SELECT count(*)::int AS jobs, max(attempts) AS attempts FROM provisioning_jobs',
    );
    expect(rows[0]).toEqual({ jobs: 1, attempts: 1 });
  });

  it('recovers through reconcile, without an operator, when the orchestrator comes back', async () => {
    const { url, sandboxUrl } = await start({ SANDBOX_ORCHESTRATOR: 'down' });
    const id = session();

    await deliver(url, checkoutEvent(id));
    await eventually(
      () => jobOf(url, id),
      (j) => j.body.job?.last_error === 'http_5xx',
    );
    if (!sandboxUrl) throw new Error('the runtime printed no sandbox control URL');
    await switchSandboxMode(sandboxUrl, 'ok');
    await eventually(
      () => stateOf(url, id),
      (s) => s.state === 'ready',
    );

    const { body } = await jobOf(url, id);
    expect(Number(body.job.attempts)).toBeGreaterThan(1);
    expect(body.history.some((event) => (event as { kind: string }).kind === 'redrive')).toBe(true);
  });

  it('shows a silent orchestrator as STUCK, and provisions on a signed callback replay', async () => {
    const { url } = await start({ SANDBOX_ORCHESTRATOR: 'silent' });
    const id = session();

    await deliver(url, checkoutEvent(id));
    await eventually(
      () => stuckGauge(url),
      (n) => n === 1,
    );
    const body = JSON.stringify({
      stripe_session_id: id,
      status: 'provisioned',
      deployment_id: 'dpl_replayed',
      cell_id: 'cell-1',
      tokens_quota: 1_100_000,
    });
    const { timestamp, signature } = signProvisioningBody(body, CALLBACK_SECRET, new Date());
    const replay = await fetch(`${url}/api/internal/provisioning/callback`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-provisioning-timestamp': timestamp,
        'x-provisioning-signature': signature,
      },
      body,
    });

    expect(replay.status).toBe(200);
    expect(await replay.json()).toEqual({ ok: true, status: 'provisioned' });
    expect((await stateOf(url, id)).state).toBe('ready');
    expect(await stuckGauge(url)).toBe(0);
  });

  it('keeps a job that keeps failing on the gauge once it reaches the retry cap', async () => {
    const { url } = await start({ SANDBOX_ORCHESTRATOR: 'fail', MAX_ATTEMPTS: '2' });
    const id = session();

    await deliver(url, checkoutEvent(id));
    const capped = await eventually(
      () => jobOf(url, id),
      (j) => j.body.job?.attempts === 2 && j.body.job?.status === 'failed',
    );
    await new Promise((resolve) => setTimeout(resolve, 2_500));

    expect(capped.body.job.last_error).toBe('sandbox: simulated saga failure');
    expect((await jobOf(url, id)).body.job.attempts).toBe(2);
    expect(await stuckGauge(url)).toBe(1);
    expect((await stateOf(url, id)).state).toBe('failed');
  });

  it('refuses bad signatures and writes nothing', async () => {
    const { url } = await start({});
    const id = session();

    const webhook = await deliver(url, checkoutEvent(id), 'whsec_not_the_secret');
    const callback = await fetch(`${url}/api/internal/provisioning/callback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-provisioning-signature': 'f'.repeat(64) },
      body: JSON.stringify({ stripe_session_id: id, status: 'failed' }),
    });

    expect(webhook.status).toBe(400);
    expect(callback.status).toBe(401);
    const { rows } = await (db as TestDatabase).pool.query(
      'SELECT (SELECT count(*)::int FROM provisioning_jobs) + (SELECT count(*)::int FROM customer_accounts) AS rows',
    );
    expect(rows[0].rows).toBe(0);
  });

  it('stops cleanly on Ctrl-C and keeps every job across a restart on its embedded database', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'provisioning-e2e-'));
    // Run as root (CI), PostgreSQL runs as another user, who must reach the directory.
    chmodSync(dataDir, 0o755);
    dirs.push(dataDir);
    const env = {
      ...FAST,
      DATA_DIR: dataDir,
      DATABASE_URL: '',
      EMBEDDED_DATABASE_PORT: String(await freePort()),
    };
    runtime = await startRuntimeProcess(env);
    const id = session();
    await deliver(runtime.url, checkoutEvent(id));
    await eventually(
      () => stateOf((runtime as RuntimeProcess).url, id),
      (s) => s.state === 'ready',
    );

    const exitCode = await runtime.stop('ctrlC');
    const firstRun = runtime.output();
    runtime = await startRuntimeProcess(env);

    expect(firstRun).toContain('stripe listen --forward-to');
    expect(firstRun).toContain('npm run ops -- stuck');
    expect(exitCode, firstRun).toBe(0);
    expect(firstRun).toContain('stopped cleanly');
    expect((await stateOf(runtime.url, id)).state).toBe('ready');
    expect(runtime.output()).not.toContain('seeded:');
  }, 90_000);
});
