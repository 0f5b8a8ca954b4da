import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RULES } from '../../functions/core/rules.js';
import { upsertPackage, upsertUser } from '../../functions/db/catalogue-repository.js';
import { applyCallback } from '../../functions/db/jobs/callbacks.js';
import { countStuckJobs } from '../../functions/db/jobs/reconcile-claims.js';
import { notifyStalls } from '../../functions/db/watchdog-repository.js';
import { PACKAGES } from '../support/handler-harness.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';
import { localEnv, opsRunner, recordCheckout } from './ops-harness.js';

let db: TestDatabase;
let now = new Date('2026-11-23T10:00:00.000Z');
let ops: ReturnType<typeof opsRunner>;
const advance = (seconds: number) => {
  now = new Date(now.getTime() + seconds * 1000);
};

beforeAll(async () => {
  db = await freshDatabase();
  for (const pkg of PACKAGES) await upsertPackage(db.executor, pkg);
  ops = opsRunner({
    env: localEnv(db.connectionString),
    collaborators: { clock: () => now, osUser: () => 'alice' },
  });
});
afterAll(async () => {
  await db.close();
});

interface StuckListing {
  total: number;
  shown: number;
  jobs: {
    stripe_session_id: string;
    payload_missing: boolean;
    stuck: boolean;
    next_step: string;
    advice: string;
  }[];
}

describe('reading the jobs (runbook section 3)', () => {
  it('stuck lists every job not provisioned, the longest without progress first, with payload_missing and the next step', async () => {
    await recordCheckout(db.executor, 'cs_test_oldest', now);
    advance(600);
    await recordCheckout(db.executor, 'cs_test_nopayload', now, 'enterprise');
    await recordCheckout(db.executor, 'cs_test_done', now);
    await applyCallback(
      db.executor,
      {
        stripeSessionId: 'cs_test_done',
        status: 'provisioned',
        deploymentId: 'dpl_d',
        cellId: 'c',
      },
      now,
      DEFAULT_RULES,
    );
    advance(600);

    const result = await ops(['stuck', '--json']);

    expect(result.code).toBe(0);
    const listing = result.json() as StuckListing;
    expect(listing.jobs.map((job) => job.stripe_session_id)).toEqual([
      'cs_test_oldest',
      'cs_test_nopayload',
    ]);
    expect(listing.jobs.map((job) => [job.payload_missing, job.stuck, job.next_step])).toEqual([
      [false, true, 'reconcile'],
      [true, false, 'resolve-payload'],
    ]);
    expect(listing.jobs[1]?.advice).toContain('ops resolve-payload cs_test_nopayload');
  });

  it('stuck renders a table for people, and says how many are on the gauge', async () => {
    const result = await ops(['stuck']);

    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^SESSION\s+JOB\s+STATUS/);
    expect(result.stdout).toContain('MISSING');
    expect(result.stdout).toContain('2 waiting; 1 of those shown are STUCK');
  });

  it('stuck --limit caps the rows and says how many were left out', async () => {
    const result = await ops(['stuck', '--limit', '1', '--json']);

    expect(result.json()).toMatchObject({ total: 2, shown: 1 });
  });

  it('gauge answers exactly what the alarm counts', async () => {
    advance(600);
    const expected = await countStuckJobs(db.executor, now, DEFAULT_RULES);

    const json = await ops(['gauge', '--json']);
    const human = await ops(['gauge']);

    expect(expected).toBe(2);
    expect(json.json()).toEqual({ stuck: 2, stuck_after_seconds: 900, max_attempts: 8 });
    expect(human.stdout).toMatch(/^2 STUCK/);
  });

  it('gauge follows the thresholds the local runtime is configured with', async () => {
    const result = await ops(['gauge', '--json'], { env: { STUCK_AFTER_SECONDS: '7200' } });

    expect(result.json()).toMatchObject({ stuck: 0, stuck_after_seconds: 7200 });
  });

  it('show prints the job with its account, its full history and the next step', async () => {
    const result = await ops(['show', 'cs_test_done', '--json']);

    expect(result.code).toBe(0);
    expect(result.json()).toMatchObject({
      job: { stripe_session_id: 'cs_test_done', status: 'provisioned', deployment_id: 'dpl_d' },
      account: { status: 'active' },
      history: [
        { kind: 'recorded', actor: 'stripe' },
        { kind: 'callback', actor: 'orchestrator', to_status: 'provisioned' },
      ],
      stuck: false,
      next_step: 'done',
    });
  });

  it('show tells a session nobody recorded (exit 1) from a malformed one (exit 2)', async () => {
    const unknown = await ops(['show', 'cs_test_nobody']);
    const malformed = await ops(['show', 'not-a-session']);
    const unknownJson = await ops(['show', 'cs_test_nobody', '--json']);

    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no provisioning job for stripe_session_id cs_test_nobody');
    expect(malformed.code).toBe(2);
    expect(unknownJson.json()).toMatchObject({ exit_code: 1 });
  });
});

