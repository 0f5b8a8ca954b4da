import { TelemetryRegistry } from '../../functions/adapters/telemetry.js';
import { isJobSessionId } from '../../functions/core/session-id.js';
import { cancelJob } from '../../functions/db/jobs/operator-actions.js';
import { findJob, isJobId } from '../../functions/db/operator-repository.js';
import { announceJob } from '../../functions/services/announcements.js';
import type { Command } from '../command.js';
import { RefusedError, UsageError } from '../errors.js';
import { operatorLog } from '../io.js';
import { positionals } from '../options.js';
import { keyValues, show } from '../render.js';

export const cancel: Command = {
  name: 'cancel',
  synopsis: 'cancel SESSION|JOB --reason TEXT',
  summary: 'close a job that will never be provisioned: refunded, fraud, duplicate purchase',
  help: `Closes a job for good: its status becomes cancelled (terminal), it leaves the STUCK
gauge, the reconciler never re-drives it, its account is marked cancelled and the
success page says failed. The reason (refunded, fraud, duplicate purchase, not this
product…) and your identity are kept in the job's history, and job.cancelled is
published. A provisioned job is refused: it has a tenant.
If the orchestrator later reports a tenant for the job, the report is kept in its
history and listed by ops stuck for a decision; it is never applied.`,
  options: [],
  async run(context, args) {
    const [reference = ''] = positionals(args, ['SESSION|JOB']);
    if (!isJobId(reference) && !isJobSessionId(reference)) {
      throw new UsageError(`${reference} is neither a session id (cs_…, op_…) nor a job id (UUID)`);
    }
    const target = await context.target();
    const job = await findJob(target.db, reference);
    if (!job) throw new RefusedError(`no provisioning job ${reference}`);
    if (job.status === 'provisioned') {
      throw new RefusedError(
        `job ${job.id} is provisioned (${job.deployment_id}): a provisioned job is never cancelled`,
        ['Decommission the tenant with the orchestrator team; the job keeps its history.'],
      );
    }
    if (job.status === 'cancelled') {
      context.out.result(
        { result: 'already_cancelled', job_id: job.id, stripe_session_id: job.stripe_session_id },
        () => `Job ${job.id} was cancelled already (${show(job.cancel_reason)}).`,
      );
      return;
    }
    context.out.plan(
      keyValues([
        ['target', target.description],
        ['job', job.id],
        ['session', job.stripe_session_id],
        ['status', `${job.status} → cancelled (terminal)`],
        ['account', 'marked cancelled'],
        ['last error', show(job.last_error)],
      ]),
    );
    const authorization = await context.authorize({
      question: `Cancel job ${job.id} for good on the ${target.description}?`,
      summary: { action: 'cancel', job_id: job.id, stripe_session_id: job.stripe_session_id },
      needsReason: true,
    });
    if (!authorization) return;
    const now = context.now();
    const result = await cancelJob(
      target.db,
      { jobId: job.id, actor: await context.actor(), reason: authorization.reason },
      now,
    );
    if (result.kind === 'not_found') throw new RefusedError(`no provisioning job ${job.id}`);
    if (result.kind === 'refused') {
      throw new RefusedError(`job ${job.id} became ${result.status} meanwhile: not cancelled`);
    }
    const log = operatorLog(context.out);
    await announceJob(
      { events: target.lifecycleEvents(log), telemetry: new TelemetryRegistry(), log },
      {
        type: 'job.cancelled',
        jobId: job.id,
        stripeSessionId: job.stripe_session_id,
        occurredAt: now,
        detail: { reason: authorization.reason, prior_status: result.priorStatus },
      },
    );
    context.out.result(
      {
        result: 'cancelled',
        job_id: job.id,
        stripe_session_id: job.stripe_session_id,
        prior_status: result.priorStatus,
      },
      () => `Cancelled job ${job.id} (was ${result.priorStatus}); it is off the gauge for good.`,
    );
  },
};
