import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RULES } from '../../functions/core/rules.js';
import { upsertUser } from '../../functions/db/catalogue-repository.js';
import { recordSettledCheckout } from '../../functions/db/jobs/checkout-records.js';
import { createWatchdogHandler } from '../../functions/handlers/watchdog.js';
import {
  CALLBACK_URL,
  type Harness,
  handlerHarness,
  lambdaContext,
} from '../support/handler-harness.js';

let h: Harness;
let watchdog: ReturnType<typeof createWatchdogHandler>;

beforeEach(async () => {
  h = await handlerHarness();
  watchdog = createWatchdogHandler(h.deps);
});
afterEach(async () => {
  await h.close();
});

/** What EventBridge Scheduler delivers to a Lambda target configured without an input. */
function scheduledEvent() {
  return {
    version: '0',
    id: 'a6f4c2e0-5b1d-4f7a-9c3e-2d8b0e1f6a75',
    'detail-type': 'Scheduled Event',
    source: 'aws.scheduler',
    account: '123456789012',
    time: h.now().toISOString(),
    region: 'us-east-1',
    resources: ['arn:aws:scheduler:us-east-1:123456789012:schedule/default/provisioning-watchdog'],
    detail: '{}',
  };
}

function runWatchdog() {
  return watchdog(scheduledEvent(), lambdaContext());
}

function minutesAgo(minutes: number): Date {
  return new Date(h.now().getTime() - minutes * 60_000);
}

async function organisationDatabase(id: string, status: string, startedAt: Date) {
  await h.db.pool.query(
    'INSERT INTO organization_databases (id, status, provisioned_at, updated_at) VALUES ($1, $2, $3, $3)',
    [id, status, startedAt],
  );
}

/** Two admins and a member; databases stalled, young and finished. */
async function stalledPlatform() {
  const admins = [
    await upsertUser(h.db.executor, { email: 'ops@example.com', role: 'admin' }),
    await upsertUser(h.db.executor, { email: 'cto@example.com', role: 'admin' }),
  ];
  await upsertUser(h.db.executor, { email: 'dev@example.com', role: 'member' });
  await organisationDatabase('db_stalled_provisioning', 'provisioning', minutesAgo(45));
  await organisationDatabase('db_stalled_migrating', 'migrating', minutesAgo(31));
  await organisationDatabase('db_young', 'provisioning', minutesAgo(29));
  await organisationDatabase('db_old_ready', 'ready', minutesAgo(600));
  await organisationDatabase('db_old_failed', 'failed', minutesAgo(600));
  return { admins };
}

async function cappedJob() {
  const { job } = await recordSettledCheckout(
    h.deps.db,
    {
      stripeSessionId: 'cs_test_capped',
      stripeCustomerId: null,
      customerEmail: 'buyer@example.com',
      packageSlug: 'starter',
      callbackUrl: CALLBACK_URL,
    },
    h.now(),
    DEFAULT_RULES.handoffLeaseSeconds,
  );
  await h.db.pool.query(
    `UPDATE provisioning_jobs SET budget_spent = 8, capped_at = $2, last_error = 'http_5xx' WHERE id = $1`,
    [job.id, h.now()],
  );
  return job.id;
}

async function notifications() {
  const { rows } = await h.db.pool.query(
    `SELECT user_id, level, kind, organization_database_id, job_id FROM notifications
     ORDER BY kind, organization_database_id, user_id`,
  );
  return rows;
}

