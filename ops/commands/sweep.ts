import { type HandoffQueue, SqsHandoffQueue } from '../../functions/adapters/handoff-queue.js';
import { TelemetryRegistry } from '../../functions/adapters/telemetry.js';
import { secondsBefore } from '../../functions/core/rules.js';
import {
  describeStripeKeyProblem,
  stripeKeyMode,
  stripeKeyProblem,
} from '../../functions/core/stripe-api-key.js';
import { type SweepSummary, sweepCheckouts } from '../../functions/services/checkout-sweep.js';
import { realTimer } from '../../functions/services/reconcile.js';
import type { Command, CommandContext } from '../command.js';
import { TransportError } from '../errors.js';
import { operatorLog } from '../io.js';
import { durationOption, flag, intOption, positionals, stringOption } from '../options.js';
import { keyValues } from '../render.js';
import type { OpsTarget } from '../target.js';
import { inlineHandoff } from './reconcile.js';

export const sweep: Command = {
  name: 'sweep',
  synopsis: 'sweep [--since 72h] [--dry-run] [--max-seconds N] [--trigger-url URL]',
  summary: 'record the paid checkouts in Stripe that no event recorded (runbook: missed-checkouts)',
  help: `Runs the missed-checkout sweep now, as its schedule does: lists the checkout sessions
Stripe completed in the look-back window (the stack's, 72 h by default, or --since),
through the Stripe API key (STRIPE_API_KEY locally, the stack's StripeApiKeySecretArn
secret), and records every paid session of ours (metadata.package_slug, paid or nothing
to pay) that has no job, through the webhook's own path: each becomes exactly one job,
with actor sweep and your identity in its history, and is handed off.
Without --since it resumes the pass the last run left unfinished, or starts one; with
--since it sweeps that window from its start. --dry-run lists what it would record and
writes nothing. A run stops after --max-seconds (default 240) and leaves its mark for
the next. Locally STRIPE_API_URL points it at the local runtime's Stripe stand-in (its
banner prints the line); the local hand-off queue lives in the npm start process, so
recorded jobs are handed off straight to --trigger-url (or PROVISIONING_TRIGGER_URL) when
given, else by the runtime's reconciler once their first lease lapses.`,
  options: ['since', 'max-seconds', 'trigger-url'],
  async run(context, args) {
    positionals(args, []);
    const dryRun = flag(args, 'dry-run');
    const sinceSeconds = durationOption(args, 'since');
    const maxSeconds = intOption(args, 'max-seconds', { min: 5, max: 3600 }, 240);
    const target = await context.target();
    const apiKey = await stripeKey(target);
    const since =
      sinceSeconds === undefined ? undefined : secondsBefore(context.now(), sinceSeconds);
    const lookbackSeconds = target.sweepLookbackSeconds();
    const log = operatorLog(context.out);
    const events = target.lifecycleEvents(log);
    const triggerUrl = stringOption(args, 'trigger-url') ?? target.triggerUrl;
    const queue = handoffQueue(context, target, events, log, triggerUrl);

    context.out.plan(
      keyValues([
        ['target', target.description],
        [
          'stripe',
          `${target.stripeApiUrl ?? 'api.stripe.com'} (${stripeKeyMode(apiKey)} mode key)`,
        ],
        [
          'window',
          since
            ? `sessions created since ${since.toISOString()} (a new pass)`
            : `the unfinished pass, or sessions created in the last ${lookbackSeconds / 3600} h`,
        ],
        [
          'records',
          dryRun ? 'nothing (dry run)' : 'each paid session of ours with no job, actor sweep',
        ],
        ['hand-offs', queue.description],
      ]),
    );
    if (!dryRun) {
      const authorization = await context.authorize({
        question: `Sweep Stripe's checkouts into the ${target.description}?`,
        summary: { action: 'sweep', target: target.description, since: since?.toISOString() },
        needsReason: false,
      });
      if (!authorization) return;
    }
    const timer = context.collaborators.timer ?? realTimer;
    const summary = await sweepCheckouts(
      {
        db: target.db,
        clock: context.collaborators.clock,
        rules: target.rules(),
        telemetry: new TelemetryRegistry(),
        events,
        log,
        queue: queue.queue,
        quiet: target.quietMarker(),
        callbackUrl: target.callbackUrl(),
        sessions: context.collaborators.checkoutSessions(apiKey, target.stripeApiUrl),
        stripeMode: target.stripeMode() ?? stripeKeyMode(apiKey) ?? 'test',
        timer,
      },
      {
        lookbackSeconds,
        since,
        deadline: timer.now() + maxSeconds * 1000,
        leaseSeconds: maxSeconds + 60,
        dryRun,
        reason: `ops sweep by ${await context.actor()}`,
      },
    );
    context.out.result(summary, () => describe(summary));
  },
};

