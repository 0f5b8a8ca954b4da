import { randomBytes } from 'node:crypto';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { splitSecretList } from '../../functions/adapters/secrets.js';
import { isPackageInCatalogue, upsertPackage } from '../../functions/db/catalogue-repository.js';
import {
  removeSmokeCheckout,
  removeSmokePackage,
  SMOKE_PACKAGE,
  SMOKE_SESSION_PREFIX,
} from '../../functions/db/smoke-checkouts-repository.js';
import { realTimer } from '../../functions/services/reconcile.js';
import { waitForPause } from '../aurora-pause.js';
import type { Command } from '../command.js';
import { RefusedError, TransportError, UsageError } from '../errors.js';
import { flag, intOption, positionals } from '../options.js';
import { keyValues, table } from '../render.js';
import { type Hop, runSmokeCheckout, type SmokeResult, seconds } from '../smoke-checkout.js';

export const smoke: Command = {
  name: 'smoke',
  synopsis: 'smoke --stack NAME [--after-pause] [--max-seconds N]',
  summary:
    'prove a deployed stack: one signed test checkout to provisioned, each hop timed, then removed',
  help: `Sends one checkout.session.completed, signed with the stack's webhook secret, to its
WebhookUrl, and follows it through Aurora (Data API), SQS, the hand-off consumer, the
trigger, the callbacks and the status route until it is provisioned, printing each hop
with its latency. Then it removes every row it wrote (job, history, account, tenant
database records, the Stripe event) and its package "${SMOKE_PACKAGE}" if it added it.
Its session ids start with ${SMOKE_SESSION_PREFIX}; nothing else is ever removed.
Only a stack deployed with -c sandboxOrchestrator=true is smoke-tested: its sandbox
orchestrator receives the trigger, so no real tenant is made.
--after-pause first waits (up to 30 min) until Aurora reports zero capacity, so the
checkout meets a resume: send the stage no traffic and let its jobs in flight finish;
the reconciler then goes quiet and leaves Aurora at 0 ACU
(docs/runbooks/database-resuming.md, section 3).
--max-seconds bounds the wait for "provisioned" (default 300).`,
  options: ['after-pause', 'max-seconds'],
  async run(context, args) {
    positionals(args, []);
    const maxSeconds = intOption(args, 'max-seconds', { min: 5, max: 3600 }, 300);
    const afterPause = flag(args, 'after-pause');
    if (args.options.stack === undefined) {
      throw new UsageError(
        'smoke proves a deployed stack: pass --stack NAME (on this machine, the README tour does the same)',
      );
    }
    const target = await context.target();
    const stack = target.stack;
    if (!stack) throw new UsageError('smoke proves a deployed stack: pass --stack NAME');
    if (!stack.optionalOutput('SandboxTriggerUrl')) {
      throw new RefusedError(
        `stack ${stack.name} has no sandbox orchestrator: a test checkout would reach your real orchestrator`,
        [
          'Smoke-test a stage deployed with -c sandboxOrchestrator=true (never allowed in production).',
        ],
      );
    }
    const sessionId = `${SMOKE_SESSION_PREFIX}${randomBytes(12).toString('hex')}`;
    context.out.plan(
      keyValues([
        ['target', target.description],
        ['checkout', `${sessionId}, package ${SMOKE_PACKAGE}, to ${stack.output('WebhookUrl')}`],
        ['then', 'removes every row it wrote'],
        ...(afterPause ? [['first', 'waits for Aurora to pause'] as const] : []),
      ]),
    );
    const authorization = await context.authorize({
      question: `Send a smoke test checkout through ${target.description}?`,
      summary: { action: 'smoke', target: target.description, session: sessionId },
      needsReason: false,
    });
    if (!authorization) return;

    const [webhookSecret] = splitSecretList(await target.secrets.get('stripeWebhookSecrets'));
    if (!webhookSecret) {
      throw new TransportError(
        'the stack’s Stripe webhook secret is empty: nothing could be signed',
        [
          'Fill StripeWebhookSecretArn (the whsec_… Stripe shows), as the README’s deploy steps say.',
        ],
      );
    }
    const timer = context.collaborators.timer ?? realTimer;
    const addedPackage = !(await isPackageInCatalogue(target.db, SMOKE_PACKAGE));
    if (addedPackage) {
      await upsertPackage(target.db, { slug: SMOKE_PACKAGE, tier: 'smoke', tokensQuota: 1 });
    }
    let result: SmokeResult | undefined;
    try {
      let pausedMs: number | undefined;
      if (afterPause) {
        const cloudWatch = new CloudWatchClient(stack.region ? { region: stack.region } : {});
        try {
          pausedMs = await waitForPause({
            cloudWatch,
            clusterArn: stack.output('DatabaseClusterArn'),
            clock: context.collaborators.clock,
            timer,
            maxWaitMs: 30 * 60_000,
            pollMs: 30_000,
            note: (text) => context.out.note(text),
          });
        } finally {
          cloudWatch.destroy();
        }
        context.out.note(`Aurora is paused (after ${seconds(pausedMs)}): sending the checkout now`);
      }
      result = await runSmokeCheckout({
        db: target.db,
        fetch: context.collaborators.fetch,
        timer,
        webhookUrl: stack.output('WebhookUrl'),
        statusUrl: stack.output('StatusUrl'),
        webhookSecret,
        livemode: stack.output('StripeMode') === 'live',
        sessionId,
        packageSlug: SMOKE_PACKAGE,
        maxWaitMs: maxSeconds * 1000,
        note: (text) => context.out.note(text),
      });
    } finally {
      const removed = await removeSmokeCheckout(target.db, sessionId);
      const packageRemoved = addedPackage && (await removeSmokePackage(target.db));
      context.out.note(
        `Removed: ${removed.jobs} job, ${removed.history} history events, ${removed.accounts} account, ${removed.tenant_databases} tenant database records, ${removed.stripe_events} Stripe event${packageRemoved ? `, package ${SMOKE_PACKAGE}` : ''}.`,
      );
    }
    const total = result.hops.reduce((sum, hop) => sum + hop.ms, 0);
    context.out.result(
      {
        stack: stack.name,
        stripe_session_id: sessionId,
        result: 'provisioned',
        deployment_id: result.deploymentId,
        resumed: result.resume !== undefined,
        hops: result.hops.map((hop) => ({ hop: hop.hop, via: hop.via, ms: Math.round(hop.ms) })),
        total_ms: Math.round(total),
      },
      () => describe(stack.name, sessionId, result, total, afterPause),
    );
  },
};

function describe(
  stack: string,
  sessionId: string,
  result: SmokeResult,
  total: number,
  afterPause: boolean,
): string {
  const hops = result.hops;
  const lines = [
    `Smoke test of ${stack} passed: ${sessionId} provisioned in ${seconds(total)}.`,
    '',
    table<Hop>(
      [
        { header: 'hop', value: (hop) => hop.hop },
        { header: 'latency', value: (hop) => seconds(hop.ms) },
        { header: 'through', value: (hop) => hop.via },
      ],
      hops,
    ),
  ];
  if (result.resume) {
    lines.push(
      '',
      `Aurora was resuming: the webhook answered 503 ${result.resume.answered503} time(s) and took the event after ${seconds(result.resume.waitedMs)}, as Stripe's retry would.`,
    );
  } else if (afterPause) {
    lines.push(
      '',
      'Aurora resumed within the webhook’s own wait: its latency above includes the resume.',
    );
  }
  return lines.join('\n');
}
