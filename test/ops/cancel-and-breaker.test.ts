import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RULES } from '../../functions/core/rules.js';
import { upsertPackage } from '../../functions/db/catalogue-repository.js';
import { applyCallback } from '../../functions/db/jobs/callbacks.js';
import { dispatchAttempt, recordAttemptOutcome } from '../../functions/db/jobs/handoff-attempts.js';
import type { DataApiBridge } from '../support/data-api-bridge.js';
import { bridgedExecutor } from '../support/executors.js';
import { PACKAGES } from '../support/handler-harness.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';
import {
  historyOf,
  jobColumns,
  LIFECYCLE_BUS,
  localEnv,
  mockStack,
  OPERATOR_ARN,
  opsRunner,
  recordCheckout,
  STACK,
} from './ops-harness.js';
import { parkedJob, provision } from './stopped-jobs.js';

/**
 * Closing a job that will never be provisioned (`ops cancel`), the breaker toward the
 * orchestrator (`ops breaker`), and the tenants reported for cancelled jobs that `ops
 * stuck` puts in front of the operator.
 */

let db: TestDatabase;
let bridge: DataApiBridge;
let stack: ReturnType<typeof mockStack>;
let eventBridge: AwsClientStub<EventBridgeClient>;
const now = new Date('2026-11-23T10:00:00.000Z');

beforeEach(async () => {
  db = await freshDatabase();
  for (const pkg of PACKAGES) await upsertPackage(db.executor, pkg);
  bridge = bridgedExecutor(db).bridge;
  stack = mockStack();
  eventBridge = mockClient(EventBridgeClient);
  eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] });
});
afterEach(async () => {
  eventBridge.restore();
  stack.restore();
  await bridge.close();
  await db.close();
});

/** The CLI against the local database (DATABASE_URL) or, with --stack, the stack’s over the Data API. */
function ops(argv: string[], options: Parameters<ReturnType<typeof opsRunner>>[1] = {}) {
  return opsRunner({
    env: { ...localEnv(db.connectionString), AWS_REGION: 'us-east-1' },
    collaborators: {
      clock: () => now,
      osUser: () => 'alice',
      rdsDataClient: () => bridge.client(),
      dataApiRetry: { baseDelayMs: 5, maxDelayMs: 50, budgetMs: 2_000 },
    },
  })(argv, options);
}

/** What the stack’s lifecycle bus received: type and detail of each entry. */
function published() {
  return eventBridge
    .commandCalls(PutEventsCommand)
    .flatMap((call) => call.args[0].input.Entries ?? [])
    .map((entry) => ({
      bus: entry.EventBusName,
      type: entry.DetailType,
      detail: JSON.parse(entry.Detail ?? '{}'),
    }));
}

async function accountStatus(sessionId: string): Promise<string> {
  const { rows } = await db.pool.query(
    'SELECT status FROM customer_accounts WHERE stripe_session_id = $1',
    [sessionId],
  );
  return rows[0]?.status;
}

async function breakerRow() {
  const { rows } = await db.pool.query(
    "SELECT state, forced, reason, changed_by FROM orchestrator_breaker WHERE id = 'orchestrator'",
  );
  return rows[0];
}

async function breakerHistory() {
  const { rows } = await db.pool.query(
    'SELECT kind, actor, reason FROM orchestrator_breaker_events ORDER BY id',
  );
  return rows;
}

