import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type HandoffOutcome,
  type JobStatus,
  ORCHESTRATOR_FAILED,
  TRIGGER_FAILURES,
  UNKNOWN_PACKAGE,
} from '../../functions/core/job.js';
import {
  DEFAULT_RULES,
  isStale,
  isStuck,
  type ProvisioningRules,
} from '../../functions/core/rules.js';
import { upsertPackage } from '../../functions/db/catalogue-repository.js';
import type { SqlExecutor } from '../../functions/db/executor.js';
import { applyCallback } from '../../functions/db/jobs/callbacks.js';
import { recordSettledCheckout } from '../../functions/db/jobs/checkout-records.js';
import { recordHandoffOutcome } from '../../functions/db/jobs/handoff-outcomes.js';
import type { JobRow } from '../../functions/db/jobs/job-row.js';
import { readJob, rearmJob } from '../../functions/db/jobs/operator-actions.js';
import { claimStaleJobs, countStuckJobs } from '../../functions/db/jobs/reconcile-claims.js';
import { bridgedExecutor } from '../support/executors.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';

/**
 * A model-based test of the job's life: random sequences of everything that can
 * happen to a job (Stripe deliveries, hand-off outcomes, orchestrator callbacks in
 * any order, reconciler claims, operator re-arms, time passing) run against the
 * repository on PostgreSQL through the production Data API executor, while a small
 * in-memory model applies the rules of the runbook, the SPEC (2.2, 2.4, 2.5) and the
 * repository's comments. After every step the database must agree with the model:
 * the rows are read over a plain pg connection, not through the executor under test,
 * and the gauge is compared with the pure `isStuck` predicate.
 */

const PACKAGES = [
  { slug: 'starter', tier: 'starter', tokensQuota: 100_000 },
  { slug: 'pro', tier: 'pro', tokensQuota: 1_100_000 },
] as const;
const UNKNOWN_SLUG = 'legacy-gold';
const SESSIONS = 4;
const START = new Date('2030-03-01T08:00:00.000Z');
const CALLBACK_URL = 'https://app.example.test/api/internal/provisioning/callback';

type PackageChoice = (typeof PACKAGES)[number]['slug'] | typeof UNKNOWN_SLUG | null;

type Command =
  | { readonly kind: 'record'; readonly session: number; readonly pkg: PackageChoice }
  | {
      readonly kind: 'handoff';
      readonly session: number;
      /** 0: the job's current attempt; n: the attempt n re-drives ago (a late report). */
      readonly olderBy: number;
      readonly outcome: HandoffOutcome;
    }
  | { readonly kind: 'progress'; readonly session: number; readonly phase: string | null }
  | {
      readonly kind: 'provisioned';
      readonly session: number;
      readonly deploymentId: string;
      readonly cellId: string;
      readonly tokensQuota: number;
    }
  | { readonly kind: 'failed'; readonly session: number; readonly error: string | null }
  | { readonly kind: 'claim'; readonly batchSize: number }
  | { readonly kind: 'rearm'; readonly session: number }
  | { readonly kind: 'advance'; readonly ms: number };

// Session indexes run one past the recorded ones, so commands also reach sessions
// (and jobs) that do not exist.
const sessionArb = fc.integer({ min: 0, max: SESSIONS });
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('record' as const),
      session: fc.integer({ min: 0, max: SESSIONS - 1 }),
      pkg: fc.constantFrom<PackageChoice>('starter', 'pro', UNKNOWN_SLUG, null),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('handoff' as const),
      session: sessionArb,
      olderBy: fc.constantFrom(0, 0, 1, 2),
      outcome: fc.constantFrom<HandoffOutcome>('accepted', 'accepted', ...TRIGGER_FAILURES),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('progress' as const),
      session: sessionArb,
      phase: fc.constantFrom('database', 'migrations', 'dns', null),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('provisioned' as const),
      session: sessionArb,
      deploymentId: fc.stringMatching(/^[a-z0-9]{6}$/).map((suffix) => `dpl_${suffix}`),
      cellId: fc.constantFrom('cell-eu-1', 'cell-us-2'),
      tokensQuota: fc.constantFrom(0, 250_000),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('failed' as const),
      session: sessionArb,
      error: fc.constantFrom('saga_timeout', 'cell_full', null),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('claim' as const),
      batchSize: fc.integer({ min: 1, max: 3 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('rearm' as const), session: sessionArb }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.oneof(
        fc.integer({ min: 1_000, max: 3_600_000 }),
        // The thresholds themselves, and a millisecond either side of them.
        fc.constantFrom(299_999, 300_000, 300_001, 899_999, 900_000, 900_001),
      ),
    }),
  },
);

