import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HandoffMessage, HandoffQueue } from '../../functions/adapters/handoff-queue.js';
import { InMemoryQuietMarker } from '../../functions/adapters/quiet-marker.js';
import { countStuckJobs } from '../../functions/db/jobs/reconcile-claims.js';
import { createReconcileHandler } from '../../functions/handlers/reconcile.js';
import type { ReconcileSettings, Timer } from '../../functions/services/reconcile.js';
import {
  CALLBACK_URL,
  type Harness,
  handlerHarness,
  lambdaContext,
} from '../support/handler-harness.js';
import { virtualClock } from '../support/virtual-clock.js';

let h: Harness;

beforeEach(async () => {
  h = await handlerHarness();
});
afterEach(async () => {
  await h.close();
});

/** The production SQS adapter (over the mocked client), noting the virtual time of each send. */
function timedQueue(timer: Timer, sentAt: number[] = []): HandoffQueue & { sentAt: number[] } {
  return {
    sentAt,
    send: async (message: HandoffMessage) => {
      sentAt.push(timer.now());
      await h.queue.send(message);
    },
  };
}

function reconciler(
  settings: Partial<ReconcileSettings> = {},
  timer = virtualClock(),
  queue = timedQueue(timer),
) {
  const handler = createReconcileHandler({
    ...h.deps,
    // Each reconciler its own marker: a run never finds another test's quiet time.
    quiet: new InMemoryQuietMarker(),
    queue,
    timer,
    settings: { batchSize: 25, maxRedrivesPerSecond: 20, ...settings },
  });
  return { handler, timer, queue };
}

/** What EventBridge Scheduler delivers to a Lambda target configured without an input. */
function scheduledEvent() {
  return {
    version: '0',
    id: crypto.randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.scheduler',
    account: '123456789012',
    time: h.now().toISOString(),
    region: 'us-east-1',
    resources: ['arn:aws:scheduler:us-east-1:123456789012:schedule/default/provisioning-reconcile'],
    detail: '{}',
  };
}

/** A run with the reconciler's Lambda timeout (5 minutes) ahead of it, unless told otherwise. */
function run(reconcile: ReturnType<typeof reconciler>, remainingMs = 300_000) {
  // The run's clock is virtual; so is the invocation's remaining time, or a busy
  // machine would shave real milliseconds off the budget the test reasons about.
  const context = { ...lambdaContext(remainingMs), getRemainingTimeInMillis: () => remainingMs };
  return reconcile.handler(scheduledEvent(), context);
}

function minutesAgo(minutes: number): Date {
  return new Date(h.now().getTime() - minutes * 60_000);
}

interface JobRows {
  readonly prefix: string;
  readonly count: number;
  readonly status?: 'enqueued' | 'provisioning' | 'failed' | 'provisioned';
  readonly attempts?: number;
  readonly budgetSpent?: number;
  readonly lastError?: string | null;
  readonly withPayload?: boolean;
  readonly lastAttemptAt?: Date | null;
  readonly nextAttemptAt?: Date | null;
  readonly updatedAt?: Date;
}

/**
 * Inserts `count` jobs and their accounts in one statement. Defaults: a due job (attempt
 * 1 handed off and accepted 10 minutes ago, nothing heard since) with a payload, last
 * touched an hour ago (so also STUCK); a `lastError` makes its last outcome transient.
 */
