import { describe, expect, it } from 'vitest';
import {
  freshEvent,
  paidCheckoutFile,
  SNAPSHOT_VERSIONS,
  sessionOf,
} from '../support/stripe-fixtures.js';
import {
  ANSWERED_IGNORED as IGNORED,
  NO_WRITES,
  stripeWebhookSuite,
} from '../support/stripe-webhook-harness.js';

/**
 * Stripe's published snapshot events (test/fixtures/stripe/README.md), at every API
 * version we reproduce, signed as Stripe signs and delivered through the real
 * signature check and the real handler against PostgreSQL: which sessions become
 * tenants, cell by cell of the README's decision table.
 */
const SECRET = 'whsec_published_shapes_0123456789';

const w = stripeWebhookSuite({ secret: SECRET, stripeMode: 'test' });

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
