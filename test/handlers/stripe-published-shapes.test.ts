import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  freshEvent,
  freshThinEvent,
  paidCheckoutFile,
  SNAPSHOT_VERSIONS,
  type SnapshotEvent,
  stripeSignature,
} from '../support/stripe-fixtures.js';
import {
  NO_WRITES,
  type StripeWebhookHarness,
  stripeWebhookHarness,
} from '../support/stripe-webhook-harness.js';

/**
 * Stripe's own published payloads (test/fixtures/stripe/README.md), at every API
 * version we reproduce, signed as Stripe signs and delivered through the real
 * signature check and the real handler against PostgreSQL: which sessions become
 * tenants, and how every other payload shape is answered.
 */
const SECRET = 'whsec_published_shapes_0123456789';

let w: StripeWebhookHarness;

beforeAll(async () => {
  w = await stripeWebhookHarness({ secret: SECRET, stripeMode: 'test' });
});
afterAll(async () => {
  await w.close();
});
beforeEach(() => {
  w.h.sqs.reset();
  w.h.sqs.resolves({});
  w.h.telemetry.counters.clear();
  w.h.log.entries.length = 0;
});

const sessionOf = (event: SnapshotEvent) => event.data.object.id;
const IGNORED = { statusCode: 200, body: { received: true, outcome: 'ignored' } };

