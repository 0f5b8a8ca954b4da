import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { upsertPackage } from '../../functions/db/catalogue-repository.js';
import type { JobRow } from '../../functions/db/jobs/job-row.js';
import type { DataApiBridge } from '../support/data-api-bridge.js';
import { bridgedExecutor } from '../support/executors.js';
import { PACKAGES } from '../support/handler-harness.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';
import {
  DEAD_LETTER_QUEUE_URL,
  HANDOFF_QUEUE_URL,
  historyOf,
  localEnv,
  mockStack,
  OPERATOR_ARN,
  opsRunner,
  recordCheckout,
  STACK,
} from './ops-harness.js';

let db: TestDatabase;
let bridge: DataApiBridge;
const now = new Date('2026-11-23T10:00:00.000Z');
let ops: ReturnType<typeof opsRunner>;
let stack: ReturnType<typeof mockStack>;
let sqs: AwsClientStub<SQSClient>;
let current: JobRow;
let superseded: JobRow;

beforeAll(async () => {
  db = await freshDatabase();
  for (const pkg of PACKAGES) await upsertPackage(db.executor, pkg);
  bridge = bridgedExecutor(db).bridge;
  ops = opsRunner({
    env: localEnv(db.connectionString, { AWS_REGION: 'us-east-1' }),
    collaborators: { clock: () => now, rdsDataClient: () => bridge.client() },
  });
  current = await recordCheckout(db.executor, 'cs_test_dlq_current', now);
  superseded = await recordCheckout(db.executor, 'cs_test_dlq_superseded', now);
  await db.executor.execute('UPDATE provisioning_jobs SET attempts = 3 WHERE id = :jobId', {
    jobId: { type: 'uuid', value: superseded.id },
  });
});
afterAll(async () => {
  await bridge.close();
  await db.close();
});

/** A dead letter as SQS FIFO returns it: the consumer's message, its group, its receive count. */
function deadLetter(id: string, job: JobRow, attempt: number): Message {
  return {
    MessageId: id,
    ReceiptHandle: `receipt-${id}`,
    Body: JSON.stringify({
      jobId: job.id,
      attempt,
      stripeSessionId: job.stripe_session_id,
      triggerPayload: job.trigger_payload,
    }),
    Attributes: {
      MessageGroupId: job.id,
      SentTimestamp: String(now.getTime() - 3_600_000),
      ApproximateReceiveCount: '5',
    },
  };
}

const letters = () => [
  deadLetter('11111111-1111-4111-8111-111111111111', current, 1),
  deadLetter('22222222-2222-4222-8222-222222222222', superseded, 1),
];

beforeEach(() => {
  stack = mockStack();
  sqs = mockClient(SQSClient);
  sqs.on(GetQueueAttributesCommand).resolves({
    Attributes: { ApproximateNumberOfMessages: '2', ApproximateNumberOfMessagesNotVisible: '0' },
  });
  sqs
    .on(ReceiveMessageCommand, { QueueUrl: DEAD_LETTER_QUEUE_URL })
    .resolvesOnce({ Messages: letters() })
    .resolves({ Messages: [] });
  sqs.on(SendMessageCommand).resolves({ MessageId: 'new' });
  sqs.on(DeleteMessageCommand).resolves({});
  sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });
});
afterEach(() => {
  stack.restore();
  sqs.restore();
});

/** Every SQS command the CLI sent, in order, as `Command queue-suffix`. */
function sqsTrail(): string[] {
  return sqs.calls().map((call) => {
    const command = call.args[0] as { constructor: { name: string }; input: { QueueUrl?: string } };
    const queue = command.input.QueueUrl === DEAD_LETTER_QUEUE_URL ? 'dlq' : 'handoff';
    return `${command.constructor.name.replace('Command', '')} ${queue}`;
  });
}