describe('the hourly watchdog', () => {
  it('notifies every admin once per stalled organisation database, tied to that database', async () => {
    const { admins } = await stalledPlatform();

    const summary = await runWatchdog();

    expect(summary).toEqual({
      event: 'provisioning.watchdog.run',
      stalled_databases: 2,
      capped_jobs: 0,
      notifications_sent: 4,
      pruned_stripe_events: 0,
      pruned_rejected_inputs: 0,
      quiet: false,
    });
    const expected = ['db_stalled_migrating', 'db_stalled_provisioning'].flatMap((database) =>
      [...admins].sort().map((admin) => ({
        user_id: admin,
        level: 'error',
        kind: 'database_stalled',
        organization_database_id: database,
        job_id: null,
      })),
    );
    expect(await notifications()).toEqual(expected);
  });

  it('does not repeat itself on the next hourly run, and reminds after the re-notify interval', async () => {
    await stalledPlatform();

    const first = await runWatchdog();
    h.advance(3600);
    const nextHour = await runWatchdog();
    h.advance(5 * 3600 + 60);
    const afterInterval = await runWatchdog();

    expect(
      [first, nextHour, afterInterval].map((run) => [
        run.stalled_databases,
        run.notifications_sent,
      ]),
    ).toEqual([
      [2, 4],
      // Only db_young, stalled since the first run, is new: told once to each admin.
      [3, 2],
      // The first two are due a reminder; db_young was told less than 6 hours ago.
      [3, 4],
    ]);
    expect(await notifications()).toHaveLength(10);
  });

  it('reports capped jobs (out of retry budget) to every admin', async () => {
    const { admins } = await stalledPlatform();
    const jobId = await cappedJob();

    const summary = await runWatchdog();

    expect(summary.capped_jobs).toBe(1);
    const capped = (await notifications()).filter((row) => row.kind === 'job_capped');
    expect(capped).toEqual(
      [...admins].sort().map((admin) => ({
        user_id: admin,
        level: 'error',
        kind: 'job_capped',
        organization_database_id: null,
        job_id: jobId,
      })),
    );
  });

  it('notifies once when two runs overlap', async () => {
    await stalledPlatform();
    await cappedJob();

    const runs = await Promise.all([runWatchdog(), runWatchdog()]);

    expect(runs.reduce((sent, run) => sent + run.notifications_sent, 0)).toBe(6);
    expect(await notifications()).toHaveLength(6);
  });

  it('only alerts: nothing it reports on is changed', async () => {
    await stalledPlatform();
    await cappedJob();
    const reportedOn = async () => ({
      databases: (await h.db.pool.query('SELECT * FROM organization_databases ORDER BY id')).rows,
      jobs: (await h.db.pool.query('SELECT * FROM provisioning_jobs ORDER BY id')).rows,
      accounts: (await h.db.pool.query('SELECT * FROM customer_accounts ORDER BY id')).rows,
      history: (await h.db.pool.query('SELECT * FROM provisioning_job_events ORDER BY id')).rows,
    });
    const before = await reportedOn();

    await runWatchdog();
    h.advance(7 * 3600);
    await runWatchdog();

    expect(await reportedOn()).toEqual(before);
  });

  it('reports what it found as metrics and one summary line', async () => {
    await stalledPlatform();
    await cappedJob();

    await runWatchdog();

    expect(Object.fromEntries(h.telemetry.gauges)).toEqual({
      WatchdogStalledDatabases: 2,
      WatchdogCappedJobs: 1,
    });
    expect(h.telemetry.counters.get('WatchdogNotificationsSent')).toBe(6);
    expect(h.log.entries).toEqual([
      {
        level: 'info',
        message: 'provisioning.watchdog.run',
        extra: [
          {
            event: 'provisioning.watchdog.run',
            stalled_databases: 2,
            capped_jobs: 1,
            notifications_sent: 6,
            pruned_stripe_events: 0,
            pruned_rejected_inputs: 0,
            quiet: false,
          },
        ],
      },
    ]);
  });

  it('reports zero and notifies nobody when nothing is stalled', async () => {
    await upsertUser(h.db.executor, { email: 'ops@example.com', role: 'admin' });
    await organisationDatabase('db_young', 'migrating', minutesAgo(5));

    const summary = await runWatchdog();

    expect(summary).toMatchObject({ stalled_databases: 0, capped_jobs: 0, notifications_sent: 0 });
    expect(h.telemetry.gauges.get('WatchdogStalledDatabases')).toBe(0);
  });

  it('fails the run while the database is unavailable, so the schedule retries it', async () => {
    await stalledPlatform();
    h.bridge.resumeFor(60_000);

    const run = runWatchdog().finally(() => h.bridge.resumeFor(0));

    await expect(run).rejects.toThrow();
    expect(await notifications()).toEqual([]);
    expect(h.telemetry.counters.size + h.telemetry.gauges.size).toBe(0);
  });
});

describe('housekeeping in the hourly run', () => {
  it('prunes processed Stripe event ids after 30 days and refused inputs after 90, and nothing younger', async () => {
    const daysAgo = (days: number) => new Date(h.now().getTime() - days * 24 * 3600 * 1000);
    await h.db.pool.query(
      `INSERT INTO stripe_events (id, type, processed_at) VALUES ('evt_old', 'checkout.session.completed', $1), ('evt_recent', 'checkout.session.completed', $2)`,
      [daysAgo(31), daysAgo(29)],
    );
    await h.db.pool.query(
      `INSERT INTO rejected_inputs (source, reference, reason, received_at) VALUES ('callback', 'old', 'bad', $1), ('callback', 'recent', 'bad', $2)`,
      [daysAgo(91), daysAgo(89)],
    );

    const summary = await runWatchdog();

    expect(summary).toMatchObject({ pruned_stripe_events: 1, pruned_rejected_inputs: 1 });
    const kept = await h.db.pool.query(
      `SELECT (SELECT array_agg(id) FROM stripe_events) AS events, (SELECT array_agg(reference) FROM rejected_inputs) AS refused`,
    );
    expect(kept.rows[0]).toEqual({ events: ['evt_recent'], refused: ['recent'] });
  });
});