describe('usage errors', () => {
  it('refuses an option the command does not take, an unknown command and a bad number, with exit 2', async () => {
    const results = await Promise.all([
      ops(['gauge', '--deployment', 'dpl_x']),
      ops(['frobnicate']),
      ops(['stuck', '--limit', 'many']),
      ops(['stuck', '--bogus']),
    ]);

    expect(results.map((r) => r.code)).toEqual([2, 2, 2, 2]);
    expect(results[0]?.stderr).toContain('--deployment is not an option of gauge');
    expect(results[2]?.stderr).toContain('--limit must be a whole number');
  });

  it('never falls back to the local database when --stack is given without a name', async () => {
    const result = await ops(['gauge', '--stack', '']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--stack needs a value');
  });

  it('says there is no local database to read when neither DATABASE_URL nor .data/postgres exists (exit 3)', async () => {
    const result = await ops(['gauge'], {
      env: { DATABASE_URL: '', DATA_DIR: '/nonexistent/provisioning-ops-test' },
    });

    expect(result.code).toBe(3);
    expect(result.stderr).toContain(
      'no local database in /nonexistent/provisioning-ops-test/postgres',
    );
  });

  it('documents the commands and the exit codes in --help', async () => {
    const result = await ops(['--help']);

    expect(result.code).toBe(0);
    for (const command of ['stuck', 'gauge', 'show', 'reconcile', 'rearm', 'link', 'dlq']) {
      expect(result.stdout).toContain(`  ${command} `);
    }
    expect(result.stdout).toContain('Exit codes:');
    expect(result.stdout).toContain('3  transport or configuration error');
  });
});

describe('admins and notifications', () => {
  it('adds an admin only when confirmed, and lists them', async () => {
    const refused = await ops(['admins', 'add', 'oncall@example.com'], { tty: false });
    const before = await ops(['admins', 'list', '--json']);
    const added = await ops(['admins', 'add', 'oncall@example.com', '--yes', '--json']);
    const after = await ops(['admins', 'list', '--json']);

    expect(refused.code).toBe(1);
    expect(before.json()).toEqual({ admins: [] });
    expect(added.json()).toEqual({ result: 'added', email: 'oncall@example.com' });
    expect(after.json()).toMatchObject({ admins: [{ email: 'oncall@example.com' }] });
  });

  it('never removes the last admin, and removes one of two', async () => {
    const last = await ops(['admins', 'remove', 'oncall@example.com', '--yes']);
    await upsertUser(db.executor, { email: 'second@example.com', role: 'admin' });
    const removed = await ops(['admins', 'remove', 'oncall@example.com', '--yes']);
    const notAdmin = await ops(['admins', 'remove', 'oncall@example.com', '--yes']);
    const after = await ops(['admins', 'list', '--json']);

    expect(last.code).toBe(1);
    expect(last.stderr).toContain('last admin');
    expect(removed.code).toBe(0);
    expect(notAdmin.code).toBe(1);
    expect(after.json()).toMatchObject({ admins: [{ email: 'second@example.com' }] });
  });

  it("lists the watchdog's notifications, newest first", async () => {
    await db.executor.execute(
      'UPDATE provisioning_jobs SET budget_spent = 8, capped_at = :now WHERE stripe_session_id = :session',
      {
        session: { type: 'text', value: 'cs_test_oldest' },
        now: { type: 'timestamp', value: now },
      },
    );
    await notifyStalls(db.executor, now, DEFAULT_RULES);

    const result = await ops(['notifications', '--json', '--limit', '5']);

    expect(result.code).toBe(0);
    expect(result.json()).toMatchObject({
      notifications: [
        {
          level: 'error',
          kind: 'job_capped',
          recipient: 'second@example.com',
          read_at: null,
        },
      ],
    });
  });
});

describe('the catalogue', () => {
  it('adds a package only when confirmed, and lists it', async () => {
    const dryRun = await ops([
      'packages',
      'set',
      'enterprise',
      '--tier',
      'ent',
      '--quota',
      '50000000',
      '--dry-run',
    ]);
    const set = await ops([
      'packages',
      'set',
      'enterprise',
      '--tier',
      'ent',
      '--quota',
      '50000000',
      '--yes',
    ]);
    const list = await ops(['packages', 'list', '--json']);

    expect(dryRun.code).toBe(0);
    expect(dryRun.stdout).toContain('Dry run: nothing was done.');
    expect(set.code).toBe(0);
    expect(list.json()).toMatchObject({
      packages: expect.arrayContaining([
        { slug: 'enterprise', tier: 'ent', tokensQuota: 50_000_000 },
      ]),
    });
  });

  it('refuses a slug the catalogue cannot hold', async () => {
    const result = await ops([
      'packages',
      'set',
      'Big Plan',
      '--tier',
      't',
      '--quota',
      '1',
      '--yes',
    ]);

    expect(result.code).toBe(2);
  });
});