describe('ops dlq list', () => {
  it('shows each dead letter with its job now, and gives every message back', async () => {
    const result = await ops(['dlq', 'list', '--stack', STACK, '--json']);

    expect(result.code).toBe(0);
    expect(result.json()).toMatchObject({
      approximate_total: 2,
      shown: 2,
      messages: [
        {
          stripe_session_id: 'cs_test_dlq_current',
          attempt: 1,
          job_status: 'enqueued',
          receive_count: 5,
          note: 'the latest attempt: a redrive hands it off again',
        },
        {
          stripe_session_id: 'cs_test_dlq_superseded',
          job_attempts: 3,
          note: 'superseded by attempt 3: a redrive would change nothing',
        },
      ],
    });
    const released = sqs.commandCalls(ChangeMessageVisibilityBatchCommand)[0]?.args[0].input;
    expect(
      released?.Entries?.map((entry) => [entry.ReceiptHandle, entry.VisibilityTimeout]),
    ).toEqual([
      ['receipt-11111111-1111-4111-8111-111111111111', 0],
      ['receipt-22222222-2222-4222-8222-222222222222', 0],
    ]);
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
  });

  it('is refused locally, where the queue lives in the npm start process', async () => {
    const result = await ops(['dlq', 'list']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('dlq needs --stack NAME');
    expect(sqs.calls()).toHaveLength(0);
  });
});

describe('ops dlq redrive', () => {
  it('sends each message back before deleting it, keeping its group, and notes it in the job history', async () => {
    const result = await ops([
      'dlq',
      'redrive',
      '--stack',
      STACK,
      '--yes',
      '--json',
      '--reason',
      'database was down, INC-3',
    ]);

    expect(result.code).toBe(0);
    expect(result.json()).toEqual({ moved: 2, not_deleted: 0 });
    expect(sqsTrail()).toEqual([
      'GetQueueAttributes dlq',
      'ReceiveMessage dlq',
      'SendMessage handoff',
      'DeleteMessage dlq',
      'SendMessage handoff',
      'DeleteMessage dlq',
      'ReceiveMessage dlq',
    ]);
    const sent = sqs.commandCalls(SendMessageCommand).map((call) => call.args[0].input);
    expect(sent[0]).toEqual({
      QueueUrl: HANDOFF_QUEUE_URL,
      MessageBody: letters()[0]?.Body,
      MessageGroupId: current.id,
      MessageDeduplicationId: 'redrive-11111111-1111-4111-8111-111111111111',
    });
    expect((await historyOf(db.executor, current.id)).at(-1)).toMatchObject({
      kind: 'dlq_redrive',
      actor: `operator:${OPERATOR_ARN}`,
      reason: 'database was down, INC-3',
    });
  });

  it('never deletes a message it could not send: it stops, and the message stays', async () => {
    sqs
      .on(SendMessageCommand)
      .resolvesOnce({ MessageId: 'new' })
      .rejects(Object.assign(new Error('Access to the queue is denied'), { name: 'AccessDenied' }));

    const result = await ops(['dlq', 'redrive', '--stack', STACK, '--yes', '--reason', 'r']);

    expect(result.code).toBe(3);
    expect(result.stderr).toContain('stays in the dead-letter queue');
    expect(
      sqs.commandCalls(DeleteMessageCommand).map((call) => call.args[0].input.ReceiptHandle),
    ).toEqual(['receipt-11111111-1111-4111-8111-111111111111']);
  });

  it('moves nothing without --yes when stdin is not a terminal', async () => {
    const result = await ops(['dlq', 'redrive', '--stack', STACK, '--reason', 'r'], { tty: false });

    expect(result.code).toBe(1);
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
  });

  it('draws a progress bar on a terminal, and only there', async () => {
    const onTerminal = await ops(['dlq', 'redrive', '--stack', STACK, '--yes', '--reason', 'r'], {
      stderrTty: true,
    });
    sqs
      .on(ReceiveMessageCommand, { QueueUrl: DEAD_LETTER_QUEUE_URL })
      .resolvesOnce({ Messages: letters() })
      .resolves({ Messages: [] });
    const piped = await ops(['dlq', 'redrive', '--stack', STACK, '--yes', '--reason', 'r']);

    expect(onTerminal.stderr).toContain('redriving [');
    expect(onTerminal.stderr).toContain('] 2/2');
    expect(piped.code).toBe(0);
    expect(piped.stderr).not.toContain('redriving');
  });
});
