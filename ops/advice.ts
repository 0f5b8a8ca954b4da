import type { JobStatus, TriggerFailure } from '../functions/core/job.js';
import { isStale, isStuck, type ProvisioningRules } from '../functions/core/rules.js';

/**
 * The runbook's decision flow (provisioning-stuck.md, section 2) applied to one job, so
 * `stuck` and `show` can say what to do next with the command that does it.
 */

/** Hand-off failures that mean the way to the orchestrator was still broken at the last attempt. */
export const TRANSPORT_BROKEN: ReadonlySet<string> = new Set<TriggerFailure>([
  'trigger_not_configured',
  'fetch_error',
  'timeout',
  'http_5xx',
]);

export interface JobFacts {
  readonly id: string;
  readonly stripe_session_id: string;
  readonly status: JobStatus;
  readonly attempts: number;
  readonly last_error: string | null;
  readonly payload_missing: boolean;
  readonly last_attempt_at: Date | null;
  readonly updated_at: Date;
}

export type Step =
  | 'done'
  | 'resolve-payload'
  | 'fix-transport-then-rearm'
  | 'link-or-rearm'
  | 'reconcile'
  | 'wait';

export interface Advice {
  /** On the STUCK gauge (what the alarm counts). */
  readonly stuck: boolean;
  /** What the reconciler would claim on its next run. */
  readonly stale: boolean;
  readonly step: Step;
  readonly text: string;
}

export function advise(job: JobFacts, now: Date, rules: ProvisioningRules): Advice {
  const clock = {
    status: job.status,
    attempts: job.attempts,
    updatedAt: job.updated_at,
    lastAttemptAt: job.last_attempt_at,
    hasPayload: !job.payload_missing,
  };
  const stuck = isStuck(clock, now, rules);
  const stale = isStale(clock, now, rules) && !job.payload_missing;
  const advice = (step: Step, text: string): Advice => ({ stuck, stale, step, text });
  const session = job.stripe_session_id;

  if (job.status === 'provisioned') return advice('done', 'provisioned');
  if (job.payload_missing) {
    return advice('resolve-payload', `no payload: ops resolve-payload ${session} (runbook 6b)`);
  }
  if (job.attempts >= rules.maxAttempts) {
    if (job.last_error && TRANSPORT_BROKEN.has(job.last_error)) {
      return advice(
        'fix-transport-then-rearm',
        `capped after ${job.last_error}: fix the transport, then ops rearm ${job.id} (runbook 5)`,
      );
    }
    return advice(
      'link-or-rearm',
      `capped: if the orchestrator minted a dpl_, ops link ${session} (6a); else ops rearm ${job.id} (5)`,
    );
  }
  if (stale)
    return advice('reconcile', 'stale: ops reconcile, or wait for the next run (runbook 4)');
  return advice('wait', 'in flight: the reconciler picks it up when stale (runbook 4)');
}
