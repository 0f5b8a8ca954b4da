import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, type SendMessageCommandInput } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HandoffMessage } from '../../functions/adapters/handoff-queue.js';
import { HttpOrchestratorTrigger } from '../../functions/adapters/http-orchestrator.js';
import type { OrchestratorTrigger } from '../../functions/adapters/orchestrator.js';
import type { TriggerResult } from '../../functions/core/attempts.js';
import { DEFAULT_RULES } from '../../functions/core/rules.js';
import type { SqlExecutor } from '../../functions/db/executor.js';
import { recordSettledCheckout } from '../../functions/db/jobs/checkout-records.js';
import type { JobRow } from '../../functions/db/jobs/job-row.js';
import { claimProbe, claimStaleJobs } from '../../functions/db/jobs/reconcile-claims.js';
import { createHandoffConsumerHandler } from '../../functions/handlers/handoff-consumer.js';
import {
  CALLBACK_URL,
  type Harness,
  handlerHarness,
  lambdaContext,
} from '../support/handler-harness.js';

const QUEUE_ARN = 'arn:aws:sqs:us-east-1:123456789012:provisioning-handoff.fifo';
const TRIGGER_URL = 'https://orchestrator.example.com/trigger/onboarding';
const TRIGGER_SECRET = 'trigger-secret-never-logged';

let h: Harness;

beforeEach(async () => {
  h = await handlerHarness();
  h.setSecret('triggerSecret', TRIGGER_SECRET);
});
afterEach(async () => {
  await h.close();
});

/** Answers each trigger with a scripted result per job, and remembers what it was asked. */
class ScriptedOrchestrator implements OrchestratorTrigger {
  readonly calls: { jobId: string; payload: Readonly<Record<string, unknown>> }[] = [];
  constructor(
    private readonly resultFor: (jobId: string) => TriggerResult = () => ({ outcome: 'accepted' }),
  ) {}

  async trigger(request: { jobId: string; payload: Readonly<Record<string, unknown>> }) {
    this.calls.push(request);
    return this.resultFor(request.jobId);
  }
}

/** The callback route this stack serves now (a redeploy moved it from the stored one). */
const SERVED_CALLBACK_URL = 'https://api-v2.example.com/api/internal/provisioning/callback';

function consumer(orchestrator: OrchestratorTrigger, db: SqlExecutor = h.deps.db) {
  return createHandoffConsumerHandler({
    ...h.deps,
    db,
    orchestrator,
    callbackUrl: SERVED_CALLBACK_URL,
    dispatchLeaseSeconds: 12,
    random: () => 0.5,
  });
}

async function recordJob(sessionId = `cs_test_${randomUUID().replaceAll('-', '')}`) {
  // Recorded with the callback URL the stack served then.
  const { job } = await recordSettledCheckout(
    h.deps.db,
    {
      stripeSessionId: sessionId,
      stripeCustomerId: 'cus_test',
      customerEmail: 'buyer@example.com',
      packageSlug: 'growth',
      callbackUrl: CALLBACK_URL,
    },
    h.now(),
    DEFAULT_RULES.handoffLeaseSeconds,
  );
  return job;
}

function messageFor(job: JobRow, attempt = job.attempts): HandoffMessage {
  if (!job.trigger_payload) throw new Error('test job without a payload');
  return {
    jobId: job.id,
    attempt,
    stripeSessionId: job.stripe_session_id,
    triggerPayload: job.trigger_payload,
  };
}

/** The record Lambda's SQS poller delivers for a message, as the production queue adapter sent it. */
async function delivered(message: HandoffMessage): Promise<SQSRecord> {
  await h.queue.send(message);
  const sent = h.sqs.commandCalls(SendMessageCommand).at(-1)?.args[0].input;
  if (!sent) throw new Error('nothing sent');
  return sqsRecord(sent);
}

