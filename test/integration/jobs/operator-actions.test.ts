import { beforeEach, describe, expect, it } from 'vitest';
import {
  forceBreaker,
  openSeconds,
  readBreaker,
} from '../../../functions/db/breaker-repository.js';
import type { SqlExecutor } from '../../../functions/db/executor.js';
import { applyCallback } from '../../../functions/db/jobs/callbacks.js';
import {
  dispatchAttempt,
  recordAttemptOutcome,
} from '../../../functions/db/jobs/handoff-attempts.js';
import { cancelJob, readJob, rearmJob } from '../../../functions/db/jobs/operator-actions.js';
import { countStuckJobs } from '../../../functions/db/jobs/reconcile-claims.js';
import {
  accountOf,
  executorCases,
  historyOf,
  jobOf,
  jobsDatabase,
  minutes,
  recordedJob,
  replayingExecutor,
  T0,
  TEST_RULES,
} from '../../support/jobs.js';

const RULES = TEST_RULES;
const MISSING = '00000000-0000-4000-8000-000000000000';

const database = jobsDatabase();

describe.each(executorCases(database))(
  'operator actions through the $name executor',
  ({ make }) => {
    let exec: SqlExecutor;
    beforeEach(async () => {
      exec = make();
      await database().pool.query(
        "UPDATE orchestrator_breaker SET state = 'closed', forced = false, opened_at = NULL, consecutive_failures = 0",
      );
    });

    const recorded = () => recordedJob(exec);

    async function provisioned() {
      const job = await recorded();
      await applyCallback(
        exec,
        {
          stripeSessionId: job.stripe_session_id,
          status: 'provisioned',
          deploymentId: 'dpl_r',
          cellId: 'c',
        },
        minutes(1),
        RULES,
      );
      return job;
    }

    describe('re-arming', () => {
      it('restores the budget, un-parks and un-caps the job, makes it due at once and keeps its attempt number', async () => {
        const job = await recorded();
        await database().pool.query(
          `UPDATE provisioning_jobs SET attempts = 8, budget_spent = 8, capped_at = $2, parked_at = $2,
           status = 'failed', last_error = 'http_5xx' WHERE id = $1`,
          [job.id, T0],
        );

        const result = await rearmJob(
          exec,
          { jobId: job.id, actor: 'operator:alice', reason: 'orchestrator is back' },
          minutes(90),
        );

        expect(result).toEqual({ kind: 'rearmed', priorBudgetSpent: 8 });
        expect(await jobOf(database(), job.stripe_session_id)).toMatchObject({
          attempts: 8,
          budget_spent: 0,
          capped_at: null,
          parked_at: null,
          status: 'enqueued',
          next_attempt_at: minutes(90),
          updated_at: minutes(90),
        });
        const report = await readJob(exec, job.stripe_session_id);
        expect(report?.history.at(-1)).toMatchObject({
          kind: 'rearmed',
          actor: 'operator:alice',
          reason: 'orchestrator is back',
        });
      });

      it('refuses a provisioned or cancelled job and tells an unknown one apart', async () => {
        const done = await provisioned();
        const closed = await recorded();
        await cancelJob(
          exec,
          { jobId: closed.id, actor: 'operator:alice', reason: 'fraud' },
          minutes(1),
        );

        const actor = { actor: 'operator:alice' as const, reason: 'oops' };
        expect(await rearmJob(exec, { jobId: done.id, ...actor }, minutes(2))).toEqual({
          kind: 'refused',
          status: 'provisioned',
        });
        expect(await rearmJob(exec, { jobId: closed.id, ...actor }, minutes(2))).toEqual({
          kind: 'refused',
          status: 'cancelled',
        });
        expect(await rearmJob(exec, { jobId: MISSING, ...actor }, minutes(2))).toEqual({
          kind: 'not_found',
        });
      });

      it('answers a replayed re-arm as the first did, with one history row', async () => {
        const job = await recorded();
        await database().pool.query('UPDATE provisioning_jobs SET budget_spent = 5 WHERE id = $1', [
          job.id,
        ]);

        const result = await rearmJob(
          replayingExecutor(exec),
          { jobId: job.id, actor: 'operator:a', reason: 'r' },
          minutes(5),
        );

        expect(result).toEqual({ kind: 'rearmed', priorBudgetSpent: 5 });
        expect(await historyOf(database(), job.id)).toEqual(['recorded', 'rearmed']);
      });
    });

    describe('cancelling', () => {
      it('closes the job for good: terminal, off the gauge, its account cancelled, the reason in its history', async () => {
        const job = await recorded();
        await database().pool.query('UPDATE provisioning_jobs SET parked_at = $2 WHERE id = $1', [
          job.id,
          T0,
        ]);
        const stuckBefore = await countStuckJobs(exec, minutes(60), RULES);

        const result = await cancelJob(
          exec,
          { jobId: job.id, actor: 'operator:alice', reason: 'refunded' },
          minutes(30),
        );

        expect(result).toEqual({ kind: 'cancelled', priorStatus: 'enqueued' });
        expect(await jobOf(database(), job.stripe_session_id)).toMatchObject({
          status: 'cancelled',
          cancelled_at: minutes(30),
          cancel_reason: 'refunded',
          parked_at: null,
          lease_expires_at: null,
        });
        expect((await accountOf(database(), job.stripe_session_id))?.status).toBe('cancelled');
        expect(await countStuckJobs(exec, minutes(60), RULES)).toBe(stuckBefore - 1);
        const report = await readJob(exec, job.stripe_session_id);
        expect(report?.history.at(-1)).toMatchObject({
          kind: 'cancelled',
          actor: 'operator:alice',
          reason: 'refunded',
        });
      });

      it('refuses a provisioned job, and never cancels twice', async () => {
        const done = await provisioned();
        const closed = await recorded();
        const actor = { actor: 'operator:alice' as const, reason: 'duplicate purchase' };
        await cancelJob(exec, { jobId: closed.id, ...actor }, minutes(1));

        expect(await cancelJob(exec, { jobId: done.id, ...actor }, minutes(2))).toEqual({
          kind: 'refused',
          status: 'provisioned',
        });
        expect(await cancelJob(exec, { jobId: closed.id, ...actor }, minutes(2))).toEqual({
          kind: 'refused',
          status: 'cancelled',
        });
        expect(await cancelJob(exec, { jobId: MISSING, ...actor }, minutes(2))).toEqual({
          kind: 'not_found',
        });
        expect((await jobOf(database(), done.stripe_session_id)).status).toBe('provisioned');
      });

      it('lets no later hand-off outcome move a cancelled job', async () => {
        const job = await recorded();
        await dispatchAttempt(exec, { jobId: job.id, attempt: 1 }, T0, 12);
        await cancelJob(exec, { jobId: job.id, actor: 'operator:a', reason: 'fraud' }, minutes(1));

        const late = await recordAttemptOutcome(
          exec,
          { jobId: job.id, attempt: 1, outcome: 'permanent', failure: 'http_4xx', httpStatus: 422 },
          minutes(2),
          RULES,
        );

        expect(late).toMatchObject({ status: 'cancelled', parked: false });
        expect((await jobOf(database(), job.stripe_session_id)).parked_at).toBeNull();
      });
    });

    describe('the breaker held by an operator', () => {
      it('stays open through an accepted trigger until an operator closes it, with both actions in its history', async () => {
        const job = await recorded();
        await dispatchAttempt(exec, { jobId: job.id, attempt: 1 }, T0, 12);

        const opened = await forceBreaker(
          exec,
          { state: 'open', actor: 'operator:alice', reason: 'orchestrator maintenance' },
          minutes(1),
        );
        await recordAttemptOutcome(
          exec,
          { jobId: job.id, attempt: 1, outcome: 'accepted', failure: null },
          minutes(2),
          RULES,
        );
        const held = await readBreaker(exec);
        const closed = await forceBreaker(
          exec,
          { state: 'closed', actor: 'operator:alice', reason: 'done' },
          minutes(20),
        );

        expect(opened).toEqual({ priorState: 'closed', priorForced: false });
        expect(held).toMatchObject({
          state: 'open',
          forced: true,
          reason: 'orchestrator maintenance',
          changed_by: 'operator:alice',
        });
        expect(openSeconds(held, minutes(16))).toBe(15 * 60);
        expect(closed).toEqual({ priorState: 'open', priorForced: true });
        expect(await readBreaker(exec)).toMatchObject({
          state: 'closed',
          forced: false,
          opened_at: null,
        });
        const { rows } = await database().pool.query(
          "SELECT kind, actor, reason FROM orchestrator_breaker_events WHERE kind LIKE 'forced%' ORDER BY id DESC LIMIT 2",
        );
        expect(rows.reverse()).toEqual([
          { kind: 'forced_open', actor: 'operator:alice', reason: 'orchestrator maintenance' },
          { kind: 'forced_closed', actor: 'operator:alice', reason: 'done' },
        ]);
      });
    });

    it('reads a job with its account and whole history', async () => {
      const job = await recorded();
      await dispatchAttempt(exec, { jobId: job.id, attempt: 1 }, T0, 12);
      await recordAttemptOutcome(
        exec,
        { jobId: job.id, attempt: 1, outcome: 'accepted', failure: null },
        minutes(1),
        RULES,
      );
      await applyCallback(
        exec,
        { stripeSessionId: job.stripe_session_id, status: 'provisioning', phase: 'cell' },
        minutes(2),
        RULES,
      );

      const report = await readJob(exec, job.stripe_session_id);

      expect(report?.job).toMatchObject({ id: job.id, status: 'provisioning', phase: 'cell' });
      expect(report?.account).toMatchObject({ id: job.account_id, status: 'pending' });
      expect(report?.history.map((event) => [event.kind, event.actor, event.to_status])).toEqual([
        ['recorded', 'stripe', 'enqueued'],
        ['handoff', 'handoff', 'enqueued'],
        ['callback', 'orchestrator', 'provisioning'],
      ]);
      expect(await readJob(exec, 'cs_test_unknown')).toBeUndefined();
    });
  },
);
