import type { IncomingMessage, ServerResponse } from 'node:http';
import * as z from 'zod';
import { CHECKOUT_SESSION_ID } from '../functions/core/session-id.js';
import { eventBridgeDelivery } from './eventbridge-delivery.js';
import type { LocalFifoQueue } from './fifo-queue.js';
import { readBody } from './read-body.js';
import type { StripeStandIn } from './stripe-stand-in.js';

/**
 * The local runtime's doors for what Stripe does outside the webhook (not deployed):
 * `POST /local/stripe/checkout-sessions` keeps a session in the Stripe stand-in, as
 * Stripe holds every checkout (the sweep reads it there); `POST /local/stripe/eventbridge`
 * delivers a Stripe event as Stripe's EventBridge destination does, onto the local
 * queue of the second intake. `npm run simulate:checkout` drives both.
 */
export interface StripeLocalRoutes {
  handles(request: IncomingMessage): boolean;
  serve(request: IncomingMessage, response: ServerResponse): Promise<void>;
}

const PREFIX = '/local/stripe/';

const session = z.looseObject({
  id: z.string().regex(CHECKOUT_SESSION_ID, 'id: must be a checkout session id (cs_…)'),
  created: z.number().int().positive(),
});
const stripeEvent = z.looseObject({ id: z.string().min(1), type: z.string().min(1) });

export function stripeLocalRoutes(deps: {
  /** Undefined when the runtime reads real Stripe (`STRIPE_API_KEY` set). */
  readonly standIn: StripeStandIn | undefined;
  /** The local queue of the EventBridge intake. */
  readonly eventBridgeQueue: LocalFifoQueue;
}): StripeLocalRoutes {
  return {
    handles: (request) => request.method === 'POST' && (request.url ?? '').startsWith(PREFIX),
    async serve(request, response) {
      const answer = (status: number, body: unknown): void => {
        response
          .writeHead(status, { 'content-type': 'application/json' })
          .end(JSON.stringify(body));
      };
      let body: unknown;
      try {
        body = JSON.parse((await readBody(request)).toString('utf8'));
      } catch {
        return answer(400, { error: 'body: not JSON' });
      }
      switch (request.url) {
        case `${PREFIX}checkout-sessions`: {
          if (!deps.standIn) {
            return answer(409, {
              error:
                'STRIPE_API_KEY is set: the sweep reads Stripe itself, there is no local stand-in',
            });
          }
          const parsed = session.safeParse(body);
          if (!parsed.success) return answer(400, { error: parsed.error.issues[0]?.message });
          return answer(201, deps.standIn.addSession(parsed.data));
        }
        case `${PREFIX}eventbridge`: {
          const parsed = stripeEvent.safeParse(body);
          if (!parsed.success) return answer(400, { error: 'body: must be a Stripe event' });
          const delivery = eventBridgeDelivery(parsed.data);
          deps.eventBridgeQueue.sendMessage({
            body: JSON.stringify(delivery),
            // A standard queue: no order between events, EventBridge's id deduplicates.
            groupId: delivery.id,
            dedupId: delivery.id,
          });
          return answer(202, { queued: true, id: delivery.id });
        }
        default:
          return answer(404, { error: `no local route ${request.url}` });
      }
    },
  };
}