function sqsRecord(
  sent: Pick<SendMessageCommandInput, 'MessageBody' | 'MessageGroupId' | 'MessageDeduplicationId'>,
): SQSRecord {
  const body = sent.MessageBody ?? '';
  const sentAt = String(h.now().getTime());
  return {
    messageId: randomUUID(),
    receiptHandle: `AQEB${randomBytes(32).toString('base64')}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: sentAt,
      SequenceNumber: `1889${String(Date.now()).padStart(16, '0')}`,
      MessageGroupId: sent.MessageGroupId,
      SenderId: 'AROAEXAMPLE:provisioning-webhook',
      MessageDeduplicationId: sent.MessageDeduplicationId,
      ApproximateFirstReceiveTimestamp: sentAt,
    },
    messageAttributes: {},
    md5OfBody: createHash('md5').update(body).digest('hex'),
    eventSource: 'aws:sqs',
    eventSourceARN: QUEUE_ARN,
    awsRegion: 'us-east-1',
  };
}

function consume(
  handler: ReturnType<typeof consumer>,
  records: SQSRecord[],
  context: Context = lambdaContext(),
): Promise<SQSBatchResponse> {
  return handler({ Records: records }, context);
}

async function jobState(jobId: string) {
  const { rows } = await h.db.pool.query(
    `SELECT status, attempts, budget_spent, last_error, last_outcome, last_http_status, lease_expires_at,
       next_attempt_at, parked_at, capped_at FROM provisioning_jobs WHERE id = $1`,
    [jobId],
  );
  return rows[0];
}

const at = (seconds: number) => new Date(h.now().getTime() + seconds * 1000);

async function handoffHistory(jobId: string) {
  const { rows } = await h.db.pool.query(
    `SELECT to_status, actor, reason, detail FROM provisioning_job_events
     WHERE job_id = $1 AND kind = 'handoff' ORDER BY id`,
    [jobId],
  );
  return rows;
}

function lifecycleEvents() {
  return h.eventBridge
    .commandCalls(PutEventsCommand)
    .flatMap((call) => call.args[0].input.Entries ?? [])
    .map((entry) => ({ type: entry.DetailType, detail: JSON.parse(entry.Detail ?? '{}') }));
}

/** An executor over the test database whose statements about one job fail, as in an outage. */
function failingFor(jobId: string, db: SqlExecutor = h.deps.db): SqlExecutor {
  const touches = (params: Parameters<SqlExecutor['execute']>[1]) =>
    Object.values(params ?? {}).some((param) => param.value === jobId);
  return {
    execute: (sql, params) =>
      touches(params)
        ? Promise.reject(new Error('connection reset by peer'))
        : db.execute(sql, params),
    transaction: (work) => db.transaction(work),
  };
}

describe('each trigger answer becomes an outcome the job acts on', () => {
  const rules = () => h.deps.rules;
  const answers: {
    name: string;
    answer: () => Promise<Response>;
    lastError: string;
    httpStatus: number | null;
    state: () => Record<string, unknown>;
    counters: Record<string, number>;
  }[] = [
    {
      name: '202 accepted: quiet until the window passes',
      answer: async () => new Response(null, { status: 202 }),
      lastError: '',
      httpStatus: 202,
      state: () => ({
        last_outcome: 'accepted',
        next_attempt_at: at(rules().staleAfterSeconds),
        parked_at: null,
      }),
      counters: { HandoffAccepted: 1 },
    },
    {
      name: '503: transient, backed off',
      answer: async () => new Response('down', { status: 503 }),
      lastError: 'http_5xx',
      httpStatus: 503,
      state: () => ({
        last_outcome: 'transient',
        next_attempt_at: at(rules().staleAfterSeconds / 2),
      }),
      counters: { HandoffFailed: 1 },
    },
    {
      name: '408: transient',
      answer: async () => new Response('slow', { status: 408 }),
      lastError: 'http_4xx',
      httpStatus: 408,
      state: () => ({ last_outcome: 'transient', parked_at: null }),
      counters: { HandoffFailed: 1 },
    },
    {
      name: '429 with Retry-After: transient, not retried before it',
      answer: async () => new Response('busy', { status: 429, headers: { 'retry-after': '1200' } }),
      lastError: 'http_4xx',
      httpStatus: 429,
      state: () => ({ last_outcome: 'transient', next_attempt_at: at(1200) }),
      counters: { HandoffFailed: 1 },
    },
    {
      name: '422: permanent, parked at once',
      answer: async () => new Response('{}', { status: 422 }),
      lastError: 'http_4xx',
      httpStatus: 422,
      state: () => ({ last_outcome: 'permanent', parked_at: h.now(), next_attempt_at: null }),
      counters: { HandoffFailed: 1, JobParked: 1 },
    },
    {
      name: '401: permanent, parked, and said to be a wrong trigger secret or URL',
      answer: async () => new Response('who are you', { status: 401 }),
      lastError: 'http_4xx',
      httpStatus: 401,
      state: () => ({ last_outcome: 'permanent', parked_at: h.now() }),
      counters: { HandoffFailed: 1, JobParked: 1, TriggerUnauthorized: 1 },
    },
    {
      name: 'a transport error: transient',
      answer: () => Promise.reject(new TypeError('fetch failed')),
      lastError: 'fetch_error',
      httpStatus: null,
      state: () => ({ last_outcome: 'transient' }),
      counters: { HandoffFailed: 1 },
    },
    {
      name: 'a timeout: transient',
      answer: () => Promise.reject(new DOMException('The operation timed out.', 'TimeoutError')),
      lastError: 'timeout',
      httpStatus: null,
      state: () => ({ last_outcome: 'transient' }),
      counters: { HandoffFailed: 1 },
    },
  ];

  it.each(answers)('$name', async ({ answer, lastError, httpStatus, state, counters }) => {
    const job = await recordJob();
    const requests: { url: string; body: string }[] = [];
    const orchestrator = new HttpOrchestratorTrigger({
      url: TRIGGER_URL,
      secrets: h.secrets,
      timeoutMs: 1_000,
      clock: h.now,
      fetch: async (url, init) => {
        requests.push({ url: String(url), body: String(init?.body) });
        return answer();
      },
    });

    const response = await consume(consumer(orchestrator), [await delivered(messageFor(job))]);

    expect(response).toEqual({ batchItemFailures: [] });
    // The stored payload's business fields exactly, with the callback URL served now.
    expect(requests.map((request) => JSON.parse(request.body))).toEqual([
      { ...job.trigger_payload, callback_url: SERVED_CALLBACK_URL },
    ]);
    expect(await jobState(job.id)).toMatchObject({
      status: 'enqueued',
      attempts: 1,
      budget_spent: 1,
      lease_expires_at: null,
      last_error: lastError || null,
      last_http_status: httpStatus,
      ...state(),
    });
    expect(await handoffHistory(job.id)).toEqual([
      {
        to_status: 'enqueued',
        actor: 'handoff',
        reason: lastError || null,
        detail: expect.objectContaining({ attempt: 1, decided: true }),
      },
    ]);
    expect(Object.fromEntries(h.telemetry.counters)).toEqual(counters);
    expect(h.log.text()).toContain(job.id);
    expect(h.log.text()).toContain(job.stripe_session_id);
    expect(h.log.text()).not.toContain(TRIGGER_SECRET);
    if (httpStatus === 401) expect(h.log.text()).toContain('the trigger secret or URL is wrong');
    if (counters.JobParked) {
      expect(lifecycleEvents()).toEqual([
        {
          type: 'job.parked',
          detail: expect.objectContaining({
            job_id: job.id,
            last_error: lastError,
            http_status: httpStatus,
          }),
        },
      ]);
    }
  });

  it('trigger_not_configured parks the job with nothing sent while the trigger secret is unset', async () => {
    h.setSecret('triggerSecret', undefined);
    const job = await recordJob();
    let fetched = 0;
    const orchestrator = new HttpOrchestratorTrigger({
      url: TRIGGER_URL,
      secrets: h.secrets,
      timeoutMs: 1_000,
      clock: h.now,
      fetch: async () => {
        fetched += 1;
        return new Response(null, { status: 202 });
      },
    });

    const response = await consume(consumer(orchestrator), [await delivered(messageFor(job))]);

    expect(response).toEqual({ batchItemFailures: [] });
    expect(fetched).toBe(0);
    expect(await jobState(job.id)).toMatchObject({
      last_error: 'trigger_not_configured',
      last_outcome: 'permanent',
      parked_at: h.now(),
    });
  });

  it('an accepted re-drive of a job the orchestrator had failed awaits the orchestrator again', async () => {
    const job = await recordJob();
    await h.db.pool.query(
      `UPDATE provisioning_jobs SET status = 'failed', last_error = 'orchestrator_failed',
         attempts = 2, updated_at = $2, last_attempt_at = $3 WHERE id = $1`,
      [job.id, new Date(h.now().getTime() - 600_000), h.now()],
    );

    await consume(consumer(new ScriptedOrchestrator()), [await delivered(messageFor(job, 2))]);

    expect(await jobState(job.id)).toMatchObject({
      status: 'enqueued',
      attempts: 2,
      last_error: null,
    });
  });
});

describe('a FIFO batch', () => {
  it('returns a message that could not be dispatched, and the later messages of its job, while other jobs are handed off', async () => {
    const [a, b, c] = [await recordJob(), await recordJob(), await recordJob()];
    const records = [
      await delivered(messageFor(a)),
      await delivered(messageFor(b)),
      await delivered(messageFor(a, 2)),
      await delivered(messageFor(c)),
    ];
    const orchestrator = new ScriptedOrchestrator();
    const handler = consumer(orchestrator, failingFor(a.id));

    const response = await consume(handler, records);

    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: records[0]?.messageId },
      { itemIdentifier: records[2]?.messageId },
    ]);
    // Nothing was sent for a: its order is kept for the redelivery.
    expect(orchestrator.calls.map((call) => call.jobId)).toEqual([b.id, c.id]);
    expect(await handoffHistory(a.id)).toEqual([]);
    expect(await handoffHistory(b.id)).toHaveLength(1);
    expect(await handoffHistory(c.id)).toHaveLength(1);
    expect(h.telemetry.counters.get('HandoffAccepted')).toBe(2);
    const failure = h.log.entries.find((entry) => entry.level === 'error');
    expect(failure?.extra[0]).toMatchObject({ jobId: a.id, stripeSessionId: a.stripe_session_id });
  });

  it('returns the whole batch (the invocation fails) when nothing can be recorded', async () => {
    const job = await recordJob();
    const handler = consumer(new ScriptedOrchestrator(), failingFor(job.id));

    const run = consume(handler, [await delivered(messageFor(job))]);

    await expect(run).rejects.toThrow(/All records failed/);
    expect(await handoffHistory(job.id)).toEqual([]);
  });

  it('returns a message when the trigger secret cannot be read; its redelivery, once the lease lapses, sends the same attempt without spending budget again', async () => {
    const job = await recordJob();
    h.secretsManager
      .on(GetSecretValueCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    const fetches: string[] = [];
    const orchestrator = new HttpOrchestratorTrigger({
      url: TRIGGER_URL,
      secrets: h.secrets,
      timeoutMs: 1_000,
      clock: h.now,
      fetch: async (url) => {
        fetches.push(String(url));
        return new Response(null, { status: 202 });
      },
    });
    const record = await delivered(messageFor(job));

    await expect(consume(consumer(orchestrator), [record])).rejects.toThrow();
    const returned = await jobState(job.id);
    h.setSecret('triggerSecret', TRIGGER_SECRET);
    h.advance(60);
    await consume(consumer(orchestrator), [record]);

    expect(returned).toMatchObject({ budget_spent: 1, last_outcome: null });
    expect(fetches).toHaveLength(1);
    expect(await jobState(job.id)).toMatchObject({ budget_spent: 1, last_outcome: 'accepted' });
  });

  it('returns the messages it has no time left for, untouched, and hands off the others', async () => {
    const [a, b] = [await recordJob(), await recordJob()];
    const records = [await delivered(messageFor(a)), await delivered(messageFor(b))];
    const orchestrator = new ScriptedOrchestrator();
    // Plenty of time for the first message; then the invocation is nearly over.
    const remaining = [60_000, 3_000];
    const context = { ...lambdaContext(), getRemainingTimeInMillis: () => remaining.shift() ?? 0 };

    const response = await consume(consumer(orchestrator), records, context);

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: records[1]?.messageId }]);
    expect(orchestrator.calls.map((call) => call.jobId)).toEqual([a.id]);
    expect(await handoffHistory(b.id)).toEqual([]);
  });
});

describe('a malformed message', () => {
  it('is recorded as rejected, dropped (not returned), and does not hold up the batch', async () => {
    const job = await recordJob();
    const valid = await delivered(messageFor(job));
    const notJson = sqsRecord({
      MessageBody: '{"jobId": "truncated',
      MessageGroupId: 'g1',
      MessageDeduplicationId: 'd1',
    });
    const wrongShape = sqsRecord({
      MessageBody: JSON.stringify({
        jobId: 'not-a-uuid',
        attempt: 0,
        stripeSessionId: 'cs_test_shape',
        triggerPayload: { customer_email: 'private@example.com' },
      }),
      MessageGroupId: 'g2',
      MessageDeduplicationId: 'd2',
    });
    const orchestrator = new ScriptedOrchestrator();

    const response = await consume(consumer(orchestrator), [notJson, wrongShape, valid]);

    expect(response).toEqual({ batchItemFailures: [] });
    const { rows } = await h.db.pool.query(
      'SELECT source, reference, reason FROM rejected_inputs ORDER BY id',
    );
    expect(rows).toEqual([
      { source: 'handoff_queue', reference: notJson.messageId, reason: 'body is not JSON' },
      {
        source: 'handoff_queue',
        reference: wrongShape.messageId,
        reason: expect.stringMatching(/^jobId: .*; attempt: /),
      },
    ]);
    expect(h.telemetry.counters.get('InputRejected')).toBe(2);
    expect(orchestrator.calls.map((call) => call.jobId)).toEqual([job.id]);
    expect(h.log.entries.filter((entry) => entry.level === 'error')).toHaveLength(2);
    expect(h.log.text()).not.toContain('private@example.com');
  });

  it('returns to the queue when even its rejection cannot be recorded', async () => {
    const record = sqsRecord({
      MessageBody: 'garbage',
      MessageGroupId: 'g1',
      MessageDeduplicationId: 'd1',
    });
    const db = failingFor(record.messageId);

    const run = consume(consumer(new ScriptedOrchestrator(), db), [record]);

    await expect(run).rejects.toThrow(/All records failed/);
    const { rows } = await h.db.pool.query('SELECT * FROM rejected_inputs');
    expect(rows).toEqual([]);
    expect(h.log.entries.map((entry) => [entry.level, entry.extra[0]])).toEqual([
      ['error', expect.objectContaining({ messageId: record.messageId })],
    ]);
  });
});

describe('attempts are deliveries', () => {
  it('a repeat delivery of an attempt whose outcome is recorded is not sent again', async () => {
    const job = await recordJob();
    const record = await delivered(messageFor(job));
    const orchestrator = new ScriptedOrchestrator();
    const handler = consumer(orchestrator);

    const first = await consume(handler, [record]);
    const repeat = await consume(handler, [
      { ...record, attributes: { ...record.attributes, ApproximateReceiveCount: '2' } },
    ]);

    expect([first, repeat]).toEqual([{ batchItemFailures: [] }, { batchItemFailures: [] }]);
    expect(orchestrator.calls.map((call) => call.jobId)).toEqual([job.id]);
    expect(await jobState(job.id)).toMatchObject({ attempts: 1, budget_spent: 1 });
    expect(h.telemetry.counters.get('HandoffNotSent')).toBe(1);
  });

  it('an attempt a newer claim superseded is never sent', async () => {
    const job = await recordJob();
    const stale = await delivered(messageFor(job, 1));
    // The message waited in the queue past its lease: the reconciler claimed attempt 2.
    h.advance(h.deps.rules.handoffLeaseSeconds + 1);
    const claim = await claimStaleJobs(h.deps.db, 10, h.now(), h.deps.rules);
    expect(claim.jobs.map((claimed) => [claimed.id, claimed.attempt])).toEqual([[job.id, 2]]);
    const orchestrator = new ScriptedOrchestrator();

    const response = await consume(consumer(orchestrator), [stale]);

    expect(response).toEqual({ batchItemFailures: [] });
    expect(orchestrator.calls).toEqual([]);
    expect(await jobState(job.id)).toMatchObject({ attempts: 2, budget_spent: 0 });
    expect(await handoffHistory(job.id)).toEqual([]);
  });

  it('a transient failure that spends the last of the budget caps the job, once, with job.capped', async () => {
    const [capped, underCap, acceptedAtCap] = [
      await recordJob(),
      await recordJob(),
      await recordJob(),
    ];
    const max = h.deps.rules.maxAttempts;
    await h.db.pool.query('UPDATE provisioning_jobs SET budget_spent = $2 WHERE id = ANY($1)', [
      [capped.id, acceptedAtCap.id],
      max - 1,
    ]);
    await h.db.pool.query('UPDATE provisioning_jobs SET budget_spent = $2 WHERE id = $1', [
      underCap.id,
      max - 2,
    ]);
    const orchestrator = new ScriptedOrchestrator((jobId) =>
      jobId === acceptedAtCap.id
        ? { outcome: 'accepted' }
        : { outcome: 'http_5xx', httpStatus: 503 },
    );

    await consume(consumer(orchestrator), [
      await delivered(messageFor(capped)),
      await delivered(messageFor(underCap)),
      await delivered(messageFor(acceptedAtCap)),
    ]);

    expect(h.telemetry.counters.get('JobCapped')).toBe(1);
    expect(lifecycleEvents()).toEqual([
      {
        type: 'job.capped',
        detail: {
          job_id: capped.id,
          stripe_session_id: capped.stripe_session_id,
          attempt: 1,
          last_error: 'http_5xx',
          http_status: 503,
        },
      },
    ]);
    expect(await jobState(capped.id)).toMatchObject({ budget_spent: max, capped_at: h.now() });
    expect(await jobState(acceptedAtCap.id)).toMatchObject({ budget_spent: max, capped_at: null });
  });

  it('a capped job whose event cannot be published is still recorded, and the loss is counted', async () => {
    const job = await recordJob();
    await h.db.pool.query('UPDATE provisioning_jobs SET budget_spent = $2 WHERE id = $1', [
      job.id,
      h.deps.rules.maxAttempts - 1,
    ]);
    h.eventBridge.on(PutEventsCommand).rejects(new Error('EventBridge unavailable'));

    const response = await consume(
      consumer(new ScriptedOrchestrator(() => ({ outcome: 'timeout' }))),
      [await delivered(messageFor(job))],
    );

    expect(response).toEqual({ batchItemFailures: [] });
    expect(h.telemetry.counters.get('JobCapped')).toBe(1);
    expect(h.telemetry.counters.get('LifecycleEventPublishFailed')).toBe(1);
    expect(await jobState(job.id)).toMatchObject({ last_error: 'timeout', capped_at: h.now() });
  });
});

describe('the breaker', () => {
  it('opens after consecutive transient failures across jobs, holds later hand-offs unsent and unspent, and the first accepted probe closes it', async () => {
    const threshold = h.deps.rules.breakerFailureThreshold;
    const failing = [];
    for (let i = 0; i < threshold; i += 1) failing.push(await recordJob());
    const held = await recordJob();
    const down = new ScriptedOrchestrator(() => ({ outcome: 'timeout' }));

    const records = [];
    for (const job of failing) records.push(await delivered(messageFor(job)));
    await consume(consumer(down), records);
    await consume(consumer(down), [await delivered(messageFor(held))]);
    const afterOutage = lifecycleEvents().map((event) => event.type);
    const heldState = await jobState(held.id);
    // The next reconcile run claims one probe; the orchestrator is back.
    h.advance(h.deps.rules.handoffLeaseSeconds + 1);
    const probe = await claimProbe(h.deps.db, h.now(), h.deps.rules);
    if (!probe) throw new Error('no probe claimed');
    const up = new ScriptedOrchestrator();
    await consume(consumer(up), [
      await delivered({
        jobId: probe.id,
        attempt: probe.attempt,
        stripeSessionId: probe.stripeSessionId,
        triggerPayload: probe.triggerPayload,
      }),
    ]);

    expect(down.calls).toHaveLength(threshold);
    expect(afterOutage).toEqual(['breaker.opened']);
    expect(heldState).toMatchObject({
      budget_spent: 0,
      last_outcome: 'deferred',
      lease_expires_at: null,
    });
    expect(h.telemetry.counters.get('HandoffDeferred')).toBe(1);
    expect(up.calls).toHaveLength(1);
    expect(lifecycleEvents().map((event) => event.type)).toEqual([
      'breaker.opened',
      'breaker.closed',
    ]);
    // The longest waiting job was the probe: sent while open, spending no budget.
    expect(probe.id).toBe(held.id);
    expect(await jobState(probe.id)).toMatchObject({ last_outcome: 'accepted', budget_spent: 0 });
  });
});
