import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../browser/chromium.js';
import { localEnv, opsRunner, type RunResult } from '../ops/ops-harness.js';
import { type RuntimeProcess, startRuntimeProcess } from '../support/local-runtime-process.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';
import { type JobRead, RuntimeClient } from '../support/runtime-client.js';

/**
 * The retry model through `npm start`, driven as a person tries it: the sandbox
 * orchestrator's modes switched while it runs (`PUT /mode`), the status page, the job
 * read, the metrics, the log, and the operator CLI against the runtime's database.
 * Thresholds are seconds so each branch plays out in a test; two runtimes serve them all.
 */
const WEBHOOK_SECRET = 'whsec_e2e_sandbox_modes';

interface Runtime {
  readonly process: RuntimeProcess;
  readonly db: TestDatabase;
  readonly client: RuntimeClient;
  /** The operator CLI, in process, against the runtime's database. */
  ops(argv: string[]): Promise<RunResult>;
  /** Waits until the session's job is parked; its read then. */
  parked(session: string): Promise<JobRead>;
  /** Waits until the status page says ready. */
  ready(session: string): Promise<unknown>;
}

async function startRuntime(env: Record<string, string>): Promise<Runtime> {
  const db = await freshDatabase({ migrated: false });
  const process = await startRuntimeProcess({
    DATABASE_URL: db.connectionString,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    RECONCILE_EVERY_SECONDS: '1',
    ...env,
  });
  const ops = opsRunner({
    env: localEnv(db.connectionString),
    collaborators: { osUser: () => 'oncall' },
  });
  const client = new RuntimeClient(process, WEBHOOK_SECRET);
  return {
    process,
    db,
    client,
    ops: (argv) => ops(argv),
    parked: (session) =>
      until(
        () => client.job(session),
        (read) => read.job.parked_at !== null,
      ),
    ready: (session) =>
      until(
        () => client.state(session),
        (state) => state.state === 'ready',
      ),
  };
}

async function stopRuntime(runtime: Runtime | undefined): Promise<void> {
  // A clean stop: SIGKILL would orphan an embedded PostgreSQL.
  await runtime?.process.stop('SIGTERM');
  await runtime?.db.close();
}

const kinds = (read: JobRead) => read.history.map((event) => event.kind);
const at = (value: unknown) => new Date(String(value)).getTime();

