import { TelemetryRegistry } from '../../functions/adapters/telemetry.js';
import { forceBreaker, openSeconds, readBreaker } from '../../functions/db/breaker-repository.js';
import { announceBreaker } from '../../functions/services/announcements.js';
import type { Command, CommandContext } from '../command.js';
import { UsageError } from '../errors.js';
import { operatorLog } from '../io.js';
import { age, keyValues, show } from '../render.js';

const ACTIONS = ['show', 'open', 'close'] as const;
type Action = (typeof ACTIONS)[number];

export const breaker: Command = {
  name: 'breaker',
  synopsis: 'breaker [show | open --reason TEXT | close --reason TEXT]',
  summary: 'the breaker toward the orchestrator: show it, or hold it open or closed (runbook 4a)',
  help: `The breaker opens when triggers keep failing transiently across jobs (timeouts,
transport errors, 5xx, 408, 429): re-drives pause, no job spends budget, new hand-offs
wait, and each reconcile run sends one probe; the first accepted trigger closes it.
show (the default) prints its state, how long it has been open, the consecutive
failures, the probe in flight and who changed it last.
open holds it open (orchestrator maintenance): no probe is sent and only an operator
closes it. close closes it now: re-drives resume at the next reconcile, and it may open
again on its own. Both keep your reason and identity, and publish breaker.opened or
breaker.closed when the state changes.`,
  options: [],
  async run(context, args) {
    const [given = 'show', ...extra] = args.positionals;
    if (extra.length > 0) throw new UsageError(`unexpected argument ${extra[0]}`);
    if (!(ACTIONS as readonly string[]).includes(given)) {
      throw new UsageError(`breaker takes show, open or close, not ${given}`);
    }
    const action = given as Action;
    if (action === 'show') return showBreaker(context);
    return forceTo(context, action === 'open' ? 'open' : 'closed');
  },
};

async function showBreaker(context: CommandContext): Promise<void> {
  const target = await context.target();
  const state = await readBreaker(target.db);
  const now = context.now();
  const rules = target.rules();
  context.out.result({ ...state, open_seconds: openSeconds(state, now) }, () =>
    keyValues([
      ['state', `${state.state}${state.forced ? ' (held by an operator)' : ''}`],
      ['open for', state.state === 'open' ? age(state.opened_at, now) : '-'],
      [
        'consecutive failures',
        `${state.consecutive_failures} (opens at ${rules.breakerFailureThreshold})`,
      ],
      ['reason', show(state.reason)],
      [
        'probe in flight',
        state.probe_job_id ? `job ${state.probe_job_id}, attempt ${state.probe_attempt}` : '-',
      ],
      ['last probe', show(state.last_probe_at)],
      ['changed by', `${show(state.changed_by)} at ${show(state.changed_at)}`],
    ]),
  );
}

async function forceTo(context: CommandContext, state: 'open' | 'closed'): Promise<void> {
  const target = await context.target();
  const current = await readBreaker(target.db);
  context.out.plan(
    keyValues([
      ['target', target.description],
      [
        'breaker',
        `${current.state}${current.forced ? ' (held)' : ''} → ${state}${state === 'open' ? ' (held)' : ''}`,
      ],
      [
        'effect',
        state === 'open'
          ? 'no re-drive, no probe, new hand-offs wait; nothing but an operator closes it'
          : 're-drives resume at the next reconcile; it opens again on its own if triggers keep failing',
      ],
    ]),
  );
  const authorization = await context.authorize({
    question: `${state === 'open' ? 'Hold the breaker open' : 'Close the breaker'} on the ${target.description}?`,
    summary: { action: `breaker ${state === 'open' ? 'open' : 'close'}` },
    needsReason: true,
  });
  if (!authorization) return;
  const now = context.now();
  const prior = await forceBreaker(
    target.db,
    { state, actor: await context.actor(), reason: authorization.reason },
    now,
  );
  if (prior.priorState !== state) {
    const log = operatorLog(context.out);
    await announceBreaker(
      { events: target.lifecycleEvents(log), telemetry: new TelemetryRegistry(), log },
      state === 'open' ? 'opened' : 'closed',
      now,
      { forced: true, reason: authorization.reason },
    );
  }
  context.out.result(
    { result: state === 'open' ? 'held_open' : 'closed', prior_state: prior.priorState },
    () =>
      state === 'open'
        ? 'The breaker is held open: re-drives pause until ops breaker close.'
        : `The breaker is closed (it was ${prior.priorState}): re-drives resume at the next reconcile.`,
  );
}
