import type { HandoffQueue } from '../functions/adapters/handoff-queue.js';
import { TelemetryRegistry } from '../functions/adapters/telemetry.js';
import { RECONCILE_TIMEOUT_SECONDS } from '../functions/core/reconcile-timing.js';
import { DEFAULT_RULES } from '../functions/core/rules.js';
import { createReconcileHandler } from '../functions/handlers/reconcile.js';
import type { ReconcileSummary } from '../functions/services/reconcile.js';
import { lambdaContext, silentLog } from '../local/handler-stand-ins.js';
import { virtualClock } from '../test/support/virtual-clock.js';
import type { BenchDatabase } from './database.js';
import { insertStrandedJobs, withLatency } from './stranded.js';

/**
 * Re-drive capacity in AWS, on a virtual clock: `stranded` jobs left by an outage, one
 * scheduled run with the stack's own timeout, every Data API call costing
 * `latencyMs`, at the default cap of 20/s. Reports how many the run re-drove, how long
 * its sends took, and the busiest second.
 */

export interface Redrive {
  readonly stranded: number;
  readonly redriven: number;
  readonly rate: number;
  /** Virtual seconds from the run's start to its last send. */
  readonly drainedInSeconds: number;
  readonly timeoutSeconds: number;
  readonly busiestSecond: number;
}

export async function measureRedrive(
  database: BenchDatabase,
  options: { stranded: number; rate: number; latencyMs: number },
): Promise<Redrive> {
  await insertStrandedJobs(database.pool, options.stranded, new Date(Date.now() - 3_600_000));
  const timer = virtualClock();
  const slowed = withLatency(database.executor, timer, options.latencyMs);
  const sentAt: number[] = [];
  const queue: HandoffQueue = { send: async () => void sentAt.push(timer.now()) };
  const reconcile = createReconcileHandler({
    db: slowed,
    clock: () => new Date(),
    rules: DEFAULT_RULES,
    telemetry: new TelemetryRegistry(),
    events: { publish: async () => {} },
    log: silentLog,
    queue,
    timer,
    settings: { batchSize: 25, maxRedrivesPerSecond: options.rate },
  });
  const timeoutMs = RECONCILE_TIMEOUT_SECONDS * 1000;
  const summary = (await reconcile(
    {},
    lambdaContext('reconcile', () => timeoutMs - timer.now()),
  )) as ReconcileSummary;
  let busiest = 0;
  for (let i = 0, j = 0; i < sentAt.length; i += 1) {
    while ((sentAt[i] ?? 0) - (sentAt[j] ?? 0) >= 1_000) j += 1;
    busiest = Math.max(busiest, i - j + 1);
  }
  return {
    stranded: options.stranded,
    redriven: summary.redriven,
    rate: options.rate,
    drainedInSeconds: Math.max(0, ...sentAt) / 1000,
    timeoutSeconds: RECONCILE_TIMEOUT_SECONDS,
    busiestSecond: busiest,
  };
}
