import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTerminal, UNKNOWN_PACKAGE } from '../../functions/core/job.js';
import {
  DEFAULT_RULES,
  isStuck,
  type ProvisioningRules,
  secondsAfter,
} from '../../functions/core/rules.js';
import { forceBreaker } from '../../functions/db/breaker-repository.js';
import { upsertPackage } from '../../functions/db/catalogue-repository.js';
import type { SqlExecutor } from '../../functions/db/executor.js';
import { applyCallback } from '../../functions/db/jobs/callbacks.js';
import { recordSettledCheckout } from '../../functions/db/jobs/checkout-records.js';
import { dispatchAttempt, recordAttemptOutcome } from '../../functions/db/jobs/handoff-attempts.js';
import type { JobRow } from '../../functions/db/jobs/job-row.js';
import { cancelJob, rearmJob } from '../../functions/db/jobs/operator-actions.js';
import {
  claimProbe,
  claimStaleJobs,
  countStuckJobs,
} from '../../functions/db/jobs/reconcile-claims.js';
import { bridgedExecutor } from '../support/executors.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';
import {
  applyDispatch,
  applyOutcome,
  claimAttempt,
  clockOf,
  DISPATCH_LEASE_SECONDS,
  dispatchDecision,
  JITTER,
  type Model,
  type ModelJob,
  type OutcomeCommand,
} from './job-model/model.js';
import {
  applyCallbackToModel,
  applyCancel,
  applyClaim,
  applyForce,
  applyProbe,
  applyRearm,
  assertOldestFirst,
  type CallbackCommand,
  claimExpectation,
  probeCandidates,
} from './job-model/transitions.js';

/**
 * A model-based test of the retry model (SPEC 2.5): random sequences of everything that
 * can happen to jobs (Stripe deliveries, dispatches and outcomes of attempts, old or
 * new, callbacks in any order, reconciler claims and probes, operator re-arms, cancels
 * and breaker holds, time passing) run against the repository on PostgreSQL through the
 * production Data API executor, while the model in `job-model/` applies the rules. After
 * every step the rows (read over plain pg) must agree with the model, and these hold:
 * never two attempts in flight for a job, attempt numbers only grow, a provisioned or
 * cancelled job never moves, a job with progress inside its quiet window is never
 * re-driven, and no budget is spent while the breaker is open.
 */

const PACKAGES = [
  { slug: 'starter', tier: 'starter', tokensQuota: 100_000 },
  { slug: 'pro', tier: 'pro', tokensQuota: 1_100_000 },
] as const;
const UNKNOWN_SLUG = 'legacy-gold';
const SESSIONS = 4;
const START = new Date('2030-03-01T08:00:00.000Z');
const CALLBACK_URL = 'https://app.example.test/api/internal/provisioning/callback';

type Command =
  | { readonly kind: 'record'; readonly session: number; readonly pkg: string | null }
  | { readonly kind: 'dispatch'; readonly session: number; readonly olderBy: number }
  | ({
      readonly kind: 'outcome';
      readonly session: number;
      readonly olderBy: number;
    } & OutcomeCommand)
  | ({ readonly kind: 'callback'; readonly session: number } & { readonly report: CallbackCommand })
  | { readonly kind: 'claim'; readonly batchSize: number }
  | { readonly kind: 'probe' }
  | { readonly kind: 'rearm'; readonly session: number }
  | { readonly kind: 'cancel'; readonly session: number }
  | { readonly kind: 'force'; readonly state: 'open' | 'closed' }
  | { readonly kind: 'advance'; readonly ms: number };