// A low cap makes "attempts reach the cap" reachable within a short run (with a cap of
// 1 the first hand-off already reaches it); the default runs too, so the shipped
// configuration is exercised as well.
const rulesArb: fc.Arbitrary<ProvisioningRules> = fc
  .constantFrom(1, 2, 3, DEFAULT_RULES.maxAttempts)
  .map((maxAttempts) => ({ ...DEFAULT_RULES, maxAttempts }));

interface ModelJob {
  readonly id: string;
  readonly createdAt: Date;
  readonly hasPayload: boolean;
  status: JobStatus;
  attempts: number;
  phase: string | null;
  lastError: string | null;
  deploymentId: string | null;
  cellId: string | null;
  tokensQuota: number | null;
  provisionedAt: Date | null;
  updatedAt: Date;
  lastAttemptAt: Date | null;
  /** The account's quota: the package's at checkout, replaced only by a positive report. */
  accountQuota: number;
  /** How many history entries of each kind the job has. */
  readonly events: Record<string, number>;
}

function addEvent(job: ModelJob, kind: string): void {
  job.events[kind] = (job.events[kind] ?? 0) + 1;
}

interface Model {
  now: Date;
  readonly rules: ProvisioningRules;
  readonly jobs: Map<string, ModelJob>;
}

function sessionId(index: number): string {
  return `cs_test_model_${index}`;
}

function stuckCount(model: Model): number {
  return [...model.jobs.values()].filter((job) => isStuck(job, model.now, model.rules)).length;
}

/** The reconciler's order: never handed off first, then oldest hand-off, then oldest job. */
function claimKey(job: ModelJob): [number, number] {
  return [job.lastAttemptAt?.getTime() ?? Number.NEGATIVE_INFINITY, job.createdAt.getTime()];
}

function notAfter(a: [number, number], b: [number, number]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] <= b[1]);
}