describe('npm start: an orchestrator that refuses, and the operator', () => {
  let r: Runtime;
  beforeAll(async () => {
    r = await startRuntime({ SANDBOX_ORCHESTRATOR: 'reject', STALE_AFTER_SECONDS: '1' });
  }, 90_000);
  afterAll(() => stopRuntime(r));

  it('reject (422): the job is parked at once, on the gauge, failed on the status page, and not replayed', async () => {
    const session = await r.client.checkout();

    const parked = await r.parked(session);
    const gauge = await r.client.stuckGauge();
    const state = await r.client.state(session);
    // Several reconcile runs later, still the one attempt.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const later = await r.client.job(session);

    expect(parked.job).toMatchObject({
      last_http_status: 422,
      last_error: 'http_4xx',
      attempts: 1,
    });
    expect(gauge).toBe(1);
    expect(state.state).toBe('failed');
    expect(later.job).toMatchObject({ attempts: 1, budget_spent: 1 });
    expect(kinds(later)).not.toContain('redrive');
  });

  it('unauthorized (401): the job is parked and the log says the trigger secret or URL is wrong', async () => {
    await r.client.sandboxMode('unauthorized');
    const session = await r.client.checkout();

    const parked = await r.parked(session);

    expect(parked.job).toMatchObject({ last_http_status: 401, attempts: 1 });
    expect(r.process.output()).toContain('the trigger secret or URL is wrong');
    expect((await r.client.state(session)).state).toBe('failed');
  });

  it('ops cancel closes a parked job for good: off the gauge, failed on the status page, never re-driven', async () => {
    await r.client.sandboxMode('unauthorized');
    const session = await r.client.checkout();
    await r.parked(session);
    const gaugeBefore = await r.client.stuckGauge();

    const cancelled = await r.ops(['cancel', session, '--yes', '--json', '--reason', 'refunded']);
    const plan = await r.ops(['rearm', '--parked', '--dry-run']);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const read = await r.client.job(session);

    expect(cancelled.code).toBe(0);
    expect(cancelled.json()).toMatchObject({ result: 'cancelled', stripe_session_id: session });
    expect(read.job).toMatchObject({ status: 'cancelled', cancel_reason: 'refunded', attempts: 1 });
    expect(read.account).toMatchObject({ status: 'cancelled' });
    // No longer waiting for an operator: a bulk re-arm does not select it.
    expect(plan.stdout).toContain('cs_test_');
    expect(plan.stdout).not.toContain(session);
    expect(await r.client.stuckGauge()).toBe(gaugeBefore - 1);
    expect((await r.client.state(session)).state).toBe('failed');
  });

  it('ops rearm --parked, once the orchestrator accepts again, re-drives each parked job as a new attempt to ready', async () => {
    await r.client.sandboxMode('reject');
    const session = await r.client.checkout();
    await r.parked(session);
    await r.client.sandboxMode('ok');

    const rearmed = await r.ops(['rearm', '--parked', '--yes', '--json', '--reason', 'tier fixed']);
    await r.ready(session);
    const read = await r.client.job(session);

    expect(rearmed.code).toBe(0);
    // This job, the 422 of the first test and the 401 that is still parked.
    expect(rearmed.json()).toMatchObject({ result: 'rearmed', refused: 0 });
    expect((rearmed.json() as { rearmed: number }).rearmed).toBeGreaterThanOrEqual(1);
    expect(read.job).toMatchObject({ status: 'provisioned', attempts: 2, parked_at: null });
    expect(kinds(read)).toEqual(expect.arrayContaining(['parked', 'rearmed', 'redrive']));
    expect(read.history.find((event) => event.kind === 'rearmed')).toMatchObject({
      actor: 'operator:oncall',
      reason: 'tier fixed',
    });
  });
});

