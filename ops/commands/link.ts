import { parseCallbackBody } from '../../functions/core/callback-body.js';
import type { Actor, CallbackReport } from '../../functions/core/job.js';
import { applyCallback } from '../../functions/db/jobs/callbacks.js';
import { readJob } from '../../functions/db/jobs/operator-actions.js';
import { findJob, recordOperatorNote } from '../../functions/db/operator-repository.js';
import { NO_JOB_FOR_SESSION } from '../../functions/services/callback.js';
import { postSignedCallback, routeNotConfigured, wrongSignatureSecret } from '../callback-route.js';
import type { Command, CommandContext } from '../command.js';
import { RefusedError, TransportError, UsageError } from '../errors.js';
import { flag, intOption, positionals, requiredOption, stringOption } from '../options.js';
import { keyValues, show } from '../render.js';
import type { OpsTarget } from '../target.js';
import { NO_JOB_HINTS, requireSession } from './show.js';

export const link: Command = {
  name: 'link',
  synopsis:
    'link SESSION --deployment dpl_… --cell CELL [--quota N] [--direct] [--callback-url URL] [--reason TEXT]',
  summary: 'hand-link a job the orchestrator provisioned: replay its signed callback (runbook 6a)',
  help: `For a tenant the orchestrator did provision (a real dpl_ exists) whose callback never
landed: builds the "provisioned" callback the orchestrator would have sent, signs it
(X-Provisioning-Signature over "<timestamp>.<body>" with the callback secret, or the
trigger secret when no callback secret is set) and POSTs it to the callback route: the
stack's CallbackUrl, or the local runtime (http://localhost:$PORT). The job becomes
provisioned and its account active in one step; replays are harmless.
--quota defaults to the job's package quota; 0 leaves the account's quota as it is.
--direct applies the same callback straight to the database (no route, no lifecycle
event, no callback metrics): for when the route itself is broken.
A provisioned job is never re-linked to another deployment. The reason and your
identity are kept in the job's history.`,
  options: ['deployment', 'cell', 'quota', 'direct', 'callback-url'],
  async run(context, args) {
    const [session = ''] = positionals(args, ['SESSION']);
    requireSession(session);
    const deploymentId = requiredOption(args, 'deployment');
    const cellId = requiredOption(args, 'cell');
    const quota = intOption(args, 'quota', { min: 0, max: Number.MAX_SAFE_INTEGER });
    const direct = flag(args, 'direct');
    const callbackUrlOption = stringOption(args, 'callback-url');
    if (direct && callbackUrlOption) {
      throw new UsageError('--direct does not use a route: drop --callback-url');
    }
    if (callbackUrlOption && !/^https?:\/\/\S+$/.test(callbackUrlOption)) {
      throw new UsageError('--callback-url must be an http(s) URL');
    }

    const target = await context.target();
    const job = await findJob(target.db, session);
    if (!job) {
      throw new RefusedError(`no provisioning job for stripe_session_id ${session}`, NO_JOB_HINTS);
    }
    if (job.status === 'provisioned') {
      if (job.deployment_id === deploymentId && job.cell_id === cellId) {
        context.out.result(
          {
            result: 'already_linked',
            job_id: job.id,
            stripe_session_id: session,
            deployment_id: deploymentId,
            cell_id: cellId,
          },
          () =>
            `Job ${job.id} is already provisioned on ${deploymentId} / ${cellId}: nothing to do.`,
        );
        return;
      }
      throw new RefusedError(
        `job ${job.id} is provisioned on ${job.deployment_id} / ${job.cell_id}: never re-linked to ${deploymentId} / ${cellId}`,
        ['Two tenants for one checkout? Escalate (provisioning-stuck.md, section 7).'],
      );
    }

    const tokensQuota = quota ?? job.tokens_quota ?? 0;
    const body = JSON.stringify({
      stripe_session_id: session,
      status: 'provisioned',
      deployment_id: deploymentId,
      cell_id: cellId,
      ...(tokensQuota > 0 ? { tokens_quota: tokensQuota } : {}),
    });
    // The route's own validation, before anything is sent: a typo is a usage error here.
    const parsed = parseCallbackBody(Buffer.from(body));
    if (!parsed.ok) throw new UsageError(parsed.reason);
    const url = direct ? undefined : (callbackUrlOption ?? target.callbackUrl());

    context.out.plan(
      keyValues([
        ['target', target.description],
        ['job', job.id],
        ['session', session],
        ['status', `${job.status} → provisioned`],
        ['deployment', deploymentId],
        ['cell', cellId],
        ['tokens quota', tokensQuota > 0 ? String(tokensQuota) : 'unchanged'],
        ['via', url ? `signed callback to ${url}` : 'the database directly (--direct)'],
      ]),
    );
    if (direct) {
      context.out.warn(
        '--direct skips the route: no job.provisioned lifecycle event is published and the callback metrics do not move.',
      );
    }
    const authorization = await context.authorize({
      question: `Link job ${job.id} to ${deploymentId} / ${cellId}?`,
      summary: {
        action: 'link',
        job_id: job.id,
        stripe_session_id: session,
        deployment_id: deploymentId,
        cell_id: cellId,
        tokens_quota: tokensQuota,
        via: url ?? 'direct',
      },
      needsReason: true,
    });
    if (!authorization) return;
    const actor = await context.actor();

    if (url) {
      await replayCallback(context, target, url, body);
    } else {
      await applyDirectly(context, target, parsed.report, actor);
    }
    const via = url ? 'callback_route' : 'direct';
    const linked = await verifyLinked(target, session, deploymentId);
    // Only once the link is confirmed: the route records the orchestrator as the actor.
    await recordOperatorNote(
      target.db,
      {
        jobId: job.id,
        kind: 'operator_link',
        actor,
        reason: authorization.reason,
        detail: { via, deployment_id: deploymentId, cell_id: cellId, tokens_quota: tokensQuota },
      },
      context.now(),
    );
    context.out.result(
      {
        result: 'linked',
        via,
        job_id: job.id,
        stripe_session_id: session,
        deployment_id: deploymentId,
        cell_id: cellId,
        tokens_quota: linked.tokensQuota,
        account_status: linked.accountStatus,
      },
      () =>
        `Linked: job ${job.id} is provisioned on ${deploymentId} / ${cellId}; account ${show(linked.accountStatus)}.`,
    );
  },
};

