import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { awsCheckoutIntakeDependencies, awsConfig, lazyHandler } from '../aws.js';
import {
  consumeStripeEventBridgeMessage,
  type StripeEventBridgeDependencies,
} from '../services/stripe-eventbridge.js';
import { lambdaHandler } from './middleware.js';

/**
 * The SQS queue behind the rule on Stripe's partner event bus. Messages are
 * independent Stripe events (a standard queue: order means nothing, the event id
 * deduplicates), so Powertools' plain batch processor answers the failed ones as
 * `batchItemFailures`; they return after the visibility timeout and end in the
 * dead-letter queue after every receive failed.
 */
export function createStripeEventBridgeHandler(deps: StripeEventBridgeDependencies) {
  const consume = async (record: SQSRecord) => {
    try {
      return await consumeStripeEventBridgeMessage(deps, record);
    } catch (error) {
      deps.log.warn('Stripe event from EventBridge not processed; it returns to the queue', {
        messageId: record.messageId,
        receiveCount: record.attributes.ApproximateReceiveCount,
        error,
      });
      throw error;
    }
  };
  return lambdaHandler<SQSEvent, SQSBatchResponse>((event, context) =>
    processPartialResponse(event, consume, new BatchProcessor(EventType.SQS), { context }),
  );
}

export const handler = lazyHandler(() => {
  const config = awsConfig();
  return createStripeEventBridgeHandler(awsCheckoutIntakeDependencies(config));
});
