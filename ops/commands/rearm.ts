import { isJobSessionId } from '../../functions/core/session-id.js';
import { rearmJob } from '../../functions/db/jobs/operator-actions.js';
import {
  listStoppedJobs,
  type RearmFilter,
  type StoppedJob,
} from '../../functions/db/jobs/operator-selections.js';
import { findJob, isJobId } from '../../functions/db/operator-repository.js';
import { realTimer } from '../../functions/services/reconcile.js';
import { errorLabel, TRANSPORT_BROKEN } from '../advice.js';
import type { Command, CommandContext } from '../command.js';
import { RefusedError, UsageError } from '../errors.js';
import {
  type CommandArgs,
  durationOption,
  flag,
  intOption,
  positionals,
  stringOption,
} from '../options.js';
import { progressBar } from '../progress.js';
import { age, keyValues, show, table } from '../render.js';
import type { OpsTarget } from '../target.js';

/** The most jobs one bulk re-arm touches; run it again for more. */
const MAX_BULK = 10_000;

export const rearm: Command = {
  name: 'rearm',
  synopsis:
    'rearm JOB | rearm [--capped] [--parked] [--error CLASS] [--since 2h] [--rate N] [--reason TEXT]',
  summary: 'give a capped or parked job (or every one a filter selects) a fresh budget (runbook 5)',
  help: `Gives a job a fresh retry budget: it is un-capped and un-parked, due at once, and the
next reconcile re-drives its stored payload as a new attempt (attempt numbers only grow,
so the queue never mistakes it for an earlier one). JOB is the job id or its session id.
A provisioned or cancelled job is never touched.

With filters instead of JOB, re-arms every job waiting for an operator that they
select, the longest waiting first: --capped (out of budget), --parked (refused by the
orchestrator; both or neither: either), --error CLASS (last_error, e.g. http_5xx,
timeout, trigger_not_configured, or an answered status such as http_422, http_401),
--since 2h (stopped within the last 2 hours). The plan lists them; each re-arm is
paced at --rate per second (default 10) and written to its job's history.

Fix the cause first: re-arming while the orchestrator still refuses or cannot be
reached only spends the new budget (runbook 5, 5a). The reason is kept with your identity.`,
  options: ['capped', 'parked', 'error', 'since', 'rate', 'limit'],
  async run(context, args) {
    const filter = filterOf(args, context.now());
    if (filter) return rearmMany(context, args, filter);
    for (const option of ['rate', 'limit'] as const) {
      if (stringOption(args, option) !== undefined) {
        throw new UsageError(
          `--${option} goes with a filter (--capped, --parked, --error, --since)`,
        );
      }
    }
    return rearmOne(context, args);
  },
};

function filterOf(args: CommandArgs, now: Date): RearmFilter | undefined {
  const capped = flag(args, 'capped');
  const parked = flag(args, 'parked');
  const error = stringOption(args, 'error')?.trim();
  const sinceSeconds = durationOption(args, 'since');
  if (!capped && !parked && error === undefined && sinceSeconds === undefined) return undefined;
  if (args.positionals.length > 0) {
    throw new UsageError(
      'give either JOB or filters (--capped, --parked, --error, --since), not both',
    );
  }
  if (error !== undefined && !/^[a-z0-9_]{1,64}$/.test(error)) {
    throw new UsageError('--error must be a failure class such as http_5xx, timeout or http_422');
  }
  return {
    stopped: capped === parked ? 'either' : capped ? 'capped' : 'parked',
    error,
    since: sinceSeconds === undefined ? undefined : new Date(now.getTime() - sinceSeconds * 1000),
  };
}