// Session indexes run one past the recorded ones, so commands also reach unknown jobs.
const sessionArb = fc.integer({ min: 0, max: SESSIONS });
const outcomeArb: fc.Arbitrary<OutcomeCommand> = fc.constantFrom<OutcomeCommand>(
  { outcome: 'accepted', failure: null, httpStatus: 202, retryAfterSeconds: null },
  { outcome: 'accepted', failure: null, httpStatus: 202, retryAfterSeconds: null },
  { outcome: 'transient', failure: 'timeout', httpStatus: null, retryAfterSeconds: null },
  { outcome: 'transient', failure: 'http_5xx', httpStatus: 503, retryAfterSeconds: null },
  { outcome: 'transient', failure: 'http_4xx', httpStatus: 429, retryAfterSeconds: 900 },
  { outcome: 'permanent', failure: 'http_4xx', httpStatus: 422, retryAfterSeconds: null },
  {
    outcome: 'permanent',
    failure: 'trigger_not_configured',
    httpStatus: null,
    retryAfterSeconds: null,
  },
);
const callbackArb: fc.Arbitrary<CallbackCommand> = fc.oneof(
  fc.record({
    kind: fc.constant('progress' as const),
    phase: fc.constantFrom('database', 'dns', null),
  }),
  fc.record({
    kind: fc.constant('provisioned' as const),
    deploymentId: fc.stringMatching(/^[a-z0-9]{6}$/).map((suffix) => `dpl_${suffix}`),
    cellId: fc.constantFrom('cell-eu-1', 'cell-us-2'),
    tokensQuota: fc.constantFrom(0, 250_000),
  }),
  fc.record({ kind: fc.constant('failed' as const), error: fc.constantFrom('cell_full', null) }),
);
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('record' as const),
      session: fc.integer({ min: 0, max: SESSIONS - 1 }),
      pkg: fc.constantFrom<string | null>('starter', 'pro', UNKNOWN_SLUG, null),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('dispatch' as const),
      session: sessionArb,
      olderBy: fc.constantFrom(0, 0, 0, 1),
    }),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(sessionArb, fc.constantFrom(0, 0, 0, 1), outcomeArb)
      .map(([session, olderBy, outcome]) => ({
        kind: 'outcome' as const,
        session,
        olderBy,
        ...outcome,
      })),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(sessionArb, callbackArb)
      .map(([session, report]) => ({ kind: 'callback' as const, session, report })),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('claim' as const),
      batchSize: fc.integer({ min: 1, max: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'probe' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rearm' as const), session: sessionArb }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('cancel' as const), session: sessionArb }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('force' as const),
      state: fc.constantFrom<'open' | 'closed'>('open', 'closed'),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.oneof(
        fc.integer({ min: 1_000, max: 3_600_000 }),
        // The dispatch lease, the quiet window, the queue lease, the STUCK window, ±1 ms.
        fc.constantFrom(11_999, 12_000, 12_001, 300_000, 300_001, 360_000, 360_001, 900_001),
      ),
    }),
  },
);

// Low budgets and thresholds make capping and the breaker reachable within a short run.
const rulesArb: fc.Arbitrary<ProvisioningRules> = fc
  .record({
    maxAttempts: fc.constantFrom(1, 2, 3, DEFAULT_RULES.maxAttempts),
    breakerFailureThreshold: fc.constantFrom(1, 2, 5),
  })
  .map((overrides) => ({ ...DEFAULT_RULES, handoffLeaseSeconds: 360, ...overrides }));

function sessionId(index: number): string {
  return `cs_test_model_${index}`;
}

/** What the invariants track across steps, beyond the model's state. */
interface Trail {
  /** Every attempt number claimed per job, in order. */
  readonly attempts: Map<string, number[]>;
  /** Every trigger sent: its job, attempt, and when it stopped being in flight. */
  readonly sent: { jobId: string; attempt: number; from: number; until: number }[];
  /** The row of a job once it became terminal. */
  readonly frozen: Map<string, Pick<JobRow, 'status' | 'deployment_id' | 'cell_id'>>;
}

const half = () => JITTER;

