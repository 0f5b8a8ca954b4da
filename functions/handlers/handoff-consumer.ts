import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import {
  awsCallbackUrl,
  awsConfig,
  awsOrchestrator,
  awsSecrets,
  awsServiceDependencies,
  lazyHandler,
} from '../aws.js';
import { dispatchLeaseSeconds, reserveFor } from '../core/handoff-timing.js';
import { type HandoffDependencies, handOff } from '../services/handoff.js';
import { lambdaHandler } from './middleware.js';

export interface HandoffConsumerOptions {
  /**
   * The time one message may need: the trigger timeout and the recording. A message
   * reached with less left returns to the queue untouched, rather than dying with the
   * invocation and taking its finished neighbours back with it.
   */
  readonly reserveMs?: number;
}

/**
 * The SQS FIFO event source of the hand-off queue (SPEC 2.3). Powertools' FIFO
 * processor handles the messages in order, and `skipGroupOnError` makes a failure
 * return only the later messages of its own group (one job's attempts), while other
 * jobs' messages are still handed off. Failed messages are answered as
 * `batchItemFailures`; when every message fails the invocation throws, as Lambda
 * expects, and the function's error alarm sees it.
 */
export function createHandoffConsumerHandler(
  deps: HandoffDependencies,
  options: HandoffConsumerOptions = {},
) {
  const reserveMs = options.reserveMs ?? reserveFor(10_000);
  const handOffInTime = async (record: SQSRecord, context: Context) => {
    if (context.getRemainingTimeInMillis() < reserveMs) {
      deps.log.warn('no time left to hand this message off; it returns to the queue', {
        messageId: record.messageId,
      });
      throw new Error('not enough invocation time left for this message');
    }
    return handOff(deps, record);
  };
  return lambdaHandler<SQSEvent, SQSBatchResponse>((event, context) =>
    // One processor per invocation: it keeps the batch's state.
    processPartialResponse(
      event,
      (record: SQSRecord) => handOffInTime(record, context),
      new SqsFifoPartialProcessorAsync(),
      { context, skipGroupOnError: true },
    ),
  );
}

export const handler = lazyHandler(() => {
  const config = awsConfig();
  return createHandoffConsumerHandler(
    {
      ...awsServiceDependencies(config),
      orchestrator: awsOrchestrator(awsSecrets(config), config),
      callbackUrl: awsCallbackUrl(config),
      dispatchLeaseSeconds: dispatchLeaseSeconds(
        config.triggerTimeoutMs,
        config.database.kind === 'data-api' ? config.database.retryBudgetMs : 0,
      ),
    },
    { reserveMs: reserveFor(config.triggerTimeoutMs) },
  );
});