async function runCommand(
  executor: SqlExecutor,
  model: Model,
  command: Command,
): Promise<string | undefined> {
  const now = model.now;
  switch (command.kind) {
    case 'advance': {
      model.now = new Date(now.getTime() + command.ms);
      return undefined;
    }
    case 'record': {
      const session = sessionId(command.session);
      const before = model.jobs.get(session);
      const { job, created } = await recordSettledCheckout(
        executor,
        {
          stripeSessionId: session,
          stripeCustomerId: `cus_${command.session}`,
          customerEmail: `buyer${command.session}@example.test`,
          packageSlug: command.pkg,
          callbackUrl: CALLBACK_URL,
        },
        now,
      );
      const pkg = PACKAGES.find((candidate) => candidate.slug === command.pkg);
      if (before) {
        // A repeat delivery: the same job, untouched; an account still without a quota
        // takes the one this delivery names.
        expect(created).toBe(false);
        expect(job.id).toBe(before.id);
        if (before.accountQuota === 0) before.accountQuota = pkg?.tokensQuota ?? 0;
        return session;
      }
      expect(created).toBe(true);
      model.jobs.set(session, {
        id: job.id,
        createdAt: now,
        hasPayload: pkg !== undefined,
        status: 'enqueued',
        // A known package is handed off at once (attempt 1); an unknown one never is.
        attempts: pkg ? 1 : 0,
        phase: null,
        lastError: pkg ? null : UNKNOWN_PACKAGE,
        deploymentId: null,
        cellId: null,
        tokensQuota: pkg?.tokensQuota ?? null,
        provisionedAt: null,
        updatedAt: now,
        lastAttemptAt: pkg ? now : null,
        accountQuota: pkg?.tokensQuota ?? 0,
        events: { recorded: 1 },
      });
      if (pkg) {
        expect(job.trigger_payload).toMatchObject({
          job_id: job.id,
          stripe_session_id: session,
          account_id: job.account_id,
          package_slug: pkg.slug,
          tokens_quota: pkg.tokensQuota,
          callback_url: CALLBACK_URL,
        });
      }
      return session;
    }
    case 'handoff': {
      const session = sessionId(command.session);
      const job = model.jobs.get(session);
      const attempt = (job?.attempts ?? 1) - command.olderBy;
      // Attempt 0 was never handed off, so nothing can report on it.
      if (attempt < 1) return undefined;
      const { recorded } = await recordHandoffOutcome(
        executor,
        { jobId: job?.id ?? randomUUID(), attempt, outcome: command.outcome },
        now,
      );
      const applies = job !== undefined && job.status !== 'provisioned' && job.attempts === attempt;
      expect(recorded).toBe(applies);
      if (job && applies) {
        addEvent(job, 'handoff');
        // Once the orchestrator has reported since this attempt was dispatched, its word
        // stands: the hand-off outcome is history, not state.
        const reportedSinceDispatch =
          job.lastAttemptAt !== null && job.updatedAt > job.lastAttemptAt;
        if (!reportedSinceDispatch) {
          job.lastError = command.outcome === 'accepted' ? null : command.outcome;
          // An accepted re-drive of a job that had failed is awaiting the orchestrator again.
          if (command.outcome === 'accepted' && job.status === 'failed') job.status = 'enqueued';
        }
      }
      return job ? session : undefined;
    }
    case 'progress':
    case 'provisioned':
    case 'failed': {
      const session = sessionId(command.session);
      const job = model.jobs.get(session);
      const result = await applyCallback(
        executor,
        command.kind === 'progress'
          ? { stripeSessionId: session, status: 'provisioning', phase: command.phase ?? undefined }
          : command.kind === 'provisioned'
            ? {
                stripeSessionId: session,
                status: 'provisioned',
                deploymentId: command.deploymentId,
                cellId: command.cellId,
                tokensQuota: command.tokensQuota,
              }
            : { stripeSessionId: session, status: 'failed', error: command.error ?? undefined },
        now,
      );
      if (!job) {
        expect(result).toEqual({ kind: 'unknown_session' });
        return undefined;
      }
      const priorStatus = job.status;
      if (priorStatus === 'provisioned') {
        expect(result).toMatchObject({
          kind: 'known',
          applied: false,
          priorStatus,
          status: priorStatus,
        });
        return session;
      }
      const priorPhase = job.phase;
      job.updatedAt = now;
      if (command.kind === 'progress') {
        job.status = 'provisioning';
        job.phase = command.phase ?? job.phase;
        job.lastError = null;
      } else if (command.kind === 'failed') {
        job.status = 'failed';
        job.lastError = command.error ?? ORCHESTRATOR_FAILED;
      } else {
        job.status = 'provisioned';
        job.lastError = null;
        job.deploymentId = command.deploymentId;
        job.cellId = command.cellId;
        job.provisionedAt = now;
        if (command.tokensQuota > 0) {
          job.tokensQuota = command.tokensQuota;
          job.accountQuota = command.tokensQuota;
        }
      }
      // A heartbeat that changes nothing is not history.
      if (job.status !== priorStatus || job.phase !== priorPhase) addEvent(job, 'callback');
      expect(result).toMatchObject({
        kind: 'known',
        applied: true,
        priorStatus,
        status: job.status,
      });
      return session;
    }
    case 'claim': {
      const eligible = [...model.jobs.values()].filter(
        (job) => job.hasPayload && isStale(job, now, model.rules),
      );
      const skipped = [...model.jobs.values()].filter(
        (job) => !job.hasPayload && isStale(job, now, model.rules),
      );
      const claim = await claimStaleJobs(executor, command.batchSize, now, model.rules);

      expect(claim.skippedNoPayload).toBe(skipped.length);
      expect(claim.jobs).toHaveLength(Math.min(command.batchSize, eligible.length));
      const claimedIds = new Set(claim.jobs.map((claimed) => claimed.id));
      expect(claimedIds.size).toBe(claim.jobs.length);
      const byId = new Map(eligible.map((job) => [job.id, job]));
      for (const claimed of claim.jobs) {
        const job = byId.get(claimed.id);
        // Never a NULL-payload job, a job at the cap, a provisioned or a fresh one.
        expect(job, `claimed job ${claimed.id} is not stale with a payload`).toBeDefined();
        if (!job) continue;
        expect(claimed.stripeSessionId).toBe(
          [...model.jobs.entries()].find(([, candidate]) => candidate === job)?.[0],
        );
        expect(claimed.attempt).toBe(job.attempts + 1);
        expect(claimed.attempt).toBeLessThanOrEqual(model.rules.maxAttempts);
        expect(claimed.triggerPayload).toMatchObject({ job_id: job.id });
      }
      // Oldest first: no job left behind is strictly older than one claimed.
      const left = eligible.filter((job) => !claimedIds.has(job.id));
      for (const claimed of claim.jobs) {
        const job = byId.get(claimed.id);
        if (!job) continue;
        for (const other of left) {
          expect(notAfter(claimKey(job), claimKey(other))).toBe(true);
        }
      }
      for (const claimed of claim.jobs) {
        const job = byId.get(claimed.id);
        if (!job) continue;
        job.attempts += 1;
        addEvent(job, 'redrive');
        job.lastAttemptAt = now;
      }
      return undefined;
    }
    case 'rearm': {
      const session = sessionId(command.session);
      const job = model.jobs.get(session);
      const result = await rearmJob(
        executor,
        { jobId: job?.id ?? randomUUID(), actor: 'operator:model-test', reason: 'transport fixed' },
        now,
      );
      if (!job) {
        expect(result).toEqual({ kind: 'not_found' });
        return undefined;
      }
      if (job.status === 'provisioned') {
        expect(result).toEqual({ kind: 'refused_provisioned' });
        return session;
      }
      expect(result).toEqual({ kind: 'rearmed', priorAttempts: job.attempts });
      addEvent(job, 'rearmed');
      job.status = 'enqueued';
      job.attempts = 0;
      job.lastAttemptAt = null;
      job.updatedAt = now;
      return session;
    }
  }
}