describe('npm start: an orchestrator that takes its time, throttles, or goes down', () => {
  let r: Runtime;
  const STALE = 3;
  const STUCK = 10;
  beforeAll(async () => {
    r = await startRuntime({
      SANDBOX_ORCHESTRATOR: 'slow',
      // A second before each acceptance (slow) and each callback: inside the quiet window.
      SANDBOX_DELAY_MS: '1000',
      SANDBOX_SAGA_HEARTBEATS: '8',
      SANDBOX_RETRY_AFTER_SECONDS: '2',
      STALE_AFTER_SECONDS: String(STALE),
      STUCK_AFTER_SECONDS: String(STUCK),
      BREAKER_FAILURE_THRESHOLD: '3',
    });
  }, 90_000);
  afterAll(() => stopRuntime(r));

  /** The highest STUCK gauge seen while `work` runs. */
  async function gaugePeakDuring(work: Promise<unknown>): Promise<number> {
    let done = false;
    let peak = 0;
    const watched = work.finally(() => {
      done = true;
    });
    while (!done) {
      peak = Math.max(peak, await r.client.stuckGauge());
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await watched;
    return peak;
  }

  it('slow: five checkouts queue behind each other for longer than STALE, and each is triggered once, with no page', async () => {
    // Each acceptance takes a second: the fifth waits four, longer than STALE.
    const sessions = await Promise.all([1, 2, 3, 4, 5].map(() => r.client.checkout()));

    const peak = await gaugePeakDuring(Promise.all(sessions.map((session) => r.ready(session))));
    const reads = await Promise.all(sessions.map((session) => r.client.job(session)));

    for (const read of reads) {
      expect(read.job).toMatchObject({ attempts: 1, budget_spent: 1 });
      expect(kinds(read)).not.toContain('redrive');
    }
    const waited = reads.map((read) => at(read.job.dispatched_at) - at(read.job.created_at));
    expect(Math.max(...waited)).toBeGreaterThan(STALE * 1000);
    expect(peak).toBe(0);
  });

  it('saga: heartbeats keep a saga longer than STUCK alive; it becomes ready without a re-drive or a page', async () => {
    await r.client.sandboxMode('saga');
    const session = await r.client.checkout();
    const phases = new Set<string>();

    const peak = await gaugePeakDuring(
      until(
        async () => {
          const state = await r.client.state(session);
          if (state.phase) phases.add(state.phase);
          return state;
        },
        (s) => s.state === 'ready',
      ),
    );
    const read = await r.client.job(session);

    expect(read.job).toMatchObject({ attempts: 1, budget_spent: 1, status: 'provisioned' });
    expect(kinds(read)).not.toContain('redrive');
    expect(at(read.job.provisioned_at) - at(read.job.created_at)).toBeGreaterThan(STUCK * 1000);
    expect([...phases].filter((phase) => phase.startsWith('workloads')).length).toBeGreaterThan(1);
    expect(peak).toBe(0);
  });

  it('throttle (429): the job is re-driven only after the Retry-After, and provisioned once the orchestrator accepts', async () => {
    await r.client.sandboxMode('throttle');
    const session = await r.client.checkout();

    const throttledTwice = await until(
      () => r.client.job(session),
      (read) => read.history.filter((event) => event.kind === 'handoff').length >= 2,
    );
    await r.client.sandboxMode('ok');
    await r.ready(session);

    const [first, second] = throttledTwice.history.filter((event) => event.kind === 'handoff');
    const detail = first?.detail as { http_status: number; retry_at: string };
    expect(detail.http_status).toBe(429);
    expect(at(detail.retry_at) - at(first?.occurred_at)).toBeGreaterThanOrEqual(2_000);
    expect(at(second?.occurred_at)).toBeGreaterThanOrEqual(at(detail.retry_at));
  });

  it('down: failures across jobs open the breaker, held hand-offs spend nothing, and recovery closes it and provisions everyone', async () => {
    await r.client.sandboxMode('down');
    const failing = await Promise.all([1, 2, 3].map(() => r.client.checkout()));
    const open = await until(
      async () => (await r.ops(['breaker', '--json'])).json() as { state: string; reason: string },
      (breaker) => breaker.state === 'open',
    );
    const held = await r.client.checkout();
    const deferred = await until(
      () => r.client.job(held),
      (read) => kinds(read).includes('deferred'),
    );

    await r.client.sandboxMode('ok');
    for (const session of [...failing, held]) {
      await r.ready(session);
    }
    const closed = (await r.ops(['breaker', '--json'])).json();

    expect(open).toMatchObject({ state: 'open', reason: 'http_5xx', forced: false });
    expect(r.process.output()).toContain('the breaker opened');
    expect(deferred.job).toMatchObject({ budget_spent: 0 });
    expect(closed).toMatchObject({ state: 'closed', consecutive_failures: 0 });
    expect(r.process.output()).toContain('the breaker closed');
  });
});

describe('npm start during a callback secret rotation', () => {
  let r: Runtime;
  beforeAll(async () => {
    r = await startRuntime({
      SANDBOX_ORCHESTRATOR: 'ok',
      PROVISIONING_CALLBACK_SECRET: 'callback-secret-new-e2e,callback-secret-old-e2e',
    });
  }, 90_000);
  afterAll(() => stopRuntime(r));

  it('the sandbox signs its callbacks with the new secret of "new,old", and the customer is ready', async () => {
    const session = await r.client.checkout();

    await r.ready(session);
    const read = await r.client.job(session);

    expect(read.job).toMatchObject({ status: 'provisioned', attempts: 1 });
  });
});