describe.each(SNAPSHOT_VERSIONS)('snapshot events at API version %s', (version) => {
  const paid = (changes: Parameters<typeof freshEvent>[2] = {}) =>
    freshEvent(paidCheckoutFile(version), w.h.now(), changes);

  describe('our paid sessions', () => {
    it('become one job handed off, and an account with the customer, e-mail and package', async () => {
      const event = paid();

      const answer = await w.send(event);

      const job = await w.jobOf(sessionOf(event));
      expect(answer).toEqual({ statusCode: 200, body: { received: true, outcome: 'recorded' } });
      expect(job).toMatchObject({ status: 'enqueued', attempts: 1, package_slug: 'growth' });
      expect(job?.trigger_payload).toMatchObject({
        package_slug: 'growth',
        tokens_quota: 1_100_000,
        customer_email: 'zoe@example.org',
      });
      expect(await w.accountOf(sessionOf(event))).toMatchObject({
        status: 'pending',
        stripe_customer_id: 'cus_SxHandoffGrowth01',
        stripe_customer_account_id: null,
        email: 'zoe@example.org',
      });
      expect(w.sends()).toHaveLength(1);
    });

    it('pass with keys Stripe adds later, in the event and in the session', async () => {
      const event = paid({
        event: { context: 'acct_1RHandoffPlatform', future_envelope_field: { nested: [1, 2] } },
        session: {
          future_session_field: { enabled: true, options: ['a'] },
          metadata: { package_slug: 'growth', added_by_another_team: 'yes' },
          ui_mode: 'a_mode_not_yet_invented',
        },
      });

      const answer = await w.send(event);

      expect(answer.body.outcome).toBe('recorded');
      expect(await w.jobOf(sessionOf(event))).toMatchObject({ status: 'enqueued' });
    });

    it('pass as a guest checkout (customer null), keeping the e-mail', async () => {
      const event = paid({ session: { customer: null, customer_creation: 'if_required' } });

      const answer = await w.send(event);

      expect(answer.body.outcome).toBe('recorded');
      expect(await w.accountOf(sessionOf(event))).toMatchObject({
        stripe_customer_id: null,
        email: 'zoe@example.org',
      });
    });

    it('pass with an expanded customer, kept by its id', async () => {
      const event = paid({
        session: {
          customer: { id: 'cus_SxExpanded01', object: 'customer', email: 'zoe@example.org' },
        },
      });

      await w.send(event);

      expect(await w.accountOf(sessionOf(event))).toMatchObject({
        stripe_customer_id: 'cus_SxExpanded01',
      });
    });

    it('pass with a subscription and nothing to pay yet (a trial, a 100 % coupon)', async () => {
      const event = paid({
        session: {
          mode: 'subscription',
          payment_status: 'no_payment_required',
          amount_total: 0,
          payment_intent: null,
          subscription: 'sub_1RHandoffTrial01',
        },
      });

      const answer = await w.send(event);

      expect(answer.body.outcome).toBe('recorded');
      expect(await w.jobOf(sessionOf(event))).toMatchObject({ status: 'enqueued', attempts: 1 });
    });

    it('wait for a delayed payment, and the async success provisions exactly once', async () => {
      const completed = paid({ session: { payment_status: 'unpaid' } });
      const succeeded = paid({
        event: { type: 'checkout.session.async_payment_succeeded' },
        session: { id: sessionOf(completed), payment_status: 'paid' },
      });

      const waiting = await w.send(completed);
      const accountWhileWaiting = await w.accountOf(sessionOf(completed));
      const answers = [await w.send(succeeded), await w.send(succeeded)];

      expect(waiting.body.outcome).toBe('awaiting_payment');
      expect(accountWhileWaiting).toMatchObject({ status: 'awaiting_payment' });
      expect(answers.map((answer) => answer.body.outcome)).toEqual(['recorded', 'duplicate']);
      expect(w.sends()).toHaveLength(1);
    });

    it('mark the waiting account failed when the delayed payment fails', async () => {
      const completed = paid({ session: { payment_status: 'unpaid' } });
      const failed = paid({
        event: { type: 'checkout.session.async_payment_failed' },
        session: { id: sessionOf(completed), payment_status: 'unpaid' },
      });

      await w.send(completed);
      const answer = await w.send(failed);

      expect(answer.body.outcome).toBe('payment_failed');
      expect(await w.accountOf(sessionOf(completed))).toMatchObject({ status: 'failed' });
      expect(await w.jobOf(sessionOf(completed))).toBeUndefined();
    });

    it('with a package missing from the catalogue are recorded without payload, for an operator', async () => {
      const event = paid({ session: { metadata: { package_slug: 'platinum' } } });

      const answer = await w.send(event);

      expect(answer.body.outcome).toBe('recorded');
      expect(await w.jobOf(sessionOf(event))).toMatchObject({
        trigger_payload: null,
        last_error: 'unknown_package',
        package_slug: 'platinum',
      });
      expect(w.sends()).toEqual([]);
    });
  });

  describe('sessions that never become tenants', () => {
    it('another product’s session (no package_slug): 200 ignored, counted, logged with its id, nothing written', async () => {
      const event = paid({ session: { metadata: { order: 'tshirt-42' } } });
      const callsBefore = w.h.bridge.calls.length;

      const answer = await w.send(event);

      expect(answer).toEqual(IGNORED);
      expect(w.h.bridge.calls.length).toBe(callsBefore);
      expect(await w.writesFor(sessionOf(event), event.id)).toEqual(NO_WRITES);
      expect(w.h.telemetry.counters.get('StripeSessionNotOurs')).toBe(1);
      expect(w.h.log.entries).toContainEqual(
        expect.objectContaining({
          level: 'info',
          extra: [
            {
              stripeEventId: event.id,
              stripeSessionId: sessionOf(event),
              type: 'checkout.session.completed',
            },
          ],
        }),
      );
    });

    it('a setup-mode session with a package: 200 ignored, counted, nothing written', async () => {
      const event = paid({
        session: {
          mode: 'setup',
          payment_status: 'no_payment_required',
          amount_subtotal: null,
          amount_total: null,
          currency: null,
          payment_intent: null,
          setup_intent: 'seti_1RHandoffSetup01',
        },
      });

      const answer = await w.send(event);

      expect(answer).toEqual(IGNORED);
      expect(await w.writesFor(sessionOf(event), event.id)).toEqual(NO_WRITES);
      expect(w.h.telemetry.counters.get('StripeSessionNotProvisioned')).toBe(1);
      expect(w.sends()).toEqual([]);
    });
  });

  describe('what Stripe may send that this product cannot act on', () => {
    it.each([
      ['mode', { mode: 'instalments' }],
      ['payment_status', { payment_status: 'processing' }],
    ])('an unknown %s: 400 naming it, recorded, nothing else written', async (field, session) => {
      const event = paid({ session });

      const answer = await w.send(event);

      expect(answer.statusCode).toBe(400);
      expect(answer.body.error).toMatch(
        new RegExp(`^event ${event.id}: data\\.object\\.${field}: `),
      );
      expect(await w.rejectionsOf(event.id)).toEqual([
        { source: 'stripe_webhook', reason: expect.stringContaining(`data.object.${field}: `) },
      ]);
      // Not remembered as processed: Stripe's retry is acted on once the value is known.
      expect(await w.writesFor(sessionOf(event), event.id)).toEqual({
        ...NO_WRITES,
        rejections: 1,
      });
    });

    it('a signed event that is not readable: 400 naming the field, recorded', async () => {
      const event = paid();
      const broken = { ...event, data: { object: { ...event.data.object, mode: 7 } } };

      const answer = await w.send(broken);

      expect(answer.statusCode).toBe(400);
      expect(answer.body.error).toMatch(/data\.object\.mode: /);
      expect(await w.rejectionsOf(event.id)).toHaveLength(1);
    });

    it('an event of the live mode at a test-mode deployment: 400, recorded, counted for its alarm', async () => {
      const event = paid({ event: { livemode: true }, session: { livemode: true } });

      const answer = await w.send(event);

      expect(answer).toEqual({
        statusCode: 400,
        body: {
          error: `event ${event.id}: livemode: true, but this deployment serves Stripe test mode`,
        },
      });
      expect(await w.writesFor(sessionOf(event), event.id)).toEqual({
        ...NO_WRITES,
        rejections: 1,
      });
      expect(w.h.telemetry.counters.get('StripeEventWrongMode')).toBe(1);
    });
  });

  describe('the decision table, every cell through the handler', () => {
    const MODES = ['payment', 'subscription', 'setup', 'instalments'];
    const STATUSES = ['paid', 'no_payment_required', 'unpaid', 'processing'];
    const expected = (mode: string, status: string) => {
      if (mode === 'setup') return 'ignored';
      if (mode === 'instalments' || status === 'processing') return 'refused';
      return status === 'unpaid' ? 'awaiting_payment' : 'recorded';
    };
    const cells = MODES.flatMap((mode) =>
      STATUSES.map((status) => ({ mode, status, outcome: expected(mode, status) })),
    );

    it.each(cells)('completed, mode $mode, payment_status $status: $outcome', async (cell) => {
      const event = paid({ session: { mode: cell.mode, payment_status: cell.status } });

      const answer = await w.send(event);

      const writes = await w.writesFor(sessionOf(event), event.id);
      switch (cell.outcome) {
        case 'recorded':
          expect(answer.body.outcome).toBe('recorded');
          expect(writes).toEqual({
            ...NO_WRITES,
            accounts: 1,
            jobs: 1,
            processedEvents: 1,
            sends: 1,
          });
          break;
        case 'awaiting_payment':
          expect(answer.body.outcome).toBe('awaiting_payment');
          expect(writes).toEqual({ ...NO_WRITES, accounts: 1, processedEvents: 1 });
          break;
        case 'ignored':
          expect(answer).toEqual(IGNORED);
          expect(writes).toEqual(NO_WRITES);
          break;
        case 'refused':
          expect(answer.statusCode).toBe(400);
          expect(writes).toEqual({ ...NO_WRITES, rejections: 1 });
          break;
      }
    });

    it.each(STATUSES)(
      'completed without package_slug, payment_status %s: ignored, whatever its mode',
      async (status) => {
        const events = MODES.map((mode) =>
          paid({ session: { mode, payment_status: status, metadata: {} } }),
        );

        const answers = await Promise.all(events.map((event) => w.send(event)));

        expect(answers).toEqual(events.map(() => IGNORED));
        for (const event of events) {
          expect(await w.writesFor(sessionOf(event), event.id)).toEqual(NO_WRITES);
        }
      },
    );
  });
});

