import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, type SendMessageCommandInput } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HandoffMessage } from '../../functions/adapters/handoff-queue.js';
import { HttpOrchestratorTrigger } from '../../functions/adapters/http-orchestrator.js';
import type { OrchestratorTrigger } from '../../functions/adapters/orchestrator.js';
import type { HandoffOutcome } from '../../functions/core/job.js';
import type { SqlExecutor } from '../../functions/db/executor.js';
import { recordSettledCheckout } from '../../functions/db/jobs/checkout-records.js';
import type { JobRow } from '../../functions/db/jobs/job-row.js';
import { claimStaleJobs } from '../../functions/db/jobs/reconcile-claims.js';
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

/** Answers each trigger with a scripted outcome per job, and remembers what it was asked. */
class ScriptedOrchestrator implements OrchestratorTrigger {
  readonly calls: { jobId: string; payload: Readonly<Record<string, unknown>> }[] = [];
  constructor(private readonly outcomeFor: (jobId: string) => HandoffOutcome = () => 'accepted') {}

  async trigger(request: { jobId: string; payload: Readonly<Record<string, unknown>> }) {
    this.calls.push(request);
    return this.outcomeFor(request.jobId);
  }
}

function consumer(orchestrator: OrchestratorTrigger, db: SqlExecutor = h.deps.db) {
  return createHandoffConsumerHandler({ ...h.deps, db, orchestrator });
}

async function recordJob(sessionId = `cs_test_${randomUUID().replaceAll('-', '')}`) {
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
    'SELECT status, attempts, last_error FROM provisioning_jobs WHERE id = $1',
    [jobId],
  );
  return rows[0];
}

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

describe('each trigger outcome is recorded on the job', () => {
  const answers: { outcome: HandoffOutcome; fetch: () => Promise<Response> }[] = [
    { outcome: 'accepted', fetch: async () => new Response(null, { status: 202 }) },
    { outcome: 'http_4xx', fetch: async () => new Response('{}', { status: 422 }) },
    { outcome: 'http_5xx', fetch: async () => new Response('down', { status: 503 }) },
    {
      outcome: 'fetch_error',
      fetch: () => Promise.reject(new TypeError('fetch failed')),
    },
    {
      outcome: 'timeout',
      fetch: () => Promise.reject(new DOMException('The operation timed out.', 'TimeoutError')),
    },
  ];

  it.each(answers)('$outcome', async ({ outcome, fetch }) => {
    const job = await recordJob();
    const requests: { url: string; body: string }[] = [];
    const orchestrator = new HttpOrchestratorTrigger({
      url: TRIGGER_URL,
      secrets: h.secrets,
      timeoutMs: 1_000,
      clock: h.now,
      fetch: async (url, init) => {
        requests.push({ url: String(url), body: String(init?.body) });
        return fetch();
      },
    });

    const response = await consume(consumer(orchestrator), [await delivered(messageFor(job))]);

    expect(response).toEqual({ batchItemFailures: [] });
    // The exact stored payload went out.
    expect(requests.map((request) => JSON.parse(request.body))).toEqual([job.trigger_payload]);
    expect(await jobState(job.id)).toEqual({
      status: 'enqueued',
      attempts: 1,
      last_error: outcome === 'accepted' ? null : outcome,
    });
    expect(await handoffHistory(job.id)).toEqual([
      {
        to_status: 'enqueued',
        actor: 'handoff',
        reason: outcome === 'accepted' ? null : outcome,
        detail: { attempt: 1 },
      },
    ]);
    expect(Object.fromEntries(h.telemetry.counters)).toEqual(
      outcome === 'accepted' ? { HandoffAccepted: 1 } : { HandoffFailed: 1 },
    );
    expect(h.log.text()).toContain(job.id);
    expect(h.log.text()).toContain(job.stripe_session_id);
    expect(h.log.text()).not.toContain(TRIGGER_SECRET);
  });

  it('trigger_not_configured, with nothing sent, while the trigger secret is unset', async () => {
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
      attempts: 1,
      last_error: 'trigger_not_configured',
    });
    expect(h.telemetry.counters.get('HandoffFailed')).toBe(1);
  });

  it('an accepted re-drive of a job the orchestrator had failed awaits the orchestrator again', async () => {
    const job = await recordJob();
    await h.db.pool.query(
      `UPDATE provisioning_jobs SET status = 'failed', last_error = 'orchestrator_failed',
         attempts = 2, updated_at = $2, last_attempt_at = $3 WHERE id = $1`,
      [job.id, new Date(h.now().getTime() - 600_000), h.now()],
    );

    await consume(consumer(new ScriptedOrchestrator()), [await delivered(messageFor(job, 2))]);

    expect(await jobState(job.id)).toEqual({ status: 'enqueued', attempts: 2, last_error: null });
  });
});