async function rearmOne(context: CommandContext, args: CommandArgs): Promise<void> {
  const [reference = ''] = positionals(args, ['JOB']);
  if (!isJobId(reference) && !isJobSessionId(reference)) {
    throw new UsageError(`${reference} is neither a job id (UUID) nor a session id (cs_…, op_…)`);
  }
  const target = await context.target();
  const job = await findJob(target.db, reference);
  if (!job) throw new RefusedError(`no provisioning job ${reference}`);
  if (job.status === 'provisioned' || job.status === 'cancelled') {
    throw new RefusedError(
      `job ${job.id} is ${job.status}${job.deployment_id ? ` (${job.deployment_id})` : ''}: it is never re-armed`,
    );
  }
  const rules = target.rules();
  const { out } = context;
  out.plan(
    keyValues([
      ['target', target.description],
      ['job', job.id],
      ['session', job.stripe_session_id],
      ['status', `${job.status}${job.status === 'failed' ? ' → enqueued' : ''}`],
      ['budget', `${job.budget_spent}/${rules.maxAttempts} spent → 0`],
      ['waiting because', stopOf(job)],
      ['last error', errorLabel(job)],
      ['next attempt', `#${job.attempts + 1}, at the next reconcile`],
    ]),
  );
  warnAboutCause(context, [job]);
  if (job.trigger_payload === null) {
    out.warn(
      `the job has no payload: the reconciler skips it even re-armed. Run ops resolve-payload ${job.stripe_session_id} (runbook 6b).`,
    );
  }
  if (job.capped_at === null && job.parked_at === null && job.trigger_payload !== null) {
    out.note(
      `Note: the job is neither capped nor parked (${job.budget_spent} of ${rules.maxAttempts} spent); the reconciler still retries it.`,
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
  if (result.kind === 'refused') {
    throw new RefusedError(`job ${job.id} became ${result.status} meanwhile: not re-armed`);
  }
  out.result(
    {
      result: 'rearmed',
      job_id: job.id,
      stripe_session_id: job.stripe_session_id,
      prior_budget_spent: result.priorBudgetSpent,
    },
    () =>
      `Re-armed job ${job.id} (budget ${result.priorBudgetSpent} spent → 0). The next reconcile re-drives it: ${reconcileHint(target)}, or wait for the schedule.`,
  );
}

async function rearmMany(
  context: CommandContext,
  args: CommandArgs,
  filter: RearmFilter,
): Promise<void> {
  positionals(args, []);
  const rate = intOption(args, 'rate', { min: 1, max: 100 }, 10);
  const limit = intOption(args, 'limit', { min: 1, max: MAX_BULK }, MAX_BULK);
  const target = await context.target();
  const now = context.now();
  const { jobs, total } = await listStoppedJobs(target.db, filter, limit);
  const { out } = context;
  const selection = describeFilter(filter);
  if (jobs.length === 0) {
    out.result(
      { result: 'nothing_to_rearm', filter: selection, rearmed: 0 },
      () => `No job waiting for an operator matches ${selection}.`,
    );
    return;
  }
  const shown = jobs.slice(0, 20);
  out.plan(
    [
      keyValues([
        ['target', target.description],
        ['selects', selection],
        ['jobs', `${jobs.length}${total > jobs.length ? ` of ${total} (--limit)` : ''}`],
        ['pace', `${rate} a second (about ${Math.ceil(jobs.length / rate)} s)`],
      ]),
      '',
      table(
        [
          { header: 'SESSION', value: (j: StoppedJob) => j.stripe_session_id },
          { header: 'JOB', value: (j) => j.id },
          { header: 'WAITING', value: (j) => stopOf(j) },
          { header: 'ERROR', value: (j) => errorLabel(j) },
          { header: 'SINCE', value: (j) => age(j.parked_at ?? j.capped_at, now) },
        ],
        shown,
      ),
      ...(jobs.length > shown.length ? [`… and ${jobs.length - shown.length} more`] : []),
    ].join('\n'),
  );
  warnAboutCause(context, jobs);
  const authorization = await context.authorize({
    question: `Re-arm ${jobs.length} job${jobs.length === 1 ? '' : 's'} on the ${target.description}?`,
    summary: { action: 'rearm', filter: selection, jobs: jobs.length },
    needsReason: true,
  });
  if (!authorization) return;
  const actor = await context.actor();
  const timer = context.collaborators.timer ?? realTimer;
  const intervalMs = 1000 / rate;
  const progress = progressBar(context.io.stderr, 'rearming', jobs.length);
  const counts = { rearmed: 0, refused: 0 };
  try {
    let next = timer.now();
    for (const job of jobs) {
      const wait = next - timer.now();
      if (wait > 0) await timer.sleep(wait);
      next = Math.max(next, timer.now()) + intervalMs;
      const result = await rearmJob(
        target.db,
        { jobId: job.id, actor, reason: authorization.reason },
        context.now(),
      );
      if (result.kind === 'rearmed') counts.rearmed += 1;
      else counts.refused += 1;
      progress.advance();
    }
  } finally {
    progress.finish();
  }
  out.result({ result: 'rearmed', filter: selection, ...counts }, () =>
    [
      `Re-armed ${counts.rearmed} job${counts.rearmed === 1 ? '' : 's'}${counts.refused ? ` (${counts.refused} became provisioned or cancelled meanwhile, untouched)` : ''}.`,
      `The next reconcile re-drives them at its own pace: ${reconcileHint(target)}, or wait for the schedule.`,
    ].join('\n'),
  );
}

function stopOf(job: { parked_at: Date | null; capped_at: Date | null }): string {
  if (job.parked_at) return 'parked (refused by the orchestrator)';
  if (job.capped_at) return 'capped (out of budget)';
  return 'neither capped nor parked';
}

function describeFilter(filter: RearmFilter): string {
  const stop = { capped: 'capped jobs', parked: 'parked jobs', either: 'capped or parked jobs' };
  return [
    stop[filter.stopped],
    ...(filter.error ? [`with error ${filter.error}`] : []),
    ...(filter.since ? [`stopped since ${show(filter.since)}`] : []),
  ].join(' ');
}

/** Re-arming before the cause is fixed only spends the new budget: say so. */
function warnAboutCause(
  context: CommandContext,
  jobs: readonly { last_error: string | null; last_http_status: number | null }[],
): void {
  const credentials = jobs.filter(
    (job) => job.last_http_status === 401 || job.last_http_status === 403,
  );
  const transport = jobs.filter((job) => job.last_error && TRANSPORT_BROKEN.has(job.last_error));
  if (credentials.length > 0) {
    context.out.warn(
      `${credentials.length} of these were refused with 401/403: the trigger secret or URL was wrong. Re-arm only once the orchestrator accepts our signature again (runbook 5a).`,
    );
  }
  if (transport.length > 0) {
    context.out.warn(
      `${transport.length} of these failed because the way to the orchestrator was broken. Re-arm only once the trigger URL and secret are set and the orchestrator answers (runbook 5).`,
    );
  }
}

function reconcileHint(target: OpsTarget): string {
  return `ops reconcile${target.stack ? ` --stack ${target.stack.name}` : ''}`;
}