async function insertJobs(rows: JobRows): Promise<void> {
  const lastError = rows.lastError ?? null;
  const attempts = rows.attempts ?? 1;
  await h.db.pool.query(
    `WITH seeds AS (
       SELECT n, gen_random_uuid() AS job_id, gen_random_uuid() AS account_id,
         $1::text || n AS session, 'buyer' || n || '@example.com' AS email
       FROM generate_series(1, $2::int) AS n
     ), accounts AS (
       INSERT INTO customer_accounts
         (id, stripe_session_id, email, package_slug, tier, tokens_quota, status, created_at, updated_at)
       SELECT account_id, session, email, 'starter', 'starter', 100000, 'pending', $3::timestamptz, $3::timestamptz
       FROM seeds
     )
     INSERT INTO provisioning_jobs
       (id, account_id, stripe_session_id, status, attempts, budget_spent, last_error, last_outcome,
        dispatched_attempt, outcome_attempt, deployment_id, cell_id, package_slug, tokens_quota,
        trigger_payload, last_attempt_at, next_attempt_at, created_at, updated_at)
     SELECT job_id, account_id, session, $4::text, $5::int, $11::int, $6::text, $12::text,
       nullif($5::int, 0), nullif($5::int, 0),
       CASE WHEN $4::text = 'provisioned' THEN 'dpl_' || n END,
       CASE WHEN $4::text = 'provisioned' THEN 'cell-1' END,
       'starter', 100000,
       CASE WHEN $7::boolean THEN jsonb_build_object(
         'job_id', job_id, 'stripe_session_id', session, 'account_id', account_id,
         'package_slug', 'starter', 'tokens_quota', 100000, 'customer_email', email,
         'callback_url', $8::text) END,
       $9::timestamptz, $13::timestamptz, $3::timestamptz + n * interval '1 millisecond', $10::timestamptz
     FROM seeds`,
    [
      rows.prefix,
      rows.count,
      minutesAgo(120),
      rows.status ?? 'enqueued',
      attempts,
      lastError,
      rows.withPayload ?? true,
      CALLBACK_URL,
      rows.lastAttemptAt === undefined ? minutesAgo(10) : rows.lastAttemptAt,
      rows.updatedAt ?? minutesAgo(60),
      rows.budgetSpent ?? attempts,
      attempts === 0 ? null : lastError ? 'transient' : 'accepted',
      rows.nextAttemptAt === undefined ? minutesAgo(5) : rows.nextAttemptAt,
    ],
  );
}

async function jobsLike(prefix: string) {
  const { rows } = await h.db.pool.query<{
    id: string;
    stripe_session_id: string;
    attempts: number;
    trigger_payload: Record<string, unknown> | null;
  }>(
    `SELECT id, stripe_session_id, attempts, trigger_payload FROM provisioning_jobs
     WHERE stripe_session_id LIKE $1 ORDER BY stripe_session_id`,
    [`${prefix}%`],
  );
  return rows;
}

function sentMessages() {
  return h.sqs.commandCalls(SendMessageCommand).map((call) => {
    const input = call.args[0].input;
    return {
      groupId: input.MessageGroupId,
      dedupId: input.MessageDeduplicationId,
      body: JSON.parse(input.MessageBody ?? '{}') as HandoffMessage,
    };
  });
}

/** No `maxRedrivesPerSecond + 1` sends within any second. */
function assertPaced(sentAt: readonly number[], perSecond: number): void {
  for (let i = 0; i + perSecond < sentAt.length; i += 1) {
    const first = sentAt[i] ?? 0;
    const after = sentAt[i + perSecond] ?? 0;
    expect(after - first).toBeGreaterThanOrEqual(1000 - 1e-6);
  }
}