describe('a FIFO batch', () => {
  it('returns a message whose outcome could not be recorded, and the later messages of its job, while other jobs are handed off', async () => {
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
    // a's second message was not handed off at all: its order is kept for the redelivery.
    expect(orchestrator.calls.map((call) => call.jobId)).toEqual([a.id, b.id, c.id]);
    expect(await handoffHistory(a.id)).toEqual([]);
    expect(await handoffHistory(b.id)).toHaveLength(1);
    expect(await handoffHistory(c.id)).toHaveLength(1);
    expect(h.telemetry.counters.get('HandoffAccepted')).toBe(2);
    const failure = h.log.entries.find((entry) => entry.level === 'error');
    expect(failure?.extra[0]).toMatchObject({ jobId: a.id, stripeSessionId: a.stripe_session_id });
  });

  it('returns the whole batch (the invocation fails) when no outcome can be recorded', async () => {
    const job = await recordJob();
    const handler = consumer(new ScriptedOrchestrator(), failingFor(job.id));

    const run = consume(handler, [await delivered(messageFor(job))]);

    await expect(run).rejects.toThrow(/All records failed/);
    expect(await handoffHistory(job.id)).toEqual([]);
  });

  it('returns a message to the queue, with nothing recorded, when the trigger secret cannot be read', async () => {
    const job = await recordJob();
    h.secretsManager
      .on(GetSecretValueCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    const orchestrator = new HttpOrchestratorTrigger({
      url: TRIGGER_URL,
      secrets: h.secrets,
      timeoutMs: 1_000,
      clock: h.now,
      fetch: async () => new Response(null, { status: 202 }),
    });

    const run = consume(consumer(orchestrator), [await delivered(messageFor(job))]);

    await expect(run).rejects.toThrow();
    expect(await jobState(job.id)).toMatchObject({ attempts: 1, last_error: null });
    expect(await handoffHistory(job.id)).toEqual([]);
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

describe('attempts', () => {
  it('a repeat delivery after success triggers again under the same idempotency key and counts no attempt', async () => {
    const job = await recordJob();
    const record = await delivered(messageFor(job));
    const orchestrator = new ScriptedOrchestrator();
    const handler = consumer(orchestrator);

    const first = await consume(handler, [record]);
    const repeat = await consume(handler, [
      { ...record, attributes: { ...record.attributes, ApproximateReceiveCount: '2' } },
    ]);

    expect([first, repeat]).toEqual([{ batchItemFailures: [] }, { batchItemFailures: [] }]);
    expect(orchestrator.calls.map((call) => call.jobId)).toEqual([job.id, job.id]);
    expect(await jobState(job.id)).toEqual({ status: 'enqueued', attempts: 1, last_error: null });
    expect((await handoffHistory(job.id)).map((event) => event.detail)).toEqual([
      { attempt: 1 },
      { attempt: 1 },
    ]);
  });

  it('the outcome of an attempt a re-drive superseded is ignored', async () => {
    const job = await recordJob();
    const stale = await delivered(messageFor(job, 1));
    h.advance(6 * 60);
    const claim = await claimStaleJobs(h.deps.db, 10, h.now(), h.deps.rules);
    expect(claim.jobs.map((claimed) => [claimed.id, claimed.attempt])).toEqual([[job.id, 2]]);

    const response = await consume(consumer(new ScriptedOrchestrator(() => 'http_5xx')), [stale]);

    expect(response).toEqual({ batchItemFailures: [] });
    expect(await jobState(job.id)).toEqual({ status: 'enqueued', attempts: 2, last_error: null });
    expect(await handoffHistory(job.id)).toEqual([]);
    expect(h.log.text()).toContain('ignored');
  });

  it('a job past its last attempt is reported capped, once, with job.capped', async () => {
    const [capped, underCap, acceptedAtCap] = [
      await recordJob(),
      await recordJob(),
      await recordJob(),
    ];
    await h.db.pool.query(
      'UPDATE provisioning_jobs SET attempts = $2, last_attempt_at = $3 WHERE id = ANY($1)',
      [[capped.id, acceptedAtCap.id], 8, h.now()],
    );
    await h.db.pool.query('UPDATE provisioning_jobs SET attempts = 7 WHERE id = $1', [underCap.id]);
    const orchestrator = new ScriptedOrchestrator((jobId) =>
      jobId === acceptedAtCap.id ? 'accepted' : 'http_5xx',
    );

    await consume(consumer(orchestrator), [
      await delivered(messageFor(capped, 8)),
      await delivered(messageFor(underCap, 7)),
      await delivered(messageFor(acceptedAtCap, 8)),
    ]);

    expect(h.telemetry.counters.get('JobCapped')).toBe(1);
    expect(lifecycleEvents()).toEqual([
      {
        type: 'job.capped',
        detail: {
          job_id: capped.id,
          stripe_session_id: capped.stripe_session_id,
          attempt: 8,
          last_error: 'http_5xx',
        },
      },
    ]);
    expect(await jobState(capped.id)).toEqual({
      status: 'enqueued',
      attempts: 8,
      last_error: 'http_5xx',
    });
  });

  it('a capped job whose event cannot be published is still handed off, and the loss is counted', async () => {
    const job = await recordJob();
    await h.db.pool.query('UPDATE provisioning_jobs SET attempts = 8 WHERE id = $1', [job.id]);
    h.eventBridge.on(PutEventsCommand).rejects(new Error('EventBridge unavailable'));

    const response = await consume(consumer(new ScriptedOrchestrator(() => 'timeout')), [
      await delivered(messageFor(job, 8)),
    ]);

    expect(response).toEqual({ batchItemFailures: [] });
    expect(h.telemetry.counters.get('JobCapped')).toBe(1);
    expect(h.telemetry.counters.get('LifecycleEventPublishFailed')).toBe(1);
    expect(await jobState(job.id)).toMatchObject({ attempts: 8, last_error: 'timeout' });
  });
});