/** The target's Stripe key, refused before anything is listed when it cannot serve. */
async function stripeKey(target: OpsTarget): Promise<string> {
  const apiKey = await target.secrets.get('stripeApiKey');
  const mode = target.stripeMode() ?? (apiKey ? stripeKeyMode(apiKey) : undefined) ?? 'test';
  const problem = stripeKeyProblem(apiKey, mode);
  if (problem || !apiKey) {
    throw new TransportError(describeStripeKeyProblem(problem ?? 'missing', mode), [
      target.kind === 'local'
        ? 'Set STRIPE_API_KEY (a restricted key that can read Checkout Sessions), and STRIPE_API_URL for the local runtime’s Stripe stand-in (its banner prints both).'
        : 'Fill the StripeApiKeySecretArn secret of the stack with a restricted key that can read Checkout Sessions.',
    ]);
  }
  return apiKey;
}

/**
 * Where recorded jobs go: the stack's hand-off queue; locally, straight to the trigger
 * URL when one is known, else nowhere from here: the send fails, is reported, and the
 * running runtime's reconciler re-drives each job once its first lease lapses.
 */
function handoffQueue(
  context: CommandContext,
  target: OpsTarget,
  events: ReturnType<OpsTarget['lifecycleEvents']>,
  log: ReturnType<typeof operatorLog>,
  triggerUrl: string | undefined,
): { queue: HandoffQueue; description: string } {
  if (target.stack) {
    const url = target.stack.output('HandoffQueueUrl');
    return { queue: new SqsHandoffQueue(target.stack.sqs, url), description: `onto ${url}` };
  }
  if (triggerUrl) {
    return {
      queue: inlineHandoff(context, target, log, events, triggerUrl),
      description: `straight to ${triggerUrl} (the local queue is in the npm start process)`,
    };
  }
  return {
    queue: {
      async send() {
        throw new Error('the local hand-off queue lives in the npm start process');
      },
    },
    description:
      'by the running local runtime’s reconciler, once each job’s first lease lapses (or pass --trigger-url)',
  };
}

function describe(summary: SweepSummary): string {
  const lines = [
    keyValues([
      ['outcome', `${summary.outcome}${summary.resumed ? ' (resumed the last pass)' : ''}`],
      ['window', `${summary.window_from ?? '-'} → ${summary.window_to ?? '-'}`],
      ['listed', String(summary.listed)],
      [summary.dry_run ? 'would record' : 'recorded', String(summary.missed_sessions.length)],
      ['already recorded', String(summary.already_recorded)],
      ['not ours', String(summary.not_ours)],
      ['not paid', String(summary.not_paid)],
      ['unreadable', String(summary.unreadable)],
      ['rate-limited', String(summary.throttled)],
    ]),
    '',
  ];
  for (const session of summary.missed_sessions) lines.push(`  ${session}`);
  if (summary.missed_sessions.length > 0) {
    lines.push(
      summary.dry_run
        ? 'Run it without --dry-run to record them.'
        : 'No Stripe event recorded these checkouts: find out why (docs/runbooks/missed-checkouts.md).',
    );
  }
  if (summary.outcome === 'busy') lines.push('Another sweep run holds the pass: try again later.');
  if (summary.outcome === 'stopped') {
    lines.push('Stopped before the end of the window: run it again to resume from its mark.');
  }
  if (summary.unreadable > 0) {
    lines.push('Sessions of ours the product cannot read were skipped: see the warnings above.');
  }
  return lines.join('\n');
}