describe('a reconcile run', () => {
  it('drains a thousand stale jobs in one run, each replayed exactly once as its next attempt', async () => {
    await insertJobs({ prefix: 'cs_test_quiet_', count: 750 });
    await insertJobs({ prefix: 'cs_test_down_', count: 250, lastError: 'http_5xx' });
    await insertJobs({
      prefix: 'cs_test_nopayload_',
      count: 7,
      attempts: 0,
      lastError: 'unknown_package',
      withPayload: false,
      lastAttemptAt: null,
      nextAttemptAt: null,
    });
    await insertJobs({
      prefix: 'cs_test_capped_',
      count: 5,
      budgetSpent: 8,
      lastError: 'http_5xx',
    });
    await insertJobs({
      prefix: 'cs_test_fresh_',
      count: 3,
      lastAttemptAt: minutesAgo(1),
      nextAttemptAt: minutesAgo(-4),
      updatedAt: h.now(),
    });
    await insertJobs({ prefix: 'cs_test_done_', count: 4, status: 'provisioned' });
    const before = [...(await jobsLike('cs_test_quiet_')), ...(await jobsLike('cs_test_down_'))];
    const reconcile = reconciler();

    const summary = await run(reconcile);

    expect(summary).toEqual({
      event: 'provisioning.reconcile.run',
      scanned: 1007,
      redriven: 1000,
      still_failing: 250,
      skipped_no_payload: 7,
      capped: 5,
      breaker: 'closed',
      breaker_open_seconds: 0,
      probe_sent: false,
      stuck_total: 1012,
      run: 'full',
    });
    const sent = sentMessages();
    expect(sent).toHaveLength(1000);
    expect(new Set(sent.map((message) => message.groupId)).size).toBe(1000);
    const after = new Map(
      [...(await jobsLike('cs_test_quiet_')), ...(await jobsLike('cs_test_down_'))].map((job) => [
        job.id,
        job,
      ]),
    );
    for (const job of before) {
      const message = sent.find((candidate) => candidate.groupId === job.id);
      expect(after.get(job.id)?.attempts).toBe(2);
      expect(message?.dedupId).toBe(`${job.id}:2`);
      expect(message?.body).toEqual({
        jobId: job.id,
        attempt: 2,
        stripeSessionId: job.stripe_session_id,
        triggerPayload: job.trigger_payload,
      });
    }
    for (const prefix of [
      'cs_test_nopayload_',
      'cs_test_capped_',
      'cs_test_fresh_',
      'cs_test_done_',
    ]) {
      for (const job of await jobsLike(prefix)) expect(job.attempts).not.toBe(2);
    }
    // A thousand re-drives at 20 a second: about 50 seconds of pacing, never faster.
    assertPaced(reconcile.queue.sentAt, 20);
    expect(reconcile.timer.now()).toBeCloseTo(999 * 50, 6);
  });

  it('reports the STUCK gauge as countStuckJobs sees it, and the counters', async () => {
    await insertJobs({ prefix: 'cs_test_quiet_', count: 3 });
    await insertJobs({ prefix: 'cs_test_down_', count: 2, lastError: 'timeout' });
    await insertJobs({ prefix: 'cs_test_capped_', count: 4, budgetSpent: 8 });
    await insertJobs({
      prefix: 'cs_test_nopayload_',
      count: 1,
      withPayload: false,
      attempts: 0,
      nextAttemptAt: null,
    });

    const summary = await run(reconciler());

    expect(summary.stuck_total).toBe(await countStuckJobs(h.deps.db, h.now(), h.deps.rules));
    expect(summary.stuck_total).toBe(10);
    expect(Object.fromEntries(h.telemetry.gauges)).toEqual({
      ProvisioningJobsStuck: 10,
      BreakerOpenSeconds: 0,
    });
    expect(Object.fromEntries(h.telemetry.counters)).toEqual({
      JobCapped: 4,
      ReconcileRedriven: 5,
      ReconcileStillFailing: 2,
      ReconcileSkippedNoPayload: 1,
    });
  });

  it('logs its summary line exactly as it answers it, and says when payloads are missing', async () => {
    await insertJobs({ prefix: 'cs_test_quiet_', count: 2 });
    await insertJobs({
      prefix: 'cs_test_nopayload_',
      count: 3,
      withPayload: false,
      attempts: 0,
      nextAttemptAt: null,
    });

    const summary = await run(reconciler());

    expect(h.log.entries).toEqual([
      {
        level: 'warn',
        message: 'provisioning.reconcile.skip_no_payload',
        extra: [{ skipped_no_payload: 3 }],
      },
      { level: 'info', message: 'provisioning.reconcile.run', extra: [summary] },
    ]);
    expect(Object.keys(summary)).toEqual([
      'event',
      'scanned',
      'redriven',
      'still_failing',
      'skipped_no_payload',
      'capped',
      'breaker',
      'breaker_open_seconds',
      'probe_sent',
      'stuck_total',
      'run',
    ]);
  });

  it('paces its sends to the configured rate', async () => {
    await insertJobs({ prefix: 'cs_test_quiet_', count: 12 });
    const reconcile = reconciler({ batchSize: 5, maxRedrivesPerSecond: 5 });

    const summary = await run(reconcile);

    expect(summary.redriven).toBe(12);
    assertPaced(reconcile.queue.sentAt, 5);
    expect(reconcile.timer.sleeps).toEqual(Array(11).fill(200));
  });

  it('stops claiming when the sends it could still pace would outlast the invocation, and sends every job it claimed', async () => {
    await insertJobs({ prefix: 'cs_test_quiet_', count: 30 });
    const reconcile = reconciler({ batchSize: 10, maxRedrivesPerSecond: 10 });

    // 1.5 s of pacing left after the safety margin: 15 jobs at 10 a second.
    const summary = await run(reconcile, 21_500);

    expect(summary).toMatchObject({ scanned: 15, redriven: 15, still_failing: 0 });
    const jobs = await jobsLike('cs_test_quiet_');
    const claimed = jobs.filter((job) => job.attempts === 2).map((job) => job.id);
    expect(claimed).toHaveLength(15);
    expect(jobs.filter((job) => job.attempts === 1)).toHaveLength(15);
    expect(
      sentMessages()
        .map((message) => message.groupId)
        .sort(),
    ).toEqual(claimed.sort());
    expect(reconcile.timer.now()).toBeLessThanOrEqual(1_500);
  });

  it('still counts the NULL-payload rows when no time is left to re-drive anything', async () => {
    await insertJobs({ prefix: 'cs_test_quiet_', count: 3 });
    await insertJobs({
      prefix: 'cs_test_nopayload_',
      count: 2,
      withPayload: false,
      attempts: 0,
      nextAttemptAt: null,
    });

    const summary = await run(reconciler(), 10_000);

    expect(summary).toMatchObject({ scanned: 2, redriven: 0, skipped_no_payload: 2 });
    expect(sentMessages()).toEqual([]);
    expect((await jobsLike('cs_test_quiet_')).map((job) => job.attempts)).toEqual([1, 1, 1]);
  });
});