async function runCommand(executor: SqlExecutor, model: Model, trail: Trail, command: Command) {
  const now = model.now;
  const jobOf = (session: number) => model.jobs.get(sessionId(session));
  const noteClaims = (jobs: readonly ModelJob[]) => {
    for (const job of jobs) trail.attempts.get(job.id)?.push(job.attempts);
  };
  switch (command.kind) {
    case 'advance':
      model.now = new Date(now.getTime() + command.ms);
      return;
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
        model.rules.handoffLeaseSeconds,
      );
      const pkg = PACKAGES.find((candidate) => candidate.slug === command.pkg);
      if (before) {
        expect(created).toBe(false);
        expect(job.id).toBe(before.id);
        // An account still without a quota takes the one this delivery names.
        if (before.accountQuota === 0) before.accountQuota = pkg?.tokensQuota ?? 0;
        return;
      }
      expect(created).toBe(true);
      const modelJob: ModelJob = {
        id: job.id,
        session,
        createdAt: now,
        hasPayload: pkg !== undefined,
        status: 'enqueued',
        phase: null,
        attempts: 0,
        budgetSpent: 0,
        lastAttemptAt: null,
        leaseExpiresAt: null,
        dispatchedAttempt: null,
        dispatchedAt: null,
        outcomeAttempt: null,
        lastOutcome: null,
        lastError: pkg ? null : UNKNOWN_PACKAGE,
        lastHttpStatus: null,
        nextAttemptAt: null,
        parkedAt: null,
        cappedAt: null,
        heartbeatAt: null,
        updatedAt: now,
        deploymentId: null,
        cellId: null,
        tokensQuota: pkg?.tokensQuota ?? null,
        accountQuota: pkg?.tokensQuota ?? 0,
        accountStatus: 'pending',
        events: {},
      };
      modelJob.events.recorded = 1;
      model.jobs.set(session, modelJob);
      trail.attempts.set(job.id, []);
      if (pkg) {
        // The first attempt is claimed with the record.
        claimAttempt(model, modelJob, 'recorded');
        modelJob.events.recorded = 1;
        noteClaims([modelJob]);
      }
      return;
    }
    case 'dispatch': {
      const job = jobOf(command.session);
      const attempt = (job?.attempts ?? 1) - command.olderBy;
      if (attempt < 1) return;
      const budgetBefore = totalBudget(model);
      const dispatched = await dispatchAttempt(
        executor,
        { jobId: job?.id ?? randomUUID(), attempt },
        now,
        DISPATCH_LEASE_SECONDS,
      );
      const expected = dispatchDecision(model, job, attempt);
      expect(dispatched.decision).toBe(expected);
      if (!job) return;
      const wasOpen = model.breaker.state === 'open';
      applyDispatch(model, job, attempt, expected);
      expect(dispatched.budgetSpent).toBe(job.budgetSpent);
      if (expected === 'dispatch') {
        trail.sent.push({
          jobId: job.id,
          attempt,
          from: now.getTime(),
          until: now.getTime() + DISPATCH_LEASE_SECONDS * 1000,
        });
      }
      // A paused run spends no budget: only the probe is sent, and it is free.
      if (wasOpen) expect(totalBudget(model)).toBe(budgetBefore);
      return;
    }
    case 'outcome': {
      const job = jobOf(command.session);
      const attempt = (job?.attempts ?? 1) - command.olderBy;
      if (attempt < 1) return;
      const recorded = await recordAttemptOutcome(
        executor,
        {
          jobId: job?.id ?? randomUUID(),
          attempt,
          outcome: command.outcome,
          failure: command.failure,
          httpStatus: command.httpStatus ?? undefined,
          retryAfterSeconds: command.retryAfterSeconds ?? undefined,
        },
        now,
        model.rules,
        half,
      );
      const expected = applyOutcome(model, job, attempt, command);
      expect({
        recorded: recorded.recorded,
        parked: recorded.parked,
        capped: recorded.capped,
        breaker: recorded.breaker,
      }).toEqual(expected);
      if (expected.recorded && job) {
        for (const sent of trail.sent) {
          if (sent.jobId === job.id && sent.attempt === attempt)
            sent.until = Math.min(sent.until, now.getTime());
        }
      }
      return;
    }
    case 'callback': {
      const session = sessionId(command.session);
      const job = model.jobs.get(session);
      const report = command.report;
      const result = await applyCallback(
        executor,
        report.kind === 'progress'
          ? { stripeSessionId: session, status: 'provisioning', phase: report.phase ?? undefined }
          : report.kind === 'provisioned'
            ? {
                stripeSessionId: session,
                status: 'provisioned',
                deploymentId: report.deploymentId,
                cellId: report.cellId,
                tokensQuota: report.tokensQuota,
              }
            : { stripeSessionId: session, status: 'failed', error: report.error ?? undefined },
        now,
        model.rules,
        half,
      );
      if (!job) {
        expect(result).toEqual({ kind: 'unknown_session' });
        return;
      }
      const effect = applyCallbackToModel(model, job, report);
      expect(result).toMatchObject({ kind: 'known', status: job.status, ...effect });
      return;
    }
    case 'claim': {
      const budgetBefore = totalBudget(model);
      const expected = claimExpectation(model);
      const claim = await claimStaleJobs(executor, command.batchSize, now, model.rules);
      const byId = new Map([...model.jobs.values()].map((job) => [job.id, job]));
      const claimed = claim.jobs.map((claimedJob) => byId.get(claimedJob.id));
      const capped = claim.capped.map((cappedJob) => byId.get(cappedJob.id));
      expect(claim.skippedNoPayload).toBe(expected.skipped);
      expect(claim.breaker.state).toBe(model.breaker.state);
      expect(claim.jobs).toHaveLength(Math.min(command.batchSize, expected.eligible.length));
      expect(claim.capped).toHaveLength(Math.min(command.batchSize, expected.toCap.length));
      const claimedJobs = claimed.filter((job): job is ModelJob => job !== undefined);
      const cappedJobs = capped.filter((job): job is ModelJob => job !== undefined);
      for (const job of claimedJobs) {
        expect(expected.eligible).toContain(job);
        noProgressInWindow(model, job);
      }
      for (const job of cappedJobs) expect(expected.toCap).toContain(job);
      assertOldestFirst(claimedJobs, expected.eligible, (message) => expect.fail(message));
      assertOldestFirst(cappedJobs, expected.toCap, (message) => expect.fail(message));
      applyClaim(model, claimedJobs, cappedJobs);
      for (const claimedJob of claim.jobs) {
        expect(claimedJob.attempt).toBe(byId.get(claimedJob.id)?.attempts);
      }
      noteClaims(claimedJobs);
      expect(totalBudget(model)).toBe(budgetBefore);
      return;
    }
    case 'probe': {
      const candidates = probeCandidates(model);
      const probe = await claimProbe(executor, now, model.rules);
      if (candidates.length === 0) {
        expect(probe).toBeUndefined();
        return;
      }
      const job = [...model.jobs.values()].find((candidate) => candidate.id === probe?.id);
      expect(job).toBeDefined();
      if (!job) return;
      expect(candidates).toContain(job);
      assertOldestFirst([job], candidates, (message) => expect.fail(message));
      noProgressInWindow(model, job);
      applyProbe(model, job);
      expect(probe?.attempt).toBe(job.attempts);
      noteClaims([job]);
      return;
    }
    case 'rearm': {
      const job = jobOf(command.session);
      const result = await rearmJob(
        executor,
        { jobId: job?.id ?? randomUUID(), actor: 'operator:model-test', reason: 'transport fixed' },
        now,
      );
      if (!job) return void expect(result).toEqual({ kind: 'not_found' });
      const priorBudget = job.budgetSpent;
      if (applyRearm(model, job))
        expect(result).toEqual({ kind: 'rearmed', priorBudgetSpent: priorBudget });
      else expect(result).toMatchObject({ kind: 'refused', status: job.status });
      return;
    }
    case 'cancel': {
      const job = jobOf(command.session);
      const result = await cancelJob(
        executor,
        { jobId: job?.id ?? randomUUID(), actor: 'operator:model-test', reason: 'refunded' },
        now,
      );
      if (!job) return void expect(result).toEqual({ kind: 'not_found' });
      const prior = job.status;
      if (applyCancel(model, job))
        expect(result).toEqual({ kind: 'cancelled', priorStatus: prior });
      else expect(result).toMatchObject({ kind: 'refused', status: job.status });
      return;
    }
    case 'force': {
      await forceBreaker(
        executor,
        { state: command.state, actor: 'operator:model-test', reason: 'test' },
        now,
      );
      applyForce(model, command.state);
      return;
    }
  }
}