describe('ops cancel', () => {
  it('closes a parked job for good: cancelled, off the gauge, its account marked, the reason and who in its history', async () => {
    const job = await parkedJob(db.executor, 'cs_test_refunded', now, 422);
    const gaugeBefore = await ops(['gauge', '--json']);

    const result = await ops([
      'cancel',
      'cs_test_refunded',
      '--yes',
      '--json',
      '--reason',
      'refunded, ticket 881',
    ]);

    expect(result.code).toBe(0);
    expect(result.json()).toEqual({
      result: 'cancelled',
      job_id: job.id,
      stripe_session_id: 'cs_test_refunded',
      prior_status: 'enqueued',
    });
    expect(await jobColumns(db.executor, job.id)).toMatchObject({
      status: 'cancelled',
      cancel_reason: 'refunded, ticket 881',
      cancelled_at: now,
      parked_at: null,
      next_attempt_at: null,
    });
    expect(await accountStatus('cs_test_refunded')).toBe('cancelled');
    expect((await historyOf(db.executor, job.id)).at(-1)).toMatchObject({
      kind: 'cancelled',
      actor: 'operator:alice',
      reason: 'refunded, ticket 881',
    });
    expect(gaugeBefore.json()).toMatchObject({ stuck: 1 });
    expect((await ops(['gauge', '--json'])).json()).toMatchObject({ stuck: 0 });
  });

  it('refuses a provisioned job, and writes nothing', async () => {
    const job = await recordCheckout(db.executor, 'cs_test_has_tenant', now);
    await provision(db.executor, 'cs_test_has_tenant', now, 'dpl_live');
    const before = {
      row: await jobColumns(db.executor, job.id),
      history: await historyOf(db.executor, job.id),
    };

    const result = await ops(['cancel', job.id, '--yes', '--reason', 'refunded']);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'is provisioned (dpl_live): a provisioned job is never cancelled',
    );
    expect(result.stderr).toContain('Decommission the tenant with the orchestrator team');
    expect(await jobColumns(db.executor, job.id)).toEqual(before.row);
    expect(await historyOf(db.executor, job.id)).toEqual(before.history);
    expect(await accountStatus('cs_test_has_tenant')).toBe('active');
  });

  it('says a job cancelled already is so, and touches nothing', async () => {
    await recordCheckout(db.executor, 'cs_test_twice', now);
    await ops(['cancel', 'cs_test_twice', '--yes', '--reason', 'fraud']);

    const again = await ops(['cancel', 'cs_test_twice', '--yes', '--json', '--reason', 'again']);

    expect(again.code).toBe(0);
    expect(again.json()).toMatchObject({ result: 'already_cancelled' });
    expect(
      (await jobColumns(db.executor, (again.json() as { job_id: string }).job_id))?.cancel_reason,
    ).toBe('fraud');
  });

  it('wants a reason and a confirmation: off a terminal, without --yes or --reason, nothing is done', async () => {
    const job = await recordCheckout(db.executor, 'cs_test_unsure', now);

    const noYes = await ops(['cancel', job.id, '--reason', 'refunded'], { tty: false });
    const noReason = await ops(['cancel', job.id, '--yes'], { tty: false });

    expect([noYes.code, noReason.code]).toEqual([1, 2]);
    expect(noReason.stderr).toContain('--reason is required');
    expect(await jobColumns(db.executor, job.id)).toMatchObject({ status: 'enqueued' });
  });

  it('with --stack, cancels through the Data API and publishes job.cancelled to the stack’s bus, naming the operator', async () => {
    const job = await recordCheckout(db.executor, 'cs_test_stack_cancel', now);

    const result = await ops([
      'cancel',
      'cs_test_stack_cancel',
      '--stack',
      STACK,
      '--yes',
      '--reason',
      'duplicate purchase',
    ]);

    expect(result.code).toBe(0);
    expect(published()).toEqual([
      {
        bus: LIFECYCLE_BUS,
        type: 'job.cancelled',
        detail: {
          job_id: job.id,
          stripe_session_id: 'cs_test_stack_cancel',
          reason: 'duplicate purchase',
          prior_status: 'enqueued',
        },
      },
    ]);
    expect((await historyOf(db.executor, job.id)).at(-1)).toMatchObject({
      kind: 'cancelled',
      actor: `operator:${OPERATOR_ARN}`,
    });
    expect(bridge.calls.some((call) => /cancel_reason = :reason/.test(call.sql ?? ''))).toBe(true);
  });
});

describe('ops stuck and the tenants reported for cancelled jobs', () => {
  it('lists a tenant the orchestrator reported after the job was cancelled, for a decision, and keeps it off the job', async () => {
    const job = await recordCheckout(db.executor, 'cs_test_late_tenant', now);
    await ops(['cancel', job.id, '--yes', '--reason', 'refunded']);
    await applyCallback(
      db.executor,
      {
        stripeSessionId: 'cs_test_late_tenant',
        status: 'provisioned',
        deploymentId: 'dpl_after_cancel',
        cellId: 'cell-9',
      },
      new Date(now.getTime() + 60_000),
      DEFAULT_RULES,
    );

    const listing = await ops(['stuck', '--json']);
    const human = await ops(['stuck']);

    expect(listing.code).toBe(0);
    expect(listing.json()).toMatchObject({
      total: 0,
      jobs: [],
      late_callbacks: [
        {
          id: job.id,
          stripe_session_id: 'cs_test_late_tenant',
          cancel_reason: 'refunded',
          deployment_id: 'dpl_after_cancel',
          cell_id: 'cell-9',
        },
      ],
    });
    expect(human.stdout).toContain('No job is waiting');
    expect(human.stdout).toContain(
      'Cancelled jobs the orchestrator reported a tenant for (decide: decommission it, or reopen the sale):',
    );
    expect(human.stdout).toMatch(/cs_test_late_tenant\s+dpl_after_cancel\s+\S+\s+refunded/);
    expect(await jobColumns(db.executor, job.id)).toMatchObject({
      status: 'cancelled',
      deployment_id: null,
    });
  });
});

