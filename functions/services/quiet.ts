import type { QuietMarker, QuietState } from '../adapters/quiet-marker.js';
import type { SqlExecutor } from '../db/executor.js';
import { settleReconcilerQuiet } from '../db/reconciler-state-repository.js';

/**
 * A quiet idle: when nothing is in flight, a reconcile tick publishes the gauge (0)
 * without touching Aurora, which then stays paused (Serverless v2 at 0 ACU). Whether
 * anything may be in flight lives in a marker outside the database (an SSM parameter,
 * see `adapters/quiet-marker.ts`), which only the reconciler and the first writers after
 * an idle period write, and the database's `reconciler_state` row.
 *
 * The reconciler, at the end of each run that read the database:
 * 1. nothing in flight, for the first time: it arms (`quiet_since = T`, marker `armed T`);
 * 2. nothing in flight at the next run, `quiet_since` still T and no writer has woken it
 *    since: it writes the marker `quiet T` first, then looks once more (the same
 *    statement), and writes `awake` (or arms afresh) if anything appeared.
 *
 * A writer's statement that can put something in flight (recording a job, a callback
 * with a tenant database) marks the row woken when `quiet_since` is set, atomically with
 * its write, and its caller writes the marker `awake` before answering (a failure to do
 * so fails the request, so the sender retries, and the retry wakes it). No job is missed:
 * - a writer whose statement did not see T began before the run that armed T committed,
 *   so it committed long before the confirming run, a tick later, which sees its job;
 * - a writer that saw T marked the row woken: if it committed before the confirming
 *   run's last look, that look sees the mark and the quiet time is never confirmed; if
 *   after, its `awake` is written after the reconciler's `quiet`, and stands.
 * A quiet time a writer woke the reconciler from is never confirmed again (the next run
 * arms afresh), so a writer that woke it for T need not wake it for T again.
 */

/** Writers: the quiet times this container has woken the reconciler from, per marker. */
const wokenFrom = new WeakMap<QuietMarker, number>();

export class WakeFailedError extends Error {
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
 * The reconciler, after a run that read the database (`seen`: the marker as the run
 * found it): records whether anything is in flight, and moves the marker (see above).
 * Answers the marker's state after the run.
 */
export async function settleQuiet(
  db: SqlExecutor,
  marker: QuietMarker,
  seen: QuietState,
  now: Date,
): Promise<QuietState> {
  const armedAt = seen.state === 'armed' ? seen.since : null;
  const settled = await settleReconcilerQuiet(db, armedAt, now);
  if (settled.kind === 'busy') {
    if (seen.state !== 'awake') await marker.write(AWAKE);
    return AWAKE;
  }
  if (settled.kind === 'armed') {
    const armed: QuietState = { state: 'armed', since: settled.since };
    await marker.write(armed);
    return armed;
  }
  const quiet: QuietState = { state: 'quiet', since: settled.since };
  await marker.write(quiet);
  // The last look: a writer that committed before the marker said quiet is seen now.
  const check = await settleReconcilerQuiet(db, settled.since, now);
  if (check.kind === 'confirmed') return quiet;
  const after: QuietState = check.kind === 'busy' ? AWAKE : { state: 'armed', since: check.since };
  await marker.write(after);
  return after;
}