describe('when runs overlap or repeat', () => {
  it('two overlapping runs never both re-drive: one holds the lease and sends every stale job once, at its pace', async () => {
    await insertJobs({ prefix: 'cs_test_quiet_', count: 200 });
    const first = reconciler();
    const second = reconciler();

    const summaries = await Promise.all([run(first), run(second)]);

    const sent = sentMessages();
    expect(sent).toHaveLength(200);
    expect(new Set(sent.map((message) => message.groupId)).size).toBe(200);
    expect(summaries.map((summary) => summary.run).sort()).toEqual(['full', 'overlap']);
    expect(summaries.map((summary) => summary.redriven).sort((a, b) => a - b)).toEqual([0, 200]);
    expect((await jobsLike('cs_test_quiet_')).every((job) => job.attempts === 2)).toBe(true);
  });

  it('a repeated invocation finds nothing left to re-drive', async () => {
    await insertJobs({ prefix: 'cs_test_quiet_', count: 30 });

    const first = await run(reconciler());
    const repeat = await run(reconciler());

    expect([first.redriven, repeat.redriven]).toEqual([30, 0]);
    expect(sentMessages()).toHaveLength(30);
  });
});

describe('when the queue refuses a send', () => {
  it('counts the job as still failing and re-drives it once its lease lapses', async () => {
    await insertJobs({ prefix: 'cs_test_quiet_', count: 5 });
    const [victim] = await jobsLike('cs_test_quiet_');
    if (!victim) throw new Error('no job');
    h.sqs
      .on(SendMessageCommand, { MessageGroupId: victim.id })
      .rejects(new Error('SQS unavailable'));

    const failed = await run(reconciler());
    const tooSoon = await run(reconciler());
    h.sqs.on(SendMessageCommand, { MessageGroupId: victim.id }).resolves({});
    h.advance(h.deps.rules.handoffLeaseSeconds + 1);
    const later = await run(reconciler());

    expect(failed).toMatchObject({ scanned: 5, redriven: 4, still_failing: 1 });
    expect(tooSoon).toMatchObject({ scanned: 0, redriven: 0 });
    expect(later).toMatchObject({ scanned: 5, redriven: 5, still_failing: 0 });
    const victimSends = sentMessages().filter((message) => message.groupId === victim.id);
    expect(victimSends.map((message) => message.dedupId)).toEqual([
      `${victim.id}:2`,
      `${victim.id}:3`,
    ]);
    expect(h.log.text()).toContain(victim.id);
  });

  it('stops claiming after a batch the queue refused entirely, sparing the other jobs their attempts', async () => {
    await insertJobs({ prefix: 'cs_test_quiet_', count: 60 });
    h.sqs.on(SendMessageCommand).rejects(new Error('SQS unavailable'));

    const summary = await run(reconciler());

    expect(summary).toMatchObject({ scanned: 25, redriven: 0, still_failing: 25 });
    const attempts = (await jobsLike('cs_test_quiet_')).map((job) => job.attempts);
    expect(attempts.filter((count) => count === 2)).toHaveLength(25);
    expect(attempts.filter((count) => count === 1)).toHaveLength(35);
  });
});