function time(value: Date | null): number | null {
  return value === null ? null : value.getTime();
}

/** Every promise the model keeps, checked against the database itself. */
async function checkInvariants(
  db: TestDatabase,
  executor: SqlExecutor,
  model: Model,
  provisionedOnce: Map<string, { deploymentId: string | null; cellId: string | null }>,
  touched: string | undefined,
): Promise<void> {
  const { rows } = await db.pool.query<JobRow>('SELECT * FROM provisioning_jobs');
  const accounts = await db.pool.query<{
    id: string;
    stripe_session_id: string;
    status: string;
    deployment_id: string | null;
    tokens_quota: string;
  }>('SELECT id, stripe_session_id, status, deployment_id, tokens_quota FROM customer_accounts');
  const events = await db.pool.query<{ stripe_session_id: string; kind: string; n: string }>(
    `SELECT j.stripe_session_id, e.kind, count(*) AS n
     FROM provisioning_job_events e JOIN provisioning_jobs j ON j.id = e.job_id
     GROUP BY j.stripe_session_id, e.kind`,
  );

  // Exactly one job, and one account, per recorded session; nothing for the others.
  expect(rows.map((row) => row.stripe_session_id).sort()).toEqual([...model.jobs.keys()].sort());
  expect(accounts.rows.map((row) => row.stripe_session_id).sort()).toEqual(
    [...model.jobs.keys()].sort(),
  );

  for (const row of rows) {
    const job = model.jobs.get(row.stripe_session_id);
    if (!job) continue;
    expect(row.attempts).toBeLessThanOrEqual(model.rules.maxAttempts);
    expect({
      id: row.id,
      status: row.status,
      attempts: row.attempts,
      phase: row.phase,
      lastError: row.last_error,
      deploymentId: row.deployment_id,
      cellId: row.cell_id,
      tokensQuota: row.tokens_quota === null ? null : Number(row.tokens_quota),
      hasPayload: row.trigger_payload !== null,
      createdAt: time(row.created_at),
      provisionedAt: time(row.provisioned_at),
      updatedAt: time(row.updated_at),
      lastAttemptAt: time(row.last_attempt_at),
    }).toEqual({
      id: job.id,
      status: job.status,
      attempts: job.attempts,
      phase: job.phase,
      lastError: job.lastError,
      deploymentId: job.deploymentId,
      cellId: job.cellId,
      tokensQuota: job.tokensQuota,
      hasPayload: job.hasPayload,
      createdAt: time(job.createdAt),
      provisionedAt: time(job.provisionedAt),
      updatedAt: time(job.updatedAt),
      lastAttemptAt: time(job.lastAttemptAt),
    });

    // Once provisioned, always provisioned with the same coordinates (judged on the
    // rows alone, whatever the model believes).
    const frozen = provisionedOnce.get(row.stripe_session_id);
    if (frozen) {
      expect(row.status).toBe('provisioned');
      expect({ deploymentId: row.deployment_id, cellId: row.cell_id }).toEqual(frozen);
    } else if (row.status === 'provisioned') {
      provisionedOnce.set(row.stripe_session_id, {
        deploymentId: row.deployment_id,
        cellId: row.cell_id,
      });
    }

    // The account is active, on the job's deployment, exactly when the job is provisioned.
    const account = accounts.rows.find((candidate) => candidate.id === row.account_id);
    expect(account?.stripe_session_id).toBe(row.stripe_session_id);
    expect(account?.status).toBe(job.status === 'provisioned' ? 'active' : 'pending');
    if (job.status === 'provisioned') expect(account?.deployment_id).toBe(job.deploymentId);
    expect(Number(account?.tokens_quota)).toBe(job.accountQuota);

    // Every transition, re-drive and operator action is in the job's history, once.
    const history = Object.fromEntries(
      events.rows
        .filter((event) => event.stripe_session_id === row.stripe_session_id)
        .map((event) => [event.kind, Number(event.n)]),
    );
    expect(history).toEqual(job.events);
  }

  // The gauge counts what the pure STUCK predicate counts.
  expect(await countStuckJobs(executor, model.now, model.rules)).toBe(stuckCount(model));

  // The operator's read of the session just touched tells the same story.
  if (touched) {
    const report = await readJob(executor, touched);
    const job = model.jobs.get(touched);
    expect(report?.job).toMatchObject({
      id: job?.id,
      status: job?.status,
      attempts: job?.attempts,
    });
    expect(report?.account).toMatchObject({
      status: job?.status === 'provisioned' ? 'active' : 'pending',
    });
  }
}