describe('Accounts v2 (API version 2026-07-29.dahlia)', () => {
  const dahlia = (session: Record<string, unknown>) =>
    freshEvent(paidCheckoutFile('2026-07-29.dahlia'), w.h.now(), { session });

  it('keeps customer_account as the customer when customer is null', async () => {
    const event = dahlia({ customer: null, customer_account: 'acct_1RHandoffBuyer01' });

    const answer = await w.send(event);

    expect(answer.body.outcome).toBe('recorded');
    expect(await w.accountOf(sessionOf(event))).toMatchObject({
      stripe_customer_id: null,
      stripe_customer_account_id: 'acct_1RHandoffBuyer01',
    });
  });

  it('keeps both references when Stripe gives both', async () => {
    const event = dahlia({
      customer: 'cus_SxBothModels01',
      customer_account: 'acct_1RHandoffBuyer02',
    });

    await w.send(event);

    expect(await w.accountOf(sessionOf(event))).toMatchObject({
      stripe_customer_id: 'cus_SxBothModels01',
      stripe_customer_account_id: 'acct_1RHandoffBuyer02',
    });
  });

  it('keeps customer_account on an account waiting for a delayed payment', async () => {
    const event = dahlia({
      customer: null,
      customer_account: 'acct_1RHandoffBuyer03',
      payment_status: 'unpaid',
    });

    await w.send(event);

    expect(await w.accountOf(sessionOf(event))).toMatchObject({
      status: 'awaiting_payment',
      stripe_customer_account_id: 'acct_1RHandoffBuyer03',
    });
  });
});