describe('jobs that need an operator, and the breaker', () => {
  it('caps a job due with no budget left, once, and announces job.capped once', async () => {
    await insertJobs({ prefix: 'cs_test_spent_', count: 2, budgetSpent: 8, lastError: 'timeout' });

    const first = await run(reconciler());
    const second = await run(reconciler());

    expect([first.capped, second.capped]).toEqual([2, 0]);
    expect(sentMessages()).toEqual([]);
    const events = h.eventBridge
      .commandCalls(PutEventsCommand)
      .flatMap((call) => call.args[0].input.Entries ?? []);
    expect(events.map((entry) => entry.DetailType)).toEqual(['job.capped', 'job.capped']);
    expect(h.telemetry.counters.get('JobCapped')).toBe(2);
  });

  it('while the breaker is open, claims nothing and spends no budget, and sends one probe per run', async () => {
    await insertJobs({ prefix: 'cs_test_waiting_', count: 10, lastError: 'timeout' });
    await h.db.pool.query("UPDATE orchestrator_breaker SET state = 'open', opened_at = $1", [
      minutesAgo(20),
    ]);

    const first = await run(reconciler());
    const second = await run(reconciler());
    h.advance(h.deps.rules.handoffLeaseSeconds + 1);
    const third = await run(reconciler());

    expect([first, second, third].map((summary) => [summary.redriven, summary.probe_sent])).toEqual(
      [
        [0, true],
        // The first probe is still in flight: no second one.
        [0, false],
        [0, true],
      ],
    );
    expect(first).toMatchObject({ breaker: 'open', breaker_open_seconds: 20 * 60 });
    expect(h.telemetry.gauges.get('BreakerOpenSeconds')).toBe(
      20 * 60 + h.deps.rules.handoffLeaseSeconds + 1,
    );
    const sent = sentMessages();
    expect(sent).toHaveLength(2);
    const { rows } = await h.db.pool.query<{ budget_spent: number }>(
      "SELECT budget_spent FROM provisioning_jobs WHERE stripe_session_id LIKE 'cs_test_waiting_%'",
    );
    expect(rows.every((row) => row.budget_spent === 1)).toBe(true);
  });
});