describe('provisioning job life cycle (model-based, Data API executor)', () => {
  let db: TestDatabase;
  let executor: SqlExecutor;

  beforeAll(async () => {
    db = await freshDatabase();
    executor = bridgedExecutor(db).executor;
    for (const pkg of PACKAGES) await upsertPackage(executor, pkg);
  });

  afterAll(async () => {
    await db?.close();
  });

  it('keeps one job per checkout, never downgrades a provisioned one, and keeps the gauge and the re-drive true to the rules through any sequence of events', async () => {
    await fc.assert(
      fc.asyncProperty(
        rulesArb,
        fc.array(commandArb, { minLength: 1, maxLength: 30, size: 'max' }),
        async (rules, commands) => {
          // Prepare: an empty job table, the catalogue seeded, the clock at START.
          await db.pool.query(
            'TRUNCATE provisioning_job_events, provisioning_jobs, customer_accounts CASCADE',
          );
          const model: Model = { now: START, rules, jobs: new Map() };
          const provisionedOnce = new Map<
            string,
            { deploymentId: string | null; cellId: string | null }
          >();

          for (const command of commands) {
            // Act
            const touched = await runCommand(executor, model, command);
            // Assess
            await checkInvariants(db, executor, model, provisionedOnce, touched);
          }
        },
      ),
      { numRuns: 40 },
    );
  }, 180_000);
});
