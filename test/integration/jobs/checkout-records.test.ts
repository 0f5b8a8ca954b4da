import { beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RULES } from '../../../functions/core/rules.js';
import type { SqlExecutor } from '../../../functions/db/executor.js';
import { applyCallback } from '../../../functions/db/jobs/callbacks.js';
import {
  recordAwaitingPayment,
  recordPaymentFailed,
  recordSettledCheckout,
} from '../../../functions/db/jobs/checkout-records.js';
import { cancelJob } from '../../../functions/db/jobs/operator-actions.js';
import {
  accountOf,
  checkout,
  executorCases,
  historyOf,
  jobsDatabase,
  LEASE_SECONDS,
  minutes,
  replayingExecutor,
  seconds,
  T0,
} from '../../support/jobs.js';

const database = jobsDatabase();

describe.each(executorCases(database))(
  'recording checkouts through the $name executor',
  ({ make }) => {
    let exec: SqlExecutor;
    beforeEach(() => {
      exec = make();
    });

    describe('a settled checkout', () => {
      it('creates the job, its pending account and the exact trigger payload, with attempt 1 claimed and in flight', async () => {
        const paid = checkout();

        const { job, created } = await recordSettledCheckout(exec, paid, T0, LEASE_SECONDS);

        expect(created).toBe(true);
        expect(job).toMatchObject({
          stripe_session_id: paid.stripeSessionId,
          status: 'enqueued',
          attempts: 1,
          budget_spent: 0,
          last_error: null,
          package_slug: 'growth',
          tokens_quota: 1_100_000,
          last_attempt_at: T0,
          lease_expires_at: seconds(LEASE_SECONDS),
          next_attempt_at: null,
          updated_at: T0,
        });
        expect(job.trigger_payload).toEqual({
          job_id: job.id,
          stripe_session_id: paid.stripeSessionId,
          account_id: job.account_id,
          package_slug: 'growth',
          tokens_quota: 1_100_000,
          customer_email: 'ada@example.com',
          callback_url: paid.callbackUrl,
        });
        expect(await accountOf(database(), paid.stripeSessionId)).toMatchObject({
          id: job.account_id,
          status: 'pending',
          tier: 'growth',
          tokens_quota: 1_100_000,
        });
      });

      it('answers a repeat delivery with the same job and changes nothing', async () => {
        const paid = checkout();
        const first = await recordSettledCheckout(exec, paid, T0, LEASE_SECONDS);

        const again = await recordSettledCheckout(exec, paid, minutes(1), LEASE_SECONDS);

        expect(again.created).toBe(false);
        expect(again.job).toEqual(first.job);
        expect(await historyOf(database(), first.job.id)).toEqual(['recorded']);
      });

      it('answers a replayed call (an ambiguous Data API fault) as created, with one history row', async () => {
        const paid = checkout();

        const { job, created } = await recordSettledCheckout(
          replayingExecutor(exec),
          paid,
          T0,
          LEASE_SECONDS,
        );

        expect(created).toBe(true);
        expect(await historyOf(database(), job.id)).toEqual(['recorded']);
      });

      it('records an unknown package with no payload, and never claims an attempt for it', async () => {
        const paid = checkout({ packageSlug: 'platinum' });

        const { job } = await recordSettledCheckout(exec, paid, T0, LEASE_SECONDS);

        expect(job).toMatchObject({
          status: 'enqueued',
          attempts: 0,
          trigger_payload: null,
          last_error: 'unknown_package',
          last_attempt_at: null,
          lease_expires_at: null,
          tokens_quota: null,
        });
      });

      it('never downgrades a provisioned job or its active account, nor a cancelled one', async () => {
        const provisioned = checkout();
        const cancelled = checkout();
        await recordSettledCheckout(exec, provisioned, T0, LEASE_SECONDS);
        const { job } = await recordSettledCheckout(exec, cancelled, T0, LEASE_SECONDS);
        await applyCallback(
          exec,
          {
            stripeSessionId: provisioned.stripeSessionId,
            status: 'provisioned',
            deploymentId: 'dpl_1',
            cellId: 'cell-a',
          },
          minutes(2),
          DEFAULT_RULES,
        );
        await cancelJob(
          exec,
          { jobId: job.id, actor: 'operator:alice', reason: 'refunded' },
          minutes(2),
        );

        const again = await recordSettledCheckout(exec, provisioned, minutes(3), LEASE_SECONDS);
        const late = await recordSettledCheckout(exec, cancelled, minutes(3), LEASE_SECONDS);

        expect(again.job.status).toBe('provisioned');
        expect(late.job.status).toBe('cancelled');
        expect((await accountOf(database(), provisioned.stripeSessionId))?.status).toBe('active');
        expect((await accountOf(database(), cancelled.stripeSessionId))?.status).toBe('cancelled');
      });
    });

    describe('delayed payment methods', () => {
      it('keep the account awaiting payment until the payment settles, then record the job', async () => {
        const unpaid = checkout();

        await recordAwaitingPayment(exec, unpaid, T0);
        const waiting = await accountOf(database(), unpaid.stripeSessionId);
        const { job } = await recordSettledCheckout(exec, unpaid, minutes(60), LEASE_SECONDS);

        expect(waiting?.status).toBe('awaiting_payment');
        expect(job.account_id).toBe(waiting?.id);
        expect(job.trigger_payload?.account_id).toBe(waiting?.id);
        expect((await accountOf(database(), unpaid.stripeSessionId))?.status).toBe('pending');
      });

      it('never move a settled account back to awaiting payment when events arrive out of order', async () => {
        const paid = checkout();
        await recordSettledCheckout(exec, paid, T0, LEASE_SECONDS);

        const late = await recordAwaitingPayment(exec, paid, minutes(1));

        expect(late.recorded).toBe(false);
        expect((await accountOf(database(), paid.stripeSessionId))?.status).toBe('pending');
      });

      it('mark the waiting account failed when the payment fails, and a settled one never', async () => {
        const unpaid = checkout();
        const paid = checkout();
        await recordAwaitingPayment(exec, unpaid, T0);
        await recordSettledCheckout(exec, paid, T0, LEASE_SECONDS);

        await recordPaymentFailed(exec, unpaid, minutes(5));
        const ignored = await recordPaymentFailed(exec, paid, minutes(5));

        expect((await accountOf(database(), unpaid.stripeSessionId))?.status).toBe('failed');
        expect(ignored.recorded).toBe(false);
        expect((await accountOf(database(), paid.stripeSessionId))?.status).toBe('pending');
      });
    });
  },
);
