import type { QuietMarker, QuietState } from '../adapters/quiet-marker.js';
import type { SqlExecutor } from '../db/executor.js';
import { settleReconcilerQuiet } from '../db/reconciler-state-repository.js';
import type { Log } from './dependencies.js';

/**
 * A quiet idle: when nothing is in flight, a reconcile tick publishes the gauge (0)
 * without touching Aurora, which then stays paused (Serverless v2 at 0 ACU). Whether
 * anything may be in flight lives in a marker outside the database (an SSM parameter,
 * see `adapters/quiet-marker.ts`), which only the reconciler and the first writers after
 * an idle period write, and in the database's `reconciler_state` row.
 *
 * The reconciler, at the end of a run that read the database and found nothing in
 * flight:
 * 1. arms: `quiet_since = T` (in one statement with the look that found nothing);
 * 2. waits until every statement that began before T has ended (the Data API ends a call
 *    after 45 s), then writes the marker `quiet T`;
 * 3. looks once more (the same statement), and writes `awake` (or arms afresh) if
 *    anything appeared or a writer woke it. Without the time to wait, it writes `armed T`
 *    and the next run confirms T (steps 2 and 3).
 *
 * A writer's statement that can put something in flight (recording a job, a callback
 * with a tenant database) marks the row woken when `quiet_since` is set, atomically with
 * its write, and its caller writes the marker `awake` before answering (a failure to do
 * so fails the request, so the sender retries, and the retry wakes it). No job is missed:
 * - a writer whose statement did not see T began before T was armed, so it ended before
 *   the last look, which sees its job;
 * - a writer that saw T marked the row woken: if it committed before the last look, the
 *   look sees the mark and T is not confirmed; if after, its `awake` is written after the
 *   reconciler's `quiet`, and stands.
 * A quiet time a writer woke the reconciler from is never confirmed (the next run arms
 * afresh), so a writer that woke it for T need not wake it for T again.
 */

/** Longer than any statement runs: the Data API ends a call (and its statement) at 45 s. */
export const QUIET_SETTLE_MS = 50_000;

/** Writers: the quiet times this container has woken the reconciler from, per marker. */
const wokenFrom = new WeakMap<QuietMarker, number>();

class WakeFailedError extends Error {
  override readonly name = 'WakeFailedError';
}

/**
 * After a statement that may have put something in flight answered `quietSince`: wakes
 * the reconciler, once per quiet time per container. Throws when the marker cannot be
 * written, so the request fails and its sender retries.
 */
export async function wakeReconciler(marker: QuietMarker, quietSince: Date | null): Promise<void> {
  if (quietSince === null || wokenFrom.get(marker) === quietSince.getTime()) return;
  try {
    await marker.write({ state: 'awake' });
  } catch (error) {
    throw new WakeFailedError('could not wake the reconciler after an idle period; retry', {
      cause: error,
    });
  }
  wokenFrom.set(marker, quietSince.getTime());
}

const AWAKE: QuietState = { state: 'awake' };

/**
 * The marker as a scheduled run reads it: without one, or when it cannot be read (SSM
 * throttled, say), `awake`, the safe reading: the run reads the database.
 */
export async function readQuiet(
  marker: QuietMarker | undefined,
  log: Pick<Log, 'warn'>,
): Promise<QuietState> {
  if (!marker) return AWAKE;
  try {
    return await marker.read();
  } catch (error) {
    log.warn('the quiet marker could not be read; this run reads the database', {
      error: error instanceof Error ? error.message : String(error),
    });
    return AWAKE;
  }
}

/**
 * The reconciler, after a run that read the database (`seen`: the marker as the run
 * found it): records whether anything is in flight, and moves the marker (see above).
 * `wait` is given when the run has `QUIET_SETTLE_MS` to spare. Answers the marker's
 * state after the run.
 */
export async function settleQuiet(
  deps: {
    readonly db: SqlExecutor;
    readonly quiet: QuietMarker;
    readonly clock: () => Date;
  },
  seen: QuietState,
  wait?: (ms: number) => Promise<void>,
): Promise<QuietState> {
  const armedAt = seen.state === 'armed' ? seen.since : null;
  const settled = await settleReconcilerQuiet(deps.db, armedAt, deps.clock());
  if (settled.kind === 'busy') {
    if (seen.state !== 'awake') await deps.quiet.write(AWAKE);
    return AWAKE;
  }
  if (settled.kind === 'armed') {
    if (!wait) {
      const armed: QuietState = { state: 'armed', since: settled.since };
      await deps.quiet.write(armed);
      return armed;
    }
    await wait(QUIET_SETTLE_MS);
  }
  const quiet: QuietState = { state: 'quiet', since: settled.since };
  await deps.quiet.write(quiet);
  // The last look: a writer that committed before the marker said quiet is seen now.
  const check = await settleReconcilerQuiet(deps.db, settled.since, deps.clock());
  if (check.kind === 'confirmed') return quiet;
  const after: QuietState = check.kind === 'busy' ? AWAKE : { state: 'armed', since: check.since };
  await deps.quiet.write(after);
  return after;
}
