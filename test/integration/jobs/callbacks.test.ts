import { beforeEach, describe, expect, it } from 'vitest';
import type { SqlExecutor } from '../../../functions/db/executor.js';
import { applyCallback } from '../../../functions/db/jobs/callbacks.js';
import {
  dispatchAttempt,
  recordAttemptOutcome,
} from '../../../functions/db/jobs/handoff-attempts.js';
import { cancelJob } from '../../../functions/db/jobs/operator-actions.js';
import {
  accountOf,
  executorCases,
  half,
  historyOf,
  jobOf,
  jobsDatabase,
  minutes,
  recordedJob,
  replayingExecutor,
  seconds,
  T0,
  TEST_RULES,
} from '../../support/jobs.js';

const RULES = TEST_RULES;

const database = jobsDatabase();

describe.each(executorCases(database))(
  'orchestrator callbacks through the $name executor',
  ({ make }) => {
    let exec: SqlExecutor;
    beforeEach(() => {
      exec = make();
    });

    const recorded = () => recordedJob(exec);

    it('record progress with its phase and heartbeat, and hold the job for a quiet window', async () => {
      const job = await recorded();

      const result = await applyCallback(
        exec,
        { stripeSessionId: job.stripe_session_id, status: 'provisioning', phase: 'database' },
        minutes(3),
        RULES,
        half,
      );

      expect(result).toMatchObject({
        kind: 'known',
        applied: true,
        priorStatus: 'enqueued',
        status: 'provisioning',
      });
      expect(await jobOf(database(), job.stripe_session_id)).toMatchObject({
        status: 'provisioning',
        phase: 'database',
        heartbeat_at: minutes(3),
        updated_at: minutes(3),
        next_attempt_at: minutes(3 + RULES.staleAfterSeconds / 60),
      });
    });

    it('un-park and un-cap a job the orchestrator turns out to be working on', async () => {
      const job = await recorded();
      await database().pool.query(
        'UPDATE provisioning_jobs SET parked_at = $2, capped_at = $2 WHERE id = $1',
        [job.id, T0],
      );

      await applyCallback(
        exec,
        { stripeSessionId: job.stripe_session_id, status: 'provisioning' },
        minutes(1),
        RULES,
        half,
      );

      expect(await jobOf(database(), job.stripe_session_id)).toMatchObject({
        parked_at: null,
        capped_at: null,
      });
    });

    it('flip the job provisioned and the account active in one step, with coordinates and quota', async () => {
      const job = await recorded();

      await applyCallback(
        exec,
        {
          stripeSessionId: job.stripe_session_id,
          status: 'provisioned',
          deploymentId: 'dpl_abc',
          cellId: 'cell-eu-1',
          tokensQuota: 2_000_000,
        },
        minutes(4),
        RULES,
      );

      expect(await jobOf(database(), job.stripe_session_id)).toMatchObject({
        status: 'provisioned',
        deployment_id: 'dpl_abc',
        cell_id: 'cell-eu-1',
        tokens_quota: 2_000_000,
        provisioned_at: minutes(4),
      });
      expect(await accountOf(database(), job.stripe_session_id)).toMatchObject({
        status: 'active',
        deployment_id: 'dpl_abc',
        cell_id: 'cell-eu-1',
        tokens_quota: 2_000_000,
      });
    });

    it('leave the quota as it is when the callback says 0 or nothing', async () => {
      const job = await recorded();

      await applyCallback(
        exec,
        {
          stripeSessionId: job.stripe_session_id,
          status: 'provisioned',
          deploymentId: 'dpl_q',
          cellId: 'c',
          tokensQuota: 0,
        },
        minutes(4),
        RULES,
      );

      expect((await jobOf(database(), job.stripe_session_id)).tokens_quota).toBe(1_100_000);
      expect((await accountOf(database(), job.stripe_session_id))?.tokens_quota).toBe(1_100_000);
    });

    it('replay idempotently and never downgrade a provisioned job', async () => {
      const job = await recorded();
      const link = {
        stripeSessionId: job.stripe_session_id,
        status: 'provisioned' as const,
        deploymentId: 'dpl_once',
        cellId: 'cell-1',
      };
      await applyCallback(exec, link, minutes(4), RULES);

      const replay = await applyCallback(exec, link, minutes(5), RULES);
      const lateFailure = await applyCallback(
        exec,
        { stripeSessionId: job.stripe_session_id, status: 'failed', error: 'saga timed out' },
        minutes(6),
        RULES,
      );
      const lateProgress = await applyCallback(
        exec,
        { stripeSessionId: job.stripe_session_id, status: 'provisioning', phase: 'dns' },
        minutes(7),
        RULES,
      );

      for (const result of [replay, lateFailure, lateProgress]) {
        expect(result).toMatchObject({
          kind: 'known',
          applied: false,
          priorStatus: 'provisioned',
          status: 'provisioned',
        });
      }
      expect(await jobOf(database(), job.stripe_session_id)).toMatchObject({
        status: 'provisioned',
        deployment_id: 'dpl_once',
        updated_at: minutes(4),
        last_error: null,
      });
    });

    it('record a failed saga with its error and retry it after a backoff over the spent budget', async () => {
      const job = await recorded();
      await dispatchAttempt(exec, { jobId: job.id, attempt: 1 }, T0, 12);
      await recordAttemptOutcome(
        exec,
        { jobId: job.id, attempt: 1, outcome: 'accepted', failure: null },
        seconds(1),
        RULES,
        half,
      );

      const result = await applyCallback(
        exec,
        { stripeSessionId: job.stripe_session_id, status: 'failed', error: 'quota service down' },
        minutes(2),
        RULES,
        half,
      );

      expect(result).toMatchObject({ applied: true, status: 'failed', capped: false });
      expect(await jobOf(database(), job.stripe_session_id)).toMatchObject({
        status: 'failed',
        last_error: 'quota service down',
        // One unit spent: the ceiling is the quiet window, half of it.
        next_attempt_at: seconds(120 + RULES.staleAfterSeconds / 2),
      });
    });

    it('cap a job whose saga failed with no budget left, once', async () => {
      const job = await recorded();
      await dispatchAttempt(exec, { jobId: job.id, attempt: 1 }, T0, 12);
      const rules = { ...RULES, maxAttempts: 1 };
      const failed = {
        stripeSessionId: job.stripe_session_id,
        status: 'failed' as const,
        error: 'cell full',
      };

      const first = await applyCallback(exec, failed, minutes(2), rules, half);
      const again = await applyCallback(exec, failed, minutes(3), rules, half);

      expect([
        first.kind === 'known' && first.capped,
        again.kind === 'known' && again.capped,
      ]).toEqual([true, false]);
      expect((await jobOf(database(), job.stripe_session_id)).capped_at).toEqual(minutes(2));
      expect(await historyOf(database(), job.id)).toEqual(['recorded', 'callback', 'capped']);
    });

    it('keep a tenant reported for a cancelled job in its history, never apply it', async () => {
      const job = await recorded();
      await cancelJob(
        exec,
        { jobId: job.id, actor: 'operator:alice', reason: 'refunded' },
        minutes(1),
      );

      const result = await applyCallback(
        exec,
        {
          stripeSessionId: job.stripe_session_id,
          status: 'provisioned',
          deploymentId: 'dpl_late',
          cellId: 'c',
        },
        minutes(2),
        RULES,
      );

      expect(result).toMatchObject({ applied: false, status: 'cancelled', lateForCancelled: true });
      expect(await jobOf(database(), job.stripe_session_id)).toMatchObject({
        status: 'cancelled',
        deployment_id: null,
      });
      expect((await accountOf(database(), job.stripe_session_id))?.status).toBe('cancelled');
      expect(await historyOf(database(), job.id)).toEqual([
        'recorded',
        'cancelled',
        'late_callback',
      ]);
    });

    it('answer a replayed transition as the first call did', async () => {
      const job = await recorded();

      const result = await applyCallback(
        replayingExecutor(exec),
        {
          stripeSessionId: job.stripe_session_id,
          status: 'provisioned',
          deploymentId: 'dpl_r',
          cellId: 'c',
        },
        minutes(2),
        RULES,
      );

      expect(result).toMatchObject({
        applied: true,
        priorStatus: 'enqueued',
        status: 'provisioned',
      });
      expect(await historyOf(database(), job.id)).toEqual(['recorded', 'callback']);
    });

    it('tell an unknown session apart and write nothing', async () => {
      const before = await database().pool.query(
        'SELECT count(*)::int AS n FROM provisioning_job_events',
      );

      const result = await applyCallback(
        exec,
        {
          stripeSessionId: 'cs_test_never_recorded',
          status: 'provisioned',
          deploymentId: 'dpl_x',
          cellId: 'c',
        },
        T0,
        RULES,
      );

      expect(result).toEqual({ kind: 'unknown_session' });
      const after = await database().pool.query(
        'SELECT count(*)::int AS n FROM provisioning_job_events',
      );
      expect(after.rows[0].n).toBe(before.rows[0].n);
    });
  },
);
