import { beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RULES, type ProvisioningRules } from '../../../functions/core/rules.js';
import type { SqlExecutor } from '../../../functions/db/executor.js';
import { applyCallback } from '../../../functions/db/jobs/callbacks.js';
import { recordSettledCheckout } from '../../../functions/db/jobs/checkout-records.js';
import {
  type AttemptOutcome,
  dispatchAttempt,
  recordAttemptOutcome,
} from '../../../functions/db/jobs/handoff-attempts.js';
import { claimStaleJobs, countStuckJobs } from '../../../functions/db/jobs/reconcile-claims.js';
import {
  breakerOf,
  checkout,
  executorCases,
  half,
  historyOf,
  jobOf,
  jobsDatabase,
  LEASE_SECONDS,
  minutes,
  replayingExecutor,
  seconds,
  T0,
} from '../../support/jobs.js';

const RULES: ProvisioningRules = {
  ...DEFAULT_RULES,
  breakerFailureThreshold: 3,
  handoffLeaseSeconds: LEASE_SECONDS,
};
/** The trigger's timeout and the recording after it. */
const DISPATCH_LEASE = 12;

const database = jobsDatabase();
beforeEach(async () => {
  await database().pool.query(
    'TRUNCATE provisioning_job_events, provisioning_jobs, customer_accounts, orchestrator_breaker_events CASCADE',
  );
  await database().pool.query(
    "UPDATE orchestrator_breaker SET state = 'closed', consecutive_failures = 0, opened_at = NULL, forced = false, probe_job_id = NULL, probe_attempt = NULL, probe_lease_expires_at = NULL",
  );
});

