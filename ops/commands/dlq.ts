import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { handoffMessage } from '../../functions/adapters/handoff-queue.js';
import type { Actor } from '../../functions/core/job.js';
import { parseJson } from '../../functions/core/json.js';
import type { SqlExecutor } from '../../functions/db/executor.js';
import { findJob, recordOperatorNote } from '../../functions/db/operator-repository.js';
import type { Command, CommandContext } from '../command.js';
import { TransportError, UsageError } from '../errors.js';
import { intOption, positionals } from '../options.js';
import { progressBar } from '../progress.js';
import { keyValues, show, table } from '../render.js';
import { messageOf, type StackResources } from '../target.js';

/** How long a listed message stays hidden before the listing gives it back. */
const PEEK_VISIBILITY_SECONDS = 30;
/** How long a message being redriven stays hidden: room for its send and delete. */
const MOVE_VISIBILITY_SECONDS = 120;

export const dlq: Command = {
  name: 'dlq',
  synopsis: 'dlq list [--limit N] | dlq redrive [--max N] [--reason TEXT]',
  summary: 'inspect and redrive the hand-off dead-letter queue (--stack only)',
  help: `list     shows the messages of the hand-off dead-letter queue (HandoffDeadLetterQueueUrl)
         with the job each one is for and what that job is now. Listing hides each message
         for ${PEEK_VISIBILITY_SECONDS} s and then gives it back; it removes nothing. In a FIFO queue a
         job's later messages show once its first one is redriven.
redrive  moves the messages back onto the hand-off queue (HandoffQueueUrl), oldest first:
         each is sent first and deleted from the dead-letter queue only once the send
         succeeded, so none is ever lost (a failed send stops the run and leaves the message
         where it was). Its deduplication id is derived from the dead-letter message, so
         running redrive again after an interruption does not send it twice within SQS's
         5-minute window; the consumer ignores outcomes of superseded attempts anyway.
         Each redriven message is noted in its job's history with your identity and reason.
Locally there is no dead-letter queue to reach: the local queue and its dead letters live
in the npm start process's memory, and after a restart the reconciler re-drives their jobs.`,
  options: ['limit', 'max'],
  async run(context, args) {
    const [action] = args.positionals;
    if (action !== 'list' && action !== 'redrive') {
      throw new UsageError('dlq takes list or redrive');
    }
    positionals(args, ['ACTION']);
    const target = await context.target();
    if (!target.stack) {
      throw new UsageError(
        'dlq needs --stack NAME: the local queue and its dead letters live in the npm start process',
        [
          'After a restart of the local runtime, the reconciler re-drives their jobs (nothing is lost: the jobs are in the database).',
        ],
      );
    }
    if (action === 'list') {
      if (args.options.max !== undefined) throw new UsageError('--max is an option of dlq redrive');
      await list(
        context,
        target.stack,
        target.db,
        intOption(args, 'limit', { min: 1, max: 1000 }, 50),
      );
    } else {
      if (args.options.limit !== undefined)
        throw new UsageError('--limit is an option of dlq list');
      await redrive(
        context,
        target.stack,
        target.db,
        intOption(args, 'max', { min: 1, max: 100_000 }, 100_000),
      );
    }
  },
};

