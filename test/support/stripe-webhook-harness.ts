import { SendMessageCommand, type SendMessageCommandInput } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { StripeMode } from '../../functions/core/stripe-mode.js';
import { createStripeWebhookHandler } from '../../functions/handlers/stripe-webhook.js';
import { CALLBACK_URL, type Harness, handlerHarness, lambdaContext } from './handler-harness.js';
import { httpEvent } from './http-events.js';
import { stripeSignature } from './stripe-fixtures.js';

/**
 * The Stripe webhook handler over the handler harness (PostgreSQL through the Data API
 * bridge, mocked AWS clients), with what its tests ask of the database afterwards.
 */
export interface StripeWebhookHarness {
  readonly h: Harness;
  /**
   * POSTs a body as API Gateway would, with the given `Stripe-Signature` (if any);
   * `base64` sends it base64-encoded, as API Gateway passes binary bodies.
   */
  deliver(
    body: string | undefined,
    signature: string | undefined,
    base64?: boolean,
  ): Promise<WebhookAnswer>;
  /** Signs an event with the webhook secret, as Stripe does, and delivers it. */
  send(event: object): Promise<WebhookAnswer>;
  jobOf(sessionId: string): Promise<Record<string, unknown> | undefined>;
  accountOf(sessionId: string): Promise<Record<string, unknown> | undefined>;
  /** The refusals recorded for an event id, oldest first. */
  rejectionsOf(eventId: string): Promise<{ source: string; reason: string }[]>;
  /** What is stored or sent about a session and its event: all zero when nothing was written. */
  writesFor(sessionId: string, eventId: string): Promise<Writes>;
  /** Hand-off messages sent since the last reset. */
  sends(): SendMessageCommandInput[];
  /** Forgets sent messages, counters and log lines: each test sees only its own. */
  reset(): void;
  close(): Promise<void>;
}

export interface WebhookAnswer {
  readonly statusCode: number;
  readonly body: Record<string, unknown>;
}

export interface Writes {
  readonly accounts: number;
  readonly jobs: number;
  readonly processedEvents: number;
  readonly rejections: number;
  readonly sends: number;
}

/** The answer to an authentic event this product does not act on. */
export const ANSWERED_IGNORED: WebhookAnswer = {
  statusCode: 200,
  body: { received: true, outcome: 'ignored' },
};

export const NO_WRITES: Writes = {
  accounts: 0,
  jobs: 0,
  processedEvents: 0,
  rejections: 0,
  sends: 0,
};

export async function stripeWebhookHarness(options: {
  readonly secret: string;
  readonly stripeMode: StripeMode;
}): Promise<StripeWebhookHarness> {
  const h = await handlerHarness();
  h.setSecret('stripeWebhookSecrets', options.secret);
  const webhook = createStripeWebhookHandler({
    ...h.deps,
    queue: h.queue,
    secrets: h.secrets,
    callbackUrl: CALLBACK_URL,
    stripeMode: options.stripeMode,
  });
  const row = async (sql: string, value: string) =>
    (await h.db.pool.query(sql, [value])).rows[0] as Record<string, unknown> | undefined;
  const count = async (sql: string, value: string) =>
    Number((await row(`SELECT count(*)::int AS n ${sql}`, value))?.n ?? 0);
  const sends = () => h.sqs.commandCalls(SendMessageCommand).map((call) => call.args[0].input);

  const deliver = async (
    body: string | undefined,
    signature: string | undefined,
    base64 = false,
  ) => {
    const response = await webhook(
      httpEvent({
        method: 'POST',
        path: '/api/webhooks/stripe',
        headers: {
          'Content-Type': 'application/json',
          ...(signature === undefined ? {} : { 'Stripe-Signature': signature }),
        },
        ...(body === undefined ? {} : { body }),
        base64,
      }),
      lambdaContext(),
    );
    return { statusCode: Number(response.statusCode), body: JSON.parse(response.body ?? '{}') };
  };

  return {
    h,
    deliver,
    send: (event) => {
      const body = JSON.stringify(event);
      return deliver(body, stripeSignature(body, options.secret, h.now()));
    },
    jobOf: (sessionId) =>
      row('SELECT * FROM provisioning_jobs WHERE stripe_session_id = $1', sessionId),
    accountOf: (sessionId) =>
      row('SELECT * FROM customer_accounts WHERE stripe_session_id = $1', sessionId),
    rejectionsOf: async (eventId) =>
      (
        await h.db.pool.query(
          'SELECT source, reason FROM rejected_inputs WHERE reference = $1 ORDER BY id',
          [eventId],
        )
      ).rows,
    writesFor: async (sessionId, eventId) => ({
      accounts: await count('FROM customer_accounts WHERE stripe_session_id = $1', sessionId),
      jobs: await count('FROM provisioning_jobs WHERE stripe_session_id = $1', sessionId),
      processedEvents: await count('FROM stripe_events WHERE id = $1', eventId),
      rejections: await count('FROM rejected_inputs WHERE reference = $1', eventId),
      sends: sends().filter((message) => message.MessageBody?.includes(sessionId)).length,
    }),
    sends,
    reset: () => {
      h.sqs.reset();
      h.sqs.resolves({});
      h.telemetry.counters.clear();
      h.log.entries.length = 0;
    },
    close: () => h.close(),
  };
}

/**
 * One harness for a whole test file: created before its tests, reset before each and
 * closed after them. The object returned stands for it inside tests.
 */
export function stripeWebhookSuite(options: {
  readonly secret: string;
  readonly stripeMode: StripeMode;
}): StripeWebhookHarness {
  let harness: StripeWebhookHarness | undefined;
  const current = () => {
    if (!harness) throw new Error('the Stripe webhook harness is used outside a test');
    return harness;
  };
  beforeAll(async () => {
    harness = await stripeWebhookHarness(options);
  });
  beforeEach(() => current().reset());
  afterAll(async () => {
    await harness?.close();
  });
  return {
    get h() {
      return current().h;
    },
    deliver: (...args) => current().deliver(...args),
    send: (event) => current().send(event),
    jobOf: (sessionId) => current().jobOf(sessionId),
    accountOf: (sessionId) => current().accountOf(sessionId),
    rejectionsOf: (eventId) => current().rejectionsOf(eventId),
    writesFor: (sessionId, eventId) => current().writesFor(sessionId, eventId),
    sends: () => current().sends(),
    reset: () => current().reset(),
    close: () => current().close(),
  };
}