describe.each(executorCases(database))(
  'hand-off attempts through the $name executor',
  ({ make }) => {
    let exec: SqlExecutor;
    beforeEach(() => {
      exec = make();
    });

    async function recorded(at = T0) {
      const paid = checkout();
      const { job } = await recordSettledCheckout(exec, paid, at, LEASE_SECONDS);
      return job;
    }

    function outcome(job: { id: string }, overrides: Partial<AttemptOutcome> = {}): AttemptOutcome {
      return { jobId: job.id, attempt: 1, outcome: 'accepted', failure: null, ...overrides };
    }

    describe('dispatch', () => {
      it('sends the claimed attempt once, spending one unit of budget and holding the job for the trigger', async () => {
        const job = await recorded();

        const first = await dispatchAttempt(
          exec,
          { jobId: job.id, attempt: 1 },
          seconds(5),
          DISPATCH_LEASE,
        );
        const again = await dispatchAttempt(
          exec,
          { jobId: job.id, attempt: 1 },
          seconds(6),
          DISPATCH_LEASE,
        );

        expect(first).toEqual({ decision: 'dispatch', probe: false, budgetSpent: 1 });
        expect(again.decision).toBe('in_flight');
        expect(await jobOf(database(), job.stripe_session_id)).toMatchObject({
          attempts: 1,
          budget_spent: 1,
          dispatched_attempt: 1,
          dispatched_at: seconds(5),
          lease_expires_at: seconds(5 + DISPATCH_LEASE),
        });
      });

      it('drops an attempt a newer claim superseded, and one whose outcome is recorded', async () => {
        const old = await recorded();
        const done = await recorded();
        // The first message waited in the queue past its lease: the reconciler claims attempt 2.
        const claim = await claimStaleJobs(exec, 10, seconds(LEASE_SECONDS + 1), RULES);
        await dispatchAttempt(
          exec,
          { jobId: done.id, attempt: 2 },
          seconds(LEASE_SECONDS + 2),
          DISPATCH_LEASE,
        );
        await recordAttemptOutcome(
          exec,
          outcome(done, { attempt: 2 }),
          seconds(LEASE_SECONDS + 3),
          RULES,
          half,
        );

        const superseded = await dispatchAttempt(
          exec,
          { jobId: old.id, attempt: 1 },
          seconds(LEASE_SECONDS + 4),
          DISPATCH_LEASE,
        );
        const repeat = await dispatchAttempt(
          exec,
          { jobId: done.id, attempt: 2 },
          seconds(LEASE_SECONDS + 5),
          DISPATCH_LEASE,
        );

        expect(claim.jobs.map((claimed) => claimed.attempt)).toEqual([2, 2]);
        expect(superseded.decision).toBe('superseded');
        expect(repeat.decision).toBe('done');
        expect((await jobOf(database(), old.stripe_session_id)).budget_spent).toBe(0);
      });

      it('sends the same attempt again after a crash once its lease lapsed, without spending budget twice', async () => {
        const job = await recorded();
        await dispatchAttempt(exec, { jobId: job.id, attempt: 1 }, seconds(1), DISPATCH_LEASE);

        const redelivered = await dispatchAttempt(
          exec,
          { jobId: job.id, attempt: 1 },
          seconds(60),
          DISPATCH_LEASE,
        );

        expect(redelivered).toEqual({ decision: 'dispatch', probe: false, budgetSpent: 1 });
      });

      it('holds every attempt but the probe while the breaker is open, spending no budget', async () => {
        const job = await recorded();
        await database().pool.query(
          "UPDATE orchestrator_breaker SET state = 'open', opened_at = $1",
          [T0],
        );

        const held = await dispatchAttempt(
          exec,
          { jobId: job.id, attempt: 1 },
          seconds(2),
          DISPATCH_LEASE,
        );

        expect(held).toEqual({ decision: 'deferred', probe: false, budgetSpent: 0 });
        expect(await jobOf(database(), job.stripe_session_id)).toMatchObject({
          budget_spent: 0,
          lease_expires_at: null,
          next_attempt_at: seconds(2),
          last_outcome: 'deferred',
        });
        expect(await historyOf(database(), job.id)).toEqual(['recorded', 'deferred']);
      });

      it('answers a replayed dispatch as the first call did, spending the budget once', async () => {
        const job = await recorded();

        const replayed = await dispatchAttempt(
          replayingExecutor(exec),
          { jobId: job.id, attempt: 1 },
          seconds(1),
          DISPATCH_LEASE,
        );

        expect(replayed).toEqual({ decision: 'dispatch', probe: false, budgetSpent: 1 });
        expect((await jobOf(database(), job.stripe_session_id)).budget_spent).toBe(1);
      });
    });

    describe('outcomes', () => {
      async function dispatched(at = T0) {
        const job = await recorded(at);
        await dispatchAttempt(exec, { jobId: job.id, attempt: 1 }, at, DISPATCH_LEASE);
        return job;
      }

      it('wait out the quiet window after an acceptance, releasing the lease', async () => {
        const job = await dispatched();

        const result = await recordAttemptOutcome(exec, outcome(job), seconds(3), RULES, half);

        expect(result).toEqual({
          recorded: true,
          status: 'enqueued',
          parked: false,
          capped: false,
          breaker: null,
        });
        expect(await jobOf(database(), job.stripe_session_id)).toMatchObject({
          lease_expires_at: null,
          outcome_attempt: 1,
          last_outcome: 'accepted',
          last_error: null,
          next_attempt_at: seconds(3 + RULES.staleAfterSeconds),
          updated_at: T0,
        });
      });

      it('back a transient failure off with full jitter under a ceiling that doubles with the spent budget', async () => {
        const job = await dispatched();

        await recordAttemptOutcome(
          exec,
          outcome(job, { outcome: 'transient', failure: 'http_5xx', httpStatus: 503 }),
          seconds(3),
          RULES,
          half,
        );

        expect(await jobOf(database(), job.stripe_session_id)).toMatchObject({
          last_error: 'http_5xx',
          last_http_status: 503,
          last_outcome: 'transient',
          // budget 1: ceiling = the quiet window (300 s); half of it.
          next_attempt_at: seconds(3 + 150),
        });
      });

      it("never retry before the orchestrator's Retry-After", async () => {
        const job = await dispatched();

        await recordAttemptOutcome(
          exec,
          outcome(job, {
            outcome: 'transient',
            failure: 'http_4xx',
            httpStatus: 429,
            retryAfterSeconds: 900,
          }),
          seconds(3),
          RULES,
          () => 0,
        );

        expect((await jobOf(database(), job.stripe_session_id)).next_attempt_at).toEqual(
          seconds(903),
        );
      });

      it('park a job the orchestrator refuses: on the gauge at once, never claimed again', async () => {
        const job = await dispatched();

        const result = await recordAttemptOutcome(
          exec,
          outcome(job, { outcome: 'permanent', failure: 'http_4xx', httpStatus: 422 }),
          seconds(3),
          RULES,
          half,
        );
        const later = await claimStaleJobs(exec, 10, minutes(90), RULES);

        expect(result).toMatchObject({ recorded: true, parked: true, capped: false });
        expect(await countStuckJobs(exec, seconds(4), RULES)).toBe(1);
        expect(later.jobs).toEqual([]);
        expect(await historyOf(database(), job.id)).toEqual(['recorded', 'handoff', 'parked']);
      });

      it('cap a job whose transient failure spent the last of its budget', async () => {
        const job = await dispatched();

        const result = await recordAttemptOutcome(
          exec,
          outcome(job, { outcome: 'transient', failure: 'timeout' }),
          seconds(11),
          { ...RULES, maxAttempts: 1 },
          half,
        );

        expect(result).toMatchObject({ recorded: true, parked: false, capped: true });
        expect((await jobOf(database(), job.stripe_session_id)).capped_at).toEqual(seconds(11));
      });

      it('keep the outcome as history only once the orchestrator has reported since the dispatch', async () => {
        const job = await dispatched();
        await applyCallback(
          exec,
          { stripeSessionId: job.stripe_session_id, status: 'provisioning', phase: 'cell' },
          seconds(1),
          RULES,
          half,
        );

        const result = await recordAttemptOutcome(
          exec,
          outcome(job, { outcome: 'transient', failure: 'timeout' }),
          seconds(10),
          RULES,
          half,
        );

        expect(result).toMatchObject({
          recorded: true,
          status: 'provisioning',
          parked: false,
          capped: false,
        });
        expect(await jobOf(database(), job.stripe_session_id)).toMatchObject({
          status: 'provisioning',
          last_error: null,
          lease_expires_at: null,
          next_attempt_at: seconds(1 + RULES.staleAfterSeconds),
        });
        expect((await breakerOf(database())).consecutive_failures).toBe(0);
      });

      it('answer a replayed outcome as the first call did, with one history row', async () => {
        const job = await dispatched();

        const result = await recordAttemptOutcome(
          replayingExecutor(exec),
          outcome(job, { outcome: 'permanent', failure: 'http_4xx', httpStatus: 422 }),
          seconds(3),
          RULES,
          half,
        );

        expect(result).toMatchObject({ recorded: true, parked: true });
        expect(await historyOf(database(), job.id)).toEqual(['recorded', 'handoff', 'parked']);
      });
    });

    describe('the breaker', () => {
      it('opens once at the threshold of consecutive transient failures across jobs, and the first acceptance closes it', async () => {
        const jobs = [await recorded(), await recorded(), await recorded()];
        const later = await recorded();
        for (const job of [...jobs, later])
          await dispatchAttempt(exec, { jobId: job.id, attempt: 1 }, T0, DISPATCH_LEASE);
        const failure = { outcome: 'transient', failure: 'timeout' } as const;

        const transitions = [];
        for (const job of jobs) {
          transitions.push(
            (await recordAttemptOutcome(exec, outcome(job, failure), seconds(10), RULES, half))
              .breaker,
          );
        }
        const opened = await breakerOf(database());
        const closing = await recordAttemptOutcome(exec, outcome(later), seconds(20), RULES, half);

        expect(transitions).toEqual([null, null, 'opened']);
        expect(opened).toMatchObject({
          state: 'open',
          consecutive_failures: 3,
          opened_at: seconds(10),
          reason: 'timeout',
        });
        expect(closing.breaker).toBe('closed');
        expect(await breakerOf(database())).toMatchObject({
          state: 'closed',
          consecutive_failures: 0,
          opened_at: null,
        });
        const { rows } = await database().pool.query(
          'SELECT kind FROM orchestrator_breaker_events ORDER BY id',
        );
        expect(rows.map((row) => row.kind)).toEqual(['opened', 'closed']);
      });

      it('neither opens nor counts on a permanent refusal', async () => {
        const job = await recorded();
        await dispatchAttempt(exec, { jobId: job.id, attempt: 1 }, T0, DISPATCH_LEASE);
        await database().pool.query('UPDATE orchestrator_breaker SET consecutive_failures = 2');

        await recordAttemptOutcome(
          exec,
          outcome(job, { outcome: 'permanent', failure: 'http_4xx', httpStatus: 422 }),
          seconds(2),
          RULES,
          half,
        );

        expect(await breakerOf(database())).toMatchObject({
          state: 'closed',
          consecutive_failures: 2,
        });
      });
    });
  },
);