function totalBudget(model: Model): number {
  return [...model.jobs.values()].reduce((sum, job) => sum + job.budgetSpent, 0);
}

/** Progress keeps a job alive: one that reported within its quiet window is never re-driven. */
function noProgressInWindow(model: Model, job: ModelJob): void {
  if (job.heartbeatAt === null) return;
  expect(secondsAfter(job.heartbeatAt, model.rules.staleAfterSeconds) <= model.now).toBe(true);
}

const time = (value: Date | null) => (value === null ? null : value.getTime());

async function checkInvariants(
  db: TestDatabase,
  executor: SqlExecutor,
  model: Model,
  trail: Trail,
) {
  const { rows } = await db.pool.query<JobRow>('SELECT * FROM provisioning_jobs');
  const accounts = await db.pool.query<{
    stripe_session_id: string;
    status: string;
    tokens_quota: string;
  }>('SELECT stripe_session_id, status, tokens_quota FROM customer_accounts');
  const events = await db.pool.query<{ job_id: string; kind: string; n: string }>(
    'SELECT job_id, kind, count(*) AS n FROM provisioning_job_events GROUP BY job_id, kind',
  );
  expect(rows.map((row) => row.stripe_session_id).sort()).toEqual([...model.jobs.keys()].sort());

  for (const row of rows) {
    const job = model.jobs.get(row.stripe_session_id);
    if (!job) continue;
    expect({
      status: row.status,
      phase: row.phase,
      attempts: row.attempts,
      budgetSpent: row.budget_spent,
      lastError: row.last_error,
      lastOutcome: row.last_outcome,
      lastHttpStatus: row.last_http_status,
      deploymentId: row.deployment_id,
      cellId: row.cell_id,
      tokensQuota: row.tokens_quota === null ? null : Number(row.tokens_quota),
      hasPayload: row.trigger_payload !== null,
      dispatchedAttempt: row.dispatched_attempt,
      outcomeAttempt: row.outcome_attempt,
      leaseExpiresAt: time(row.lease_expires_at),
      nextAttemptAt: time(row.next_attempt_at),
      parkedAt: time(row.parked_at),
      cappedAt: time(row.capped_at),
      heartbeatAt: time(row.heartbeat_at),
      updatedAt: time(row.updated_at),
    }).toEqual({
      status: job.status,
      phase: job.phase,
      attempts: job.attempts,
      budgetSpent: job.budgetSpent,
      lastError: job.lastError,
      lastOutcome: job.lastOutcome,
      lastHttpStatus: job.lastHttpStatus,
      deploymentId: job.deploymentId,
      cellId: job.cellId,
      tokensQuota: job.tokensQuota,
      hasPayload: job.hasPayload,
      dispatchedAttempt: job.dispatchedAttempt,
      outcomeAttempt: job.outcomeAttempt,
      leaseExpiresAt: time(job.leaseExpiresAt),
      nextAttemptAt: time(job.nextAttemptAt),
      parkedAt: time(job.parkedAt),
      cappedAt: time(job.cappedAt),
      heartbeatAt: time(job.heartbeatAt),
      updatedAt: time(job.updatedAt),
    });
    const account = accounts.rows.find(
      (candidate) => candidate.stripe_session_id === row.stripe_session_id,
    );
    expect(account?.status).toBe(job.accountStatus);
    expect(Number(account?.tokens_quota)).toBe(job.accountQuota);

    // Every transition, attempt and operator action is in the job's history, once.
    const history = Object.fromEntries(
      events.rows
        .filter((event) => event.job_id === row.id)
        .map((event) => [event.kind, Number(event.n)]),
    );
    expect(history).toEqual(job.events);

    // A provisioned or cancelled job never moves.
    const frozen = trail.frozen.get(row.id);
    if (frozen) {
      expect({
        status: row.status,
        deployment_id: row.deployment_id,
        cell_id: row.cell_id,
      }).toEqual(frozen);
    } else if (isTerminal(row.status)) {
      trail.frozen.set(row.id, {
        status: row.status,
        deployment_id: row.deployment_id,
        cell_id: row.cell_id,
      });
    }

    // Attempt numbers only grow.
    const numbers = trail.attempts.get(row.id) ?? [];
    for (let i = 1; i < numbers.length; i += 1) {
      expect(numbers[i] ?? 0).toBeGreaterThan(numbers[i - 1] ?? 0);
    }
  }

  // Never two attempts in flight for one job: the triggers sent never overlap in time.
  for (const sent of trail.sent) {
    for (const other of trail.sent) {
      if (other === sent || other.jobId !== sent.jobId) continue;
      const overlap = sent.from < other.until && other.from < sent.until;
      expect(overlap && sent.attempt !== other.attempt).toBe(false);
    }
  }

  // The breaker is what the model says.
  const breaker = await db.pool.query(
    'SELECT state, consecutive_failures, opened_at, forced, probe_job_id, probe_attempt FROM orchestrator_breaker',
  );
  expect(breaker.rows[0]).toEqual({
    state: model.breaker.state,
    consecutive_failures: model.breaker.consecutiveFailures,
    opened_at: model.breaker.openedAt,
    forced: model.breaker.forced,
    probe_job_id: model.breaker.probe?.jobId ?? null,
    probe_attempt: model.breaker.probe?.attempt ?? null,
  });
  const breakerEvents = await db.pool.query<{ kind: string; n: string }>(
    'SELECT kind, count(*) AS n FROM orchestrator_breaker_events GROUP BY kind',
  );
  expect(Object.fromEntries(breakerEvents.rows.map((row) => [row.kind, Number(row.n)]))).toEqual(
    model.breaker.events,
  );

  // The gauge counts what the pure STUCK predicate counts.
  const stuck = [...model.jobs.values()].filter((job) =>
    isStuck(clockOf(job), model.now, model.rules),
  );
  expect(await countStuckJobs(executor, model.now, model.rules)).toBe(stuck.length);
}