async function list(
  context: CommandContext,
  stack: StackResources,
  db: SqlExecutor,
  limit: number,
): Promise<void> {
  const queueUrl = stack.output('HandoffDeadLetterQueueUrl');
  const counts = await queueCounts(stack.sqs, queueUrl);
  const seen = new Map<string, Message>();
  try {
    while (seen.size < limit) {
      const batch = await receive(
        stack.sqs,
        queueUrl,
        Math.min(10, limit - seen.size),
        PEEK_VISIBILITY_SECONDS,
      );
      const fresh = batch.filter((message) => message.MessageId && !seen.has(message.MessageId));
      if (fresh.length === 0) break;
      for (const message of fresh) seen.set(message.MessageId ?? '', message);
    }
  } finally {
    await release(context, stack.sqs, queueUrl, [...seen.values()]);
  }
  const messages: DescribedMessage[] = [];
  for (const message of seen.values()) messages.push(await describeMessage(db, message));
  context.out.result(
    {
      approximate_total: counts.visible,
      in_flight: counts.inFlight,
      shown: messages.length,
      messages,
    },
    () => {
      if (messages.length === 0) {
        return `The dead-letter queue is empty${counts.inFlight ? ` (${counts.inFlight} in flight: listed or being redriven)` : ''}.`;
      }
      return `${table(
        [
          { header: 'MESSAGE', value: (m) => m.message_id },
          { header: 'SENT', value: (m) => show(m.sent_at) },
          { header: 'RECEIVES', value: (m) => show(m.receive_count) },
          { header: 'SESSION', value: (m) => show(m.stripe_session_id) },
          { header: 'ATTEMPT', value: (m) => show(m.attempt) },
          {
            header: 'JOB NOW',
            value: (m) => (m.job_status ? `${m.job_status}, ${m.job_attempts} attempts` : '–'),
          },
          { header: 'NOTE', value: (m) => m.note },
        ],
        messages,
      )}\n\n${messages.length} shown of about ${counts.visible} in the dead-letter queue.`;
    },
  );
}

async function redrive(
  context: CommandContext,
  stack: StackResources,
  db: SqlExecutor,
  max: number,
): Promise<void> {
  const source = stack.output('HandoffDeadLetterQueueUrl');
  const destination = stack.output('HandoffQueueUrl');
  const counts = await queueCounts(stack.sqs, source);
  if (counts.visible === 0) {
    context.out.result(
      { moved: 0, not_deleted: 0 },
      () => 'The dead-letter queue is empty: nothing to redrive.',
    );
    return;
  }
  const planned = Math.min(counts.visible, max);
  context.out.plan(
    keyValues([
      ['from', source],
      ['to', destination],
      ['messages', `about ${counts.visible}${max < counts.visible ? `, at most ${max}` : ''}`],
      ['order', 'oldest first; each sent, then deleted from the dead-letter queue'],
    ]),
  );
  const authorization = await context.authorize({
    question: `Move ${planned === counts.visible ? 'every' : planned} message back onto the hand-off queue?`,
    summary: {
      action: 'dlq redrive',
      from: source,
      to: destination,
      approximate_messages: counts.visible,
    },
    needsReason: true,
  });
  if (!authorization) return;
  const actor = await context.actor();
  const progress = progressBar(context.io.stderr, 'redriving', planned);
  let moved = 0;
  let notDeleted = 0;
  let failure: string | undefined;
  try {
    while (moved < max && failure === undefined) {
      const batch = await receive(
        stack.sqs,
        source,
        Math.min(10, max - moved),
        MOVE_VISIBILITY_SECONDS,
      );
      if (batch.length === 0) break;
      for (const message of batch) {
        if (moved >= max) break;
        try {
          await stack.sqs.send(
            new SendMessageCommand({
              QueueUrl: destination,
              MessageBody: message.Body ?? '',
              MessageGroupId: message.Attributes?.MessageGroupId ?? message.MessageId,
              MessageDeduplicationId: `redrive-${message.MessageId}`,
            }),
          );
        } catch (error) {
          // Not deleted: it returns to the dead-letter queue after its visibility timeout.
          failure = `sending message ${message.MessageId} failed: ${messageOf(error)}`;
          break;
        }
        moved += 1;
        progress.advance();
        try {
          await stack.sqs.send(
            new DeleteMessageCommand({ QueueUrl: source, ReceiptHandle: message.ReceiptHandle }),
          );
        } catch (error) {
          notDeleted += 1;
          context.out.warn(
            `message ${message.MessageId} was redriven but is still in the dead-letter queue (${messageOf(error)}); a later redrive sends it again, harmlessly.`,
          );
        }
        await noteRedrive(context, db, message, actor, authorization.reason);
      }
    }
  } finally {
    progress.finish();
  }
  context.out.result(
    { moved, not_deleted: notDeleted, ...(failure ? { stopped: failure } : {}) },
    () =>
      `Moved ${moved} message${moved === 1 ? '' : 's'} back onto the hand-off queue${notDeleted ? ` (${notDeleted} still to delete from the dead-letter queue)` : ''}.`,
  );
  if (failure) {
    throw new TransportError(
      `redrive stopped: ${failure}; that message stays in the dead-letter queue`,
    );
  }
}

