import * as z from 'zod';
import { describeIssues, InvalidInputError } from '../core/errors.js';
import { classifyStripeEvent } from '../core/stripe-checkout.js';
import type { StripeMode } from '../core/stripe-mode.js';
import {
  type CheckoutHandoffDependencies,
  EVENTBRIDGE_INTAKE,
  handleStripeEvent,
  type StripeEventOutcome,
} from './checkout-handoff.js';
import { keepRejection } from './rejections.js';

/**
 * Stripe's event destination on Amazon EventBridge (SPEC 2.4), the second intake: the
 * partner bus delivers each Stripe event under `detail`, a rule puts the checkout
 * types on an SQS queue, and this reads one message of it. The bus authenticates the
 * events, so there is no signature; everything else is the webhook's: the same
 * classification (mode, ours, paid), the same handling, deduplicated by Stripe event
 * id across both intakes (`stripe_events`).
 *
 * Who retries what. A message that fails (the database resuming, a refused event)
 * returns to the queue after its visibility timeout and, after `maxReceiveCount`
 * receives, moves to the dead-letter queue, where it waits, alarmed, for a redrive:
 * nothing is lost. A refused event (unreadable, or of the other Stripe mode) is
 * recorded in `rejected_inputs` on its first receive only, and left to fail into the
 * dead-letter queue, as the webhook answers 400 so that Stripe keeps it for a fix.
 */

export interface StripeEventBridgeDependencies extends CheckoutHandoffDependencies {
  readonly stripeMode: StripeMode;
}

/** The part of an SQS record the consumer reads. */
export interface QueuedStripeEvent {
  readonly messageId: string;
  readonly body: string;
  readonly attributes: { readonly ApproximateReceiveCount: string };
}

/** What EventBridge puts on the queue: its envelope, the Stripe event under `detail`. */
const eventBridgeEnvelope = z.object({
  id: z.string().min(1),
  'detail-type': z.string().min(1),
  source: z.string().min(1),
  detail: z.unknown(),
});

export async function consumeStripeEventBridgeMessage(
  deps: StripeEventBridgeDependencies,
  message: QueuedStripeEvent,
): Promise<StripeEventOutcome> {
  deps.telemetry.count('StripeEventBridgeReceived');
  const firstReceive = Number(message.attributes.ApproximateReceiveCount) <= 1;
  const envelope = readEnvelope(message.body);
  if (!envelope.success) {
    // Nothing but EventBridge may send here (the queue policy): a bad envelope never heals.
    await keepRejection(
      deps,
      { source: EVENTBRIDGE_INTAKE.source, reference: message.messageId, reason: envelope.reason },
      { messageId: message.messageId },
    );
    return { outcome: 'ignored' };
  }
  const event = classifyStripeEvent(envelope.data.detail, deps.stripeMode);
  if (event.kind === 'rejected' && !firstReceive) {
    throw new InvalidInputError(
      `event ${event.eventId ?? message.messageId} refused again (recorded on its first receive): ${event.reason}`,
    );
  }
  return handleStripeEvent(deps, event, EVENTBRIDGE_INTAKE);
}

function readEnvelope(
  body: string,
):
  | { success: true; data: z.infer<typeof eventBridgeEnvelope> }
  | { success: false; reason: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { success: false, reason: 'body: not JSON' };
  }
  const envelope = eventBridgeEnvelope.safeParse(parsed);
  return envelope.success
    ? { success: true, data: envelope.data }
    : {
        success: false,
        reason: `not an EventBridge event: ${describeIssues(envelope.error.issues)}`,
      };
}