describe('the Stripe CLI’s checkout triggers', () => {
  const trigger = (name: string, session: Record<string, unknown> = {}) =>
    freshEvent(`stripe-cli/${name}.json`, w.h.now(), { session });
  const OURS = { metadata: { package_slug: 'growth' } };

  it('`stripe trigger checkout.session.completed` alone is not ours: ignored, nothing written', async () => {
    const event = trigger('checkout.session.completed');

    const answer = await w.send(event);

    expect(answer).toEqual(IGNORED);
    expect(await w.writesFor(sessionOf(event), event.id)).toEqual(NO_WRITES);
  });

  it('with --add checkout_session:metadata.package_slug=growth it becomes a guest’s job', async () => {
    const event = trigger('checkout.session.completed', OURS);

    const answer = await w.send(event);

    expect(answer.body.outcome).toBe('recorded');
    expect(await w.accountOf(sessionOf(event))).toMatchObject({
      stripe_customer_id: null,
      email: 'cli-buyer@example.net',
    });
  });

  it('the delayed-payment triggers provision on success and fail the account on failure', async () => {
    const succeeded = trigger('checkout.session.async_payment_succeeded', OURS);
    const failedSession = trigger('checkout.session.async_payment_failed', OURS);
    const completedUnpaid = trigger('checkout.session.completed', {
      ...OURS,
      id: sessionOf(failedSession),
      payment_status: 'unpaid',
      payment_method_types: ['sepa_debit'],
    });

    const answers = [
      await w.send(succeeded),
      await w.send(completedUnpaid),
      await w.send(failedSession),
    ];

    expect(answers.map((answer) => answer.body.outcome)).toEqual([
      'recorded',
      'awaiting_payment',
      'payment_failed',
    ]);
    expect(await w.accountOf(sessionOf(failedSession))).toMatchObject({ status: 'failed' });
  });

  it('`stripe trigger checkout.session.expired` is a type this product ignores', async () => {
    const event = trigger('checkout.session.expired', OURS);

    const answer = await w.send(event);

    expect(answer).toEqual(IGNORED);
    expect(w.h.telemetry.counters.get('StripeEventIgnored')).toBe(1);
  });
});

describe('thin events (an event destination with thin payloads)', () => {
  it.each([
    'stripe-node/v2.core.event_destination.ping.json',
    'stripe-node/v1.billing.meter.error_report_triggered.json',
  ])('%s: 200 ignored without touching the database, counted and logged', async (file) => {
    const event = freshThinEvent(file);
    const callsBefore = w.h.bridge.calls.length;

    const answer = await w.send(event);

    expect(answer).toEqual(IGNORED);
    expect(w.h.bridge.calls.length).toBe(callsBefore);
    expect(w.h.telemetry.counters.get('StripeThinEventIgnored')).toBe(1);
    expect(w.h.log.entries).toEqual([
      {
        level: 'warn',
        message: 'Stripe thin event ignored: this endpoint needs snapshot payloads',
        extra: [{ stripeEventId: event.id, type: event.type }],
      },
    ]);
  });

  it('are ignored whatever mode they name: they are never acted on', async () => {
    const answer = await w.send(
      freshThinEvent('stripe-node/v2.core.event_destination.ping.json', { livemode: true }),
    );

    expect(answer).toEqual(IGNORED);
  });

  it('still need a valid signature', async () => {
    const body = JSON.stringify(freshThinEvent('stripe-node/v2.core.event_destination.ping.json'));

    const answer = await w.deliver(body, stripeSignature(body, 'whsec_someone_else', w.h.now()));

    expect(answer.statusCode).toBe(400);
    expect(answer.body.error).toMatch(/^invalid Stripe-Signature: /);
  });

  it('a signed body that is not JSON at all: 400 and recorded, never a 5xx', async () => {
    const body = '{"object":"v2.core.event","id":';
    const before = Number(
      (
        await w.h.db.pool.query(
          "SELECT count(*)::int AS n FROM rejected_inputs WHERE reason = 'body: not JSON'",
        )
      ).rows[0]?.n,
    );

    const answer = await w.deliver(body, stripeSignature(body, SECRET, w.h.now()));

    const after = Number(
      (
        await w.h.db.pool.query(
          "SELECT count(*)::int AS n FROM rejected_inputs WHERE reason = 'body: not JSON'",
        )
      ).rows[0]?.n,
    );
    expect(answer).toEqual({ statusCode: 400, body: { error: 'body: not JSON' } });
    expect(after - before).toBe(1);
  });
});