async function queueCounts(sqs: SQSClient, queueUrl: string) {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(Attributes?.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

async function receive(
  sqs: SQSClient,
  queueUrl: string,
  count: number,
  visibilitySeconds: number,
): Promise<Message[]> {
  const { Messages } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: count,
      VisibilityTimeout: visibilitySeconds,
      // Long polling asks every SQS server: an empty answer means the queue is empty.
      WaitTimeSeconds: 2,
      MessageSystemAttributeNames: ['All'],
    }),
  );
  return Messages ?? [];
}

/** Gives listed messages back at once; if that fails they come back after the peek's timeout. */
async function release(
  context: CommandContext,
  sqs: SQSClient,
  queueUrl: string,
  messages: Message[],
) {
  for (let i = 0; i < messages.length; i += 10) {
    const entries = messages.slice(i, i + 10).map((message, index) => ({
      Id: String(index),
      ReceiptHandle: message.ReceiptHandle,
      VisibilityTimeout: 0,
    }));
    try {
      await sqs.send(
        new ChangeMessageVisibilityBatchCommand({ QueueUrl: queueUrl, Entries: entries }),
      );
    } catch (error) {
      context.out.warn(
        `could not give listed messages back (${messageOf(error)}): they return within ${PEEK_VISIBILITY_SECONDS} s`,
      );
      return;
    }
  }
}

type DescribedMessage = Awaited<ReturnType<typeof describeMessage>>;

async function describeMessage(db: SqlExecutor, message: Message) {
  const base = {
    message_id: message.MessageId ?? '',
    sent_at: sentAt(message),
    receive_count: Number(message.Attributes?.ApproximateReceiveCount ?? 0) || null,
  };
  const parsed = handoffMessage.safeParse(parseJson(message.Body ?? ''));
  if (!parsed.success) {
    return {
      ...base,
      job_id: null,
      stripe_session_id: null,
      attempt: null,
      job_status: null,
      job_attempts: null,
      note: 'malformed: the consumer records and drops it',
    };
  }
  const { jobId, stripeSessionId, attempt } = parsed.data;
  const job = await findJob(db, jobId);
  const note = !job
    ? 'no such job'
    : job.status === 'provisioned'
      ? 'job provisioned: a redrive is harmless (the orchestrator deduplicates by job id)'
      : job.attempts > attempt
        ? `superseded by attempt ${job.attempts}: a redrive would change nothing`
        : 'the latest attempt: a redrive hands it off again';
  return {
    ...base,
    job_id: jobId,
    stripe_session_id: stripeSessionId,
    attempt,
    job_status: job?.status ?? null,
    job_attempts: job?.attempts ?? null,
    note,
  };
}

async function noteRedrive(
  context: CommandContext,
  db: SqlExecutor,
  message: Message,
  actor: Actor,
  reason: string,
): Promise<void> {
  const parsed = handoffMessage.safeParse(parseJson(message.Body ?? ''));
  if (!parsed.success) return;
  try {
    await recordOperatorNote(
      db,
      {
        jobId: parsed.data.jobId,
        kind: 'dlq_redrive',
        actor,
        reason,
        detail: { message_id: message.MessageId, attempt: parsed.data.attempt },
      },
      context.now(),
    );
  } catch (error) {
    context.out.warn(
      `the redrive of message ${message.MessageId} is not in its job's history: ${messageOf(error)}`,
    );
  }
}

function sentAt(message: Message): Date | null {
  const millis = Number(message.Attributes?.SentTimestamp);
  return Number.isFinite(millis) && millis > 0 ? new Date(millis) : null;
}
