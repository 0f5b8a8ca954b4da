import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';

/** What travels on the hand-off queue: one attempt of one job, with its exact stored payload. */
export const handoffMessage = z.object({
  jobId: z.uuid(),
  attempt: z.number().int().positive(),
  stripeSessionId: z.string().min(1),
  triggerPayload: z.record(z.string(), z.unknown()),
});
export type HandoffMessage = z.infer<typeof handoffMessage>;

export interface HandoffQueue {
  send(message: HandoffMessage): Promise<void>;
}

/**
 * One dedup id per job and attempt: a duplicate send of the same attempt is dropped
 * by SQS, but a re-drive (the next attempt) is never swallowed.
 */
export function deduplicationId(message: Pick<HandoffMessage, 'jobId' | 'attempt'>): string {
  return `${message.jobId}:${message.attempt}`;
}

/** SQS FIFO: one message group per job, so one tenant's hand-off never blocks another's. */
export class SqsHandoffQueue implements HandoffQueue {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async send(message: HandoffMessage): Promise<void> {
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: JSON.stringify(message),
        MessageGroupId: message.jobId,
        MessageDeduplicationId: deduplicationId(message),
      }),
    );
  }
}

/**
 * Sends one attempt and says whether it is on the queue. A failure is logged, not
 * thrown: the job is durable, and the reconciler re-drives it once it is STALE.
 */
export async function sendAttempt(
  queue: HandoffQueue,
  message: HandoffMessage,
  onFailure: (error: unknown) => void,
): Promise<boolean> {
  try {
    await queue.send(message);
    return true;
  } catch (error) {
    onFailure(error);
    return false;
  }
}