describe('ops breaker (runbook 4a)', () => {
  it('shows a breaker that opened on its own: the failures, the reason, since when', async () => {
    // Two minutes ago, five jobs whose triggers failed with 503, one after another.
    const then = new Date(now.getTime() - 120_000);
    for (let i = 1; i <= DEFAULT_RULES.breakerFailureThreshold; i += 1) {
      const job = await recordCheckout(db.executor, `cs_test_breaker_${i}`, then);
      await dispatchAttempt(db.executor, { jobId: job.id, attempt: 1 }, then, 12);
      await recordAttemptOutcome(
        db.executor,
        { jobId: job.id, attempt: 1, outcome: 'transient', failure: 'http_5xx', httpStatus: 503 },
        then,
        DEFAULT_RULES,
      );
    }

    const json = await ops(['breaker', '--json']);
    const human = await ops(['breaker', 'show']);

    expect(json.code).toBe(0);
    expect(json.json()).toMatchObject({
      state: 'open',
      forced: false,
      consecutive_failures: 5,
      reason: 'http_5xx',
      open_seconds: 120,
      changed_by: 'handoff',
    });
    expect(human.stdout).toMatch(/^state\s+open$/m);
    expect(human.stdout).toMatch(/^open for\s+2m$/m);
    expect(human.stdout).toMatch(/^consecutive failures\s+5 \(opens at 5\)$/m);
  });

  it('open holds it open with the reason and who, and close closes it, each written to its history', async () => {
    const opened = await ops([
      'breaker',
      'open',
      '--yes',
      '--json',
      '--reason',
      'orchestrator maintenance 10:00-11:00',
    ]);
    const shown = await ops(['breaker']);
    const closed = await ops([
      'breaker',
      'close',
      '--yes',
      '--json',
      '--reason',
      'maintenance over',
    ]);

    expect(opened.code).toBe(0);
    expect(opened.json()).toEqual({ result: 'held_open', prior_state: 'closed' });
    expect(shown.stdout).toMatch(/^state\s+open \(held by an operator\)$/m);
    expect(shown.stdout).toMatch(/^reason\s+orchestrator maintenance 10:00-11:00$/m);
    expect(closed.json()).toEqual({ result: 'closed', prior_state: 'open' });
    expect(await breakerRow()).toEqual({
      state: 'closed',
      forced: false,
      reason: 'maintenance over',
      changed_by: 'operator:alice',
    });
    expect(await breakerHistory()).toEqual([
      {
        kind: 'forced_open',
        actor: 'operator:alice',
        reason: 'orchestrator maintenance 10:00-11:00',
      },
      { kind: 'forced_closed', actor: 'operator:alice', reason: 'maintenance over' },
    ]);
  });

  it('with --stack, publishes breaker.opened and breaker.closed to the stack’s bus when the state changes, and only then', async () => {
    const stackOps = (argv: string[]) => ops([...argv, '--stack', STACK, '--yes']);

    await stackOps(['breaker', 'open', '--reason', 'maintenance']);
    await stackOps(['breaker', 'open', '--reason', 'still maintenance']);
    await stackOps(['breaker', 'close', '--reason', 'done']);

    expect(published()).toEqual([
      {
        bus: LIFECYCLE_BUS,
        type: 'breaker.opened',
        detail: { forced: true, reason: 'maintenance' },
      },
      { bus: LIFECYCLE_BUS, type: 'breaker.closed', detail: { forced: true, reason: 'done' } },
    ]);
    expect(await breakerRow()).toMatchObject({
      state: 'closed',
      changed_by: `operator:${OPERATOR_ARN}`,
    });
  });

  it('refuses an unknown action as a usage error, and changes nothing unconfirmed', async () => {
    const unknown = await ops(['breaker', 'reset', '--yes', '--reason', 'r']);
    const unconfirmed = await ops(['breaker', 'open', '--reason', 'r'], { tty: false });

    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('breaker takes show, open or close, not reset');
    expect(unconfirmed.code).toBe(1);
    expect(await breakerRow()).toMatchObject({ state: 'closed', forced: false });
    expect(await breakerHistory()).toEqual([]);
  });
});
