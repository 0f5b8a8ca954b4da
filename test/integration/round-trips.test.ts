import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, handlerHarness } from '../support/handler-harness.js';
import { checkoutEvent, type Intake, intake, uniqueId } from '../support/intake.js';

/**
 * What each intake costs in Data API round trips, counted by the bridge that serves the
 * production executor: every transition is one statement, its history and its Stripe
 * event's check and mark included. A fault-free path never sends a statement twice.
 */

let h: Harness;
let io: Intake;
beforeAll(async () => {
  h = await handlerHarness();
  io = intake(h);
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  h.sqs.reset();
  h.sqs.resolves({});
});

/** The Data API commands a piece of work sent, by name. */
async function commandsOf(work: () => Promise<unknown>): Promise<string[]> {
  const before = h.bridge.calls.length;
  await work();
  return h.bridge.calls.slice(before).map((call) => call.command);
}

const sends = () => h.sqs.commandCalls(SendMessageCommand).length;
const ONE_STATEMENT = ['ExecuteStatementCommand'];

describe('one Data API round trip per transition', () => {
  it('a new checkout: one statement (account, job, history, the event checked and marked), one queue send', async () => {
    const sessionId = uniqueId('cs_trip');

    const commands = await commandsOf(() => io.deliver(checkoutEvent(h.now(), sessionId)));

    expect(commands).toEqual(ONE_STATEMENT);
    expect(sends()).toBe(1);
    const { rows } = await h.db.pool.query(
      `SELECT (SELECT count(*)::int FROM provisioning_jobs WHERE stripe_session_id = $1) AS jobs,
         (SELECT count(*)::int FROM provisioning_job_events e JOIN provisioning_jobs j ON j.id = e.job_id
           WHERE j.stripe_session_id = $1) AS history,
         (SELECT count(*)::int FROM stripe_events WHERE stripe_session_id = $1) AS marked`,
      [sessionId],
    );
    expect(rows).toEqual([{ jobs: 1, history: 1, marked: 1 }]);
  });

  it('a repeated delivery: one statement, nothing written, nothing sent', async () => {
    const event = checkoutEvent(h.now(), uniqueId('cs_trip'));
    await io.deliver(event);
    h.sqs.reset();
    h.sqs.resolves({});

    const commands = await commandsOf(() => io.deliver(event));

    expect(commands).toEqual(ONE_STATEMENT);
    expect(sends()).toBe(0);
  });

  it('a delayed payment: one statement when it waits, one when it fails', async () => {
    const sessionId = uniqueId('cs_trip');

    const waiting = await commandsOf(() =>
      io.deliver(checkoutEvent(h.now(), sessionId, 'checkout.session.completed', 'unpaid')),
    );
    const failed = await commandsOf(() =>
      io.deliver(
        checkoutEvent(h.now(), sessionId, 'checkout.session.async_payment_failed', 'unpaid'),
      ),
    );

    expect(waiting).toEqual(ONE_STATEMENT);
    expect(failed).toEqual(ONE_STATEMENT);
    const { rows } = await h.db.pool.query(
      `SELECT status, (SELECT count(*)::int FROM stripe_events WHERE stripe_session_id = $1) AS marked
         FROM customer_accounts WHERE stripe_session_id = $1`,
      [sessionId],
    );
    expect(rows).toEqual([{ status: 'failed', marked: 2 }]);
  });

  it('a callback with a tenant database report: one statement for the job, the account and the database', async () => {
    const sessionId = uniqueId('cs_trip');
    await io.deliver(checkoutEvent(h.now(), sessionId));

    const commands = await commandsOf(() =>
      io.report({
        stripe_session_id: sessionId,
        status: 'provisioned',
        deployment_id: 'dpl_trip',
        cell_id: 'cell-1',
        database: { id: `db_${sessionId}`, status: 'migrating' },
      }),
    );

    expect(commands).toEqual(ONE_STATEMENT);
    const { rows } = await h.db.pool.query(
      `SELECT j.status AS job, a.status AS account, d.status AS database
         FROM provisioning_jobs j JOIN customer_accounts a ON a.id = j.account_id
         JOIN organization_databases d ON d.account_id = a.id
        WHERE j.stripe_session_id = $1`,
      [sessionId],
    );
    expect(rows).toEqual([{ job: 'provisioned', account: 'active', database: 'migrating' }]);
  });
});