/** Replays the signed callback; every answer but 200 is explained in the operator's terms. */
async function replayCallback(
  context: CommandContext,
  target: OpsTarget,
  url: string,
  body: string,
): Promise<void> {
  const answer = await postSignedCallback(context, target, url, body);
  if (answer.status === 200) return;
  if (answer.status === 401) throw withDirectHint(wrongSignatureSecret(answer, target));
  if (answer.status === 404 && answer.error === NO_JOB_FOR_SESSION) {
    throw new RefusedError(
      'the webhook never recorded this session (404: no provisioning job for stripe_session_id)',
      NO_JOB_HINTS,
    );
  }
  if (answer.status === 503) throw withDirectHint(routeNotConfigured(answer));
  if (answer.status === 400) {
    throw new RefusedError(
      `the callback route refused the body (400: ${answer.error ?? answer.text})`,
    );
  }
  throw new TransportError(
    `the callback route ${url} answered ${answer.status}: ${answer.error ?? answer.text.slice(0, 200)}`,
    answer.status === 404 ? ['Is this the callback route? Check --callback-url.'] : [],
  );
}

function withDirectHint(error: TransportError): TransportError {
  return new TransportError(error.message, [
    ...error.hints,
    'Or apply the link without the route: --direct.',
  ]);
}

async function applyDirectly(
  context: CommandContext,
  target: OpsTarget,
  report: CallbackReport,
  actor: Actor,
): Promise<void> {
  const result = await applyCallback(
    target.db,
    report,
    context.now(),
    target.rules(),
    Math.random,
    actor,
  );
  if (result.kind === 'unknown_session') {
    throw new RefusedError(
      `no provisioning job for stripe_session_id ${report.stripeSessionId}`,
      NO_JOB_HINTS,
    );
  }
  if (!result.applied && result.deploymentId !== report.deploymentId) {
    throw new RefusedError(
      `job ${result.jobId} became provisioned on ${result.deploymentId} meanwhile: not re-linked`,
    );
  }
}

/** Runbook section 8: the job is provisioned with these coordinates (and its account active). */
async function verifyLinked(
  target: OpsTarget,
  session: string,
  deploymentId: string,
): Promise<{ readonly tokensQuota: unknown; readonly accountStatus: unknown }> {
  const report = await readJob(target.db, session);
  const job = report?.job;
  if (!report || !job || job.status !== 'provisioned' || job.deployment_id !== deploymentId) {
    throw new RefusedError(
      `job ${session} is ${show(job?.status)} on ${show(job?.deployment_id)}: not linked to ${deploymentId}`,
      [
        'Inspect it (ops show SESSION); escalate if it stays so (provisioning-stuck.md, section 7).',
      ],
    );
  }
  return { tokensQuota: job.tokens_quota, accountStatus: report.account.status };
}
