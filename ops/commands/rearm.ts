import { isJobSessionId } from '../../functions/core/session-id.js';
import { rearmJob } from '../../functions/db/jobs/operator-actions.js';
import { findJob, isJobId } from '../../functions/db/operator-repository.js';
import { TRANSPORT_BROKEN } from '../advice.js';
import type { Command } from '../command.js';
import { RefusedError, UsageError } from '../errors.js';
import { positionals } from '../options.js';
import { keyValues, show } from '../render.js';

export const rearm: Command = {
  name: 'rearm',
  synopsis: 'rearm JOB [--reason TEXT]',
  summary: 'give a capped job a fresh attempt budget (runbook 5)',
  help: `Resets a job's attempts to 0 (status enqueued, last attempt cleared) so the next
reconcile re-drives it with its stored payload. JOB is the job id or its session id.
A provisioned job is never touched. Fix the transport first: when the job's last error
says the orchestrator was unreachable (trigger_not_configured, fetch_error, timeout,
http_5xx), re-arming before it answers again only burns the new budget.
The reason is kept in the job's history with your identity.`,
  options: [],
  async run(context, args) {
    const [reference = ''] = positionals(args, ['JOB']);
    if (!isJobId(reference) && !isJobSessionId(reference)) {
      throw new UsageError(`${reference} is neither a job id (UUID) nor a session id (cs_…, op_…)`);
    }
    const target = await context.target();
    const job = await findJob(target.db, reference);
    if (!job) throw new RefusedError(`no provisioning job ${reference}`);
    if (job.status === 'provisioned') {
      throw new RefusedError(
        `job ${job.id} is provisioned (${job.deployment_id}): a provisioned job is never re-armed`,
      );
    }
    const rules = target.rules();
    const { out } = context;
    out.plan(
      keyValues([
        ['target', target.description],
        ['job', job.id],
        ['session', job.stripe_session_id],
        ['status', `${job.status} → enqueued`],
        ['attempts', `${job.attempts}/${rules.maxAttempts} → 0`],
        ['last error', show(job.last_error)],
        ['last attempt', show(job.last_attempt_at)],
      ]),
    );
    if (job.last_error && TRANSPORT_BROKEN.has(job.last_error)) {
      out.warn(
        `the last hand-off failed with ${job.last_error}: the way to the orchestrator was broken. ` +
          'Re-arm only once the trigger URL and secret are set and the orchestrator answers (runbook 5).',
      );
    }
    if (job.trigger_payload === null) {
      out.warn(
        `the job has no payload: the reconciler skips it even re-armed. Run ops resolve-payload ${job.stripe_session_id} (runbook 6b).`,
      );
    }
    if (job.attempts < rules.maxAttempts && job.trigger_payload !== null) {
      out.note(
        `Note: the job is not capped (${job.attempts} attempts); the reconciler still retries it.`,
      );
    }
    const authorization = await context.authorize({
      question: `Re-arm job ${job.id} on the ${target.description}?`,
      summary: { action: 'rearm', job_id: job.id, stripe_session_id: job.stripe_session_id },
      needsReason: true,
    });
    if (!authorization) return;
    const result = await rearmJob(
      target.db,
      { jobId: job.id, actor: await context.actor(), reason: authorization.reason },
      context.now(),
    );
    if (result.kind === 'not_found') throw new RefusedError(`no provisioning job ${job.id}`);
    if (result.kind === 'refused_provisioned') {
      throw new RefusedError(`job ${job.id} became provisioned meanwhile: not re-armed`);
    }
    out.result(
      {
        result: 'rearmed',
        job_id: job.id,
        stripe_session_id: job.stripe_session_id,
        prior_attempts: result.priorAttempts,
      },
      () =>
        `Re-armed job ${job.id} (attempts ${result.priorAttempts} → 0). The next reconcile re-drives it: ` +
        `ops reconcile${target.stack ? ` --stack ${target.stack.name}` : ''}, or wait for the schedule.`,
    );
  },
};
