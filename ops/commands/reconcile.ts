import { randomUUID } from 'node:crypto';
import type { HandoffMessage, HandoffQueue } from '../../functions/adapters/handoff-queue.js';
import { SqsHandoffQueue } from '../../functions/adapters/handoff-queue.js';
import { HttpOrchestratorTrigger } from '../../functions/adapters/http-orchestrator.js';
import type { LifecycleEvents } from '../../functions/adapters/lifecycle-events.js';
import { TelemetryRegistry } from '../../functions/adapters/telemetry.js';
import { dispatchLeaseSeconds } from '../../functions/core/handoff-timing.js';
import type { Log } from '../../functions/services/dependencies.js';
import { type HandoffDependencies, handOff } from '../../functions/services/handoff.js';
import { type ReconcileSummary, realTimer, reconcile } from '../../functions/services/reconcile.js';
import type { Command, CommandContext } from '../command.js';
import { UsageError } from '../errors.js';
import { operatorLog } from '../io.js';
import { intOption, positionals, stringOption } from '../options.js';
import { keyValues } from '../render.js';
import type { OpsTarget } from '../target.js';

export const reconcileNow: Command = {
  name: 'reconcile',
  synopsis: 'reconcile [--max-seconds N] [--trigger-url URL]',
  summary: 'force a reconcile run now and print its summary (runbook 4)',
  help: `Runs the reconciler's own code now instead of waiting for the 10-minute schedule:
claims the STALE jobs (oldest first, paced, within the attempt cap), re-drives each
one's stored payload as its next attempt, and prints the run's summary
(scanned, redriven, still_failing, skipped_no_payload, stuck_total).
With --stack the re-drives go onto the stack's hand-off queue (HandoffQueueUrl), as the
scheduled run's do; an overlapping scheduled run never claims the same job.
Locally the hand-off queue lives inside the npm start process, out of reach: the run
hands each job off itself, straight to the orchestrator's trigger URL (--trigger-url,
or PROVISIONING_TRIGGER_URL; with the sandbox orchestrator, the URL of its banner line
plus /trigger/onboarding), and records each outcome as the consumer does.
The run stops claiming after --max-seconds (default 240).`,
  options: ['max-seconds', 'trigger-url'],
  async run(context, args) {
    positionals(args, []);
    const maxSeconds = intOption(args, 'max-seconds', { min: 5, max: 3600 }, 240);
    const triggerUrlOption = stringOption(args, 'trigger-url');
    const target = await context.target();
    if (target.stack && triggerUrlOption) {
      throw new UsageError('--trigger-url is for local runs: a stack run uses its hand-off queue');
    }
    const log = operatorLog(context.out);
    const events = target.lifecycleEvents(log);
    const queue = target.stack
      ? new SqsHandoffQueue(target.stack.sqs, target.stack.output('HandoffQueueUrl'))
      : inlineHandoff(context, target, log, events, triggerUrlOption ?? target.triggerUrl);
    const rules = target.rules();

    context.out.plan(
      keyValues([
        ['target', target.description],
        [
          're-drives',
          target.stack
            ? `onto ${target.stack.output('HandoffQueueUrl')}`
            : `straight to ${triggerUrlOption ?? target.triggerUrl} (the local queue is in the npm start process)`,
        ],
        [
          'claims',
          `STALE jobs (no hand-off for ${rules.staleAfterSeconds}s, under ${rules.maxAttempts} attempts), ${target.reconcile.batchSize} a batch, ${target.reconcile.maxRedrivesPerSecond}/s, for at most ${maxSeconds}s`,
        ],
      ]),
    );
    const authorization = await context.authorize({
      question: `Run a reconcile now on the ${target.description}?`,
      summary: { action: 'reconcile', target: target.description },
      needsReason: false,
    });
    if (!authorization) return;
    const timer = context.collaborators.timer ?? realTimer;
    const summary = await reconcile(
      {
        db: target.db,
        clock: context.collaborators.clock,
        rules,
        telemetry: new TelemetryRegistry(),
        log,
        events,
        queue,
        timer,
      },
      {
        batchSize: target.reconcile.batchSize,
        maxRedrivesPerSecond: target.reconcile.maxRedrivesPerSecond,
        deadline: timer.now() + maxSeconds * 1000,
      },
    );
    context.out.result(summary, () => describe(summary));
  },
};

/**
 * The local stand-in for the queue and its consumer: each re-drive is handed off at
 * once by the consumer's own service, with the orchestrator trigger the runtime uses.
 */
export function inlineHandoff(
  context: CommandContext,
  target: OpsTarget,
  log: Log,
  events: LifecycleEvents,
  triggerUrl: string | undefined,
): HandoffQueue {
  if (!triggerUrl) {
    throw new UsageError(
      "a local reconcile needs the orchestrator's trigger URL: the local hand-off queue lives in the npm start process",
      [
        'Pass --trigger-url (the sandbox: http://127.0.0.1:<port of the "Sandbox control" banner line>/trigger/onboarding) or set PROVISIONING_TRIGGER_URL,',
        'or let the running local runtime do it: restart it with RECONCILE_EVERY_SECONDS=30.',
      ],
    );
  }
  const { clock } = context.collaborators;
  const deps: HandoffDependencies = {
    db: target.db,
    clock,
    rules: target.rules(),
    telemetry: new TelemetryRegistry(),
    events,
    log,
    orchestrator: new HttpOrchestratorTrigger({
      url: triggerUrl,
      secrets: target.secrets,
      timeoutMs: target.reconcile.triggerTimeoutMs,
      clock,
      fetch: context.collaborators.fetch,
    }),
    callbackUrl: target.callbackUrl(),
    dispatchLeaseSeconds: dispatchLeaseSeconds(target.reconcile.triggerTimeoutMs),
  };
  return {
    async send(message: HandoffMessage) {
      await handOff(deps, { messageId: `ops-${randomUUID()}`, body: JSON.stringify(message) });
    },
  };
}

function describe(summary: ReconcileSummary): string {
  const lines = [
    keyValues([
      ['scanned', String(summary.scanned)],
      ['redriven', String(summary.redriven)],
      ['still_failing', String(summary.still_failing)],
      ['skipped_no_payload', String(summary.skipped_no_payload)],
      ['stuck_total', String(summary.stuck_total)],
    ]),
    '',
  ];
  if (summary.redriven > 0)
    lines.push('Hand-offs replayed: wait for the callbacks to mark them provisioned.');
  if (summary.skipped_no_payload > 0) {
    lines.push(
      'Jobs without payload were skipped: ops stuck lists them; resolve each with ops resolve-payload (runbook 6b).',
    );
  }
  if (summary.still_failing > 0) {
    lines.push('The orchestrator or the way to it is still failing: runbook sections 5 and 7.');
  }
  if (summary.scanned === 0) lines.push('Nothing was stale: no job needed a re-drive now.');
  return lines.join('\n');
}
