import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryQuietMarker, type QuietState } from '../../functions/adapters/quiet-marker.js';
import { TelemetryRegistry } from '../../functions/adapters/telemetry.js';
import type { CallbackBody } from '../../functions/core/callback-body.js';
import { recordSettledCheckout } from '../../functions/db/jobs/checkout-records.js';
import { createReconcileHandler } from '../../functions/handlers/reconcile.js';
import { createWatchdogHandler } from '../../functions/handlers/watchdog.js';
import { type Harness, handlerHarness, lambdaContext } from '../support/handler-harness.js';
import { checkoutEvent, intake, uniqueId } from '../support/intake.js';
import { checkout } from '../support/jobs.js';
import { virtualClock } from '../support/virtual-clock.js';

/**
 * A quiet idle (services/quiet.ts): with nothing in flight, ticks publish the gauge
 * without a Data API call, so Aurora stays paused; any write that may put something in
 * flight wakes the reconciler before it answers, and no job is ever left unseen.
 */

/** A marker that runs `onQuiet` right after the reconciler writes `quiet`, once. */
class HookedMarker extends InMemoryQuietMarker {
  onQuiet: (() => Promise<void>) | undefined;
  override async write(state: QuietState): Promise<void> {
    await super.write(state);
    const hook = this.onQuiet;
    if (state.state === 'quiet' && hook) {
      this.onQuiet = undefined;
      await hook();
    }
  }
}

let h: Harness;
let marker: HookedMarker;
beforeEach(async () => {
  h = await handlerHarness();
  marker = new HookedMarker();
});
afterEach(async () => {
  await h.close();
});

const TICK_MS = 10 * 60_000;

/** One scheduled tick of the reconciler: its summary, its gauge and its Data API calls. */
async function tick() {
  const telemetry = new TelemetryRegistry();
  const handler = createReconcileHandler({
    ...h.deps,
    quiet: marker,
    telemetry,
    queue: h.queue,
    timer: virtualClock(),
    settings: { batchSize: 25, maxRedrivesPerSecond: 20 },
  });
  const before = h.bridge.calls.length;
  const remainingMs = 570_000;
  const summary = await handler(
    {},
    { ...lambdaContext(), getRemainingTimeInMillis: () => remainingMs },
  );
  h.advance(TICK_MS / 1000);
  return {
    summary,
    gauge: telemetry.gauges.get('ProvisioningJobsStuck'),
    calls: h.bridge.calls.length - before,
  };
}

async function watchdogRun() {
  const before = h.bridge.calls.length;
  const summary = await createWatchdogHandler({ ...h.deps, quiet: marker })({}, lambdaContext());
  return { summary, calls: h.bridge.calls.length - before };
}

/** The orchestrator's final report for a session. */
function provisioned(sessionId: string): CallbackBody {
  return {
    stripe_session_id: sessionId,
    status: 'provisioned',
    deployment_id: 'dpl_1',
    cell_id: 'cell-1',
  };
}

/** Wakes recorded through the writers' own path (the marker's `awake` writes). */
async function markerState() {
  return (await marker.read()).state;
}

describe('an idle hour', () => {
  it('reads the database on its first tick only; the next five ticks and the watchdog make no Data API call, and every tick publishes the gauge', async () => {
    const ticks = [];
    for (let i = 0; i < 6; i += 1) ticks.push(await tick());
    const watchdog = await watchdogRun();

    expect(ticks[0]?.summary.run).toBe('full');
    expect(ticks[0]?.calls).toBeGreaterThan(0);
    expect(ticks.slice(1).map((t) => [t.summary.run, t.calls])).toEqual(
      Array(5).fill(['quiet', 0]),
    );
    expect(ticks.map((t) => t.gauge)).toEqual(Array(6).fill(0));
    expect(watchdog).toMatchObject({ calls: 0, summary: { quiet: true } });
  });
});

describe('a marker that cannot be read', () => {
  it('is taken as awake: the tick reads the database and publishes the gauge', async () => {
    marker.read = async () => {
      throw new Error('ThrottlingException: Rate exceeded');
    };

    const first = await tick();

    expect(first.summary.run).toBe('full');
    expect(first.calls).toBeGreaterThan(0);
    expect(first.gauge).toBe(0);
  });
});

describe('a write in a quiet period', () => {
  it('a checkout wakes the reconciler before it is answered; the next tick reads and re-drives it once stale', async () => {
    await tick();
    const io = intake(h, marker);
    const sessionId = uniqueId('cs_wake');

    const answer = await io.deliver(checkoutEvent(h.now(), sessionId));
    const woken = await markerState();
    h.advance(h.deps.rules.handoffLeaseSeconds + 1);
    const next = await tick();

    expect(answer.body).toMatchObject({ outcome: 'recorded' });
    expect(woken).toBe('awake');
    expect(next.summary).toMatchObject({ run: 'full', redriven: 1 });
    expect(await markerState()).toBe('awake');
  });

  it('a tenant database reported for a provisioned job wakes it, and the watchdog reads again', async () => {
    const io = intake(h, marker);
    const sessionId = uniqueId('cs_db');
    await io.deliver(checkoutEvent(h.now(), sessionId));
    await io.report(provisioned(sessionId));
    await tick();
    expect(await markerState()).toBe('quiet');

    await io.report({
      ...provisioned(sessionId),
      database: { id: `db_${sessionId}`, status: 'migrating' },
    });
    const watchdog = await watchdogRun();

    expect(watchdog.summary.quiet).toBe(false);
    expect(watchdog.calls).toBeGreaterThan(0);
  });

  it('a writer that commits between the marker saying quiet and the last look keeps the reconciler awake', async () => {
    const sessionId = uniqueId('cs_race');
    marker.onQuiet = async () => {
      await recordSettledCheckout(
        h.deps.db,
        checkout({ stripeSessionId: sessionId }),
        h.now(),
        h.deps.rules.handoffLeaseSeconds,
      );
    };

    await tick();
    const after = await tick();

    expect(await markerState()).toBe('awake');
    expect(after.summary.run).toBe('full');
    expect(after.calls).toBeGreaterThan(0);
  });

  it('a container that woke the reconciler once wakes it again after a later quiet period', async () => {
    const io = intake(h, marker);
    await tick();
    const first = uniqueId('cs_again');
    await io.deliver(checkoutEvent(h.now(), first));
    await io.report(provisioned(first));
    await tick();
    expect(await markerState()).toBe('quiet');

    await io.deliver(checkoutEvent(h.now(), uniqueId('cs_again')));

    expect(await markerState()).toBe('awake');
  });

  it('a checkout whose wake fails is answered 500, and Stripe’s retry wakes the reconciler without a second hand-off', async () => {
    await tick();
    const io = intake(h, marker);
    const event = checkoutEvent(h.now(), uniqueId('cs_unwoken'));
    const write = marker.write.bind(marker);
    marker.write = async () => {
      marker.write = write;
      throw new Error('ThrottlingException: Rate exceeded');
    };

    const failed = await io.deliver(event);
    const stillQuiet = await markerState();
    const retried = await io.deliver(event);

    expect(failed.statusCode).toBe(500);
    expect(stillQuiet).toBe('quiet');
    expect(retried.body).toMatchObject({ outcome: 'duplicate' });
    expect(await markerState()).toBe('awake');
    expect(h.sqs.commandCalls(SendMessageCommand)).toHaveLength(1);
  });
});