describe('the retry model (model-based, Data API executor)', () => {
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

  it('keeps leases, budgets, outcomes, the breaker and operator actions true to SPEC 2.5 through any sequence', async () => {
    await fc.assert(
      fc.asyncProperty(
        rulesArb,
        fc.array(commandArb, { minLength: 1, maxLength: 40, size: 'max' }),
        async (rules, commands) => {
          // Prepare: empty tables, a closed breaker, the clock at START.
          await db.pool.query(
            'TRUNCATE provisioning_job_events, provisioning_jobs, customer_accounts, orchestrator_breaker_events CASCADE',
          );
          await db.pool.query(
            "UPDATE orchestrator_breaker SET state = 'closed', consecutive_failures = 0, opened_at = NULL, forced = false, probe_job_id = NULL, probe_attempt = NULL, probe_lease_expires_at = NULL",
          );
          const model: Model = {
            now: START,
            rules,
            jobs: new Map(),
            breaker: {
              state: 'closed',
              consecutiveFailures: 0,
              openedAt: null,
              forced: false,
              probe: null,
              events: {},
            },
          };
          const trail: Trail = { attempts: new Map(), sent: [], frozen: new Map() };

          for (const command of commands) {
            // Act
            await runCommand(executor, model, trail, command);
            // Assess
            await checkInvariants(db, executor, model, trail);
          }
        },
      ),
      { numRuns: 60 },
    );
  }, 240_000);
});
