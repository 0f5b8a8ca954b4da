import * as z from 'zod';
import type { JobStatus, OutcomeClass, TriggerFailure } from '../functions/core/job.js';
import {
  isCapDue,
  isInFlight,
  isStale,
  isStuck,
  type JobClock,
  type ProvisioningRules,
} from '../functions/core/rules.js';
import { jobRow } from '../functions/db/jobs/job-row.js';

/**
 * The runbook's decision flow (provisioning-stuck.md, section 2) applied to one job, so
 * `stuck` and `show` can say why it waits and what to do next, with the command.
 */

/** Hand-off failures that mean the way to the orchestrator was broken at the last attempt. */
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
  readonly budget_spent: number;
  readonly last_error: string | null;
  readonly last_outcome: OutcomeClass | null;
  readonly last_http_status: number | null;
  readonly payload_missing: boolean;
  readonly lease_expires_at: Date | null;
  readonly next_attempt_at: Date | null;
  readonly parked_at: Date | null;
  readonly capped_at: Date | null;
  readonly updated_at: Date;
}

const instant = z.coerce.date();

/** A job as JSON values (the operator read route's `job`: timestamps as text), as facts. */
const jobFactsFromJson = jobRow
  .pick({
    id: true,
    stripe_session_id: true,
    status: true,
    attempts: true,
    budget_spent: true,
    last_error: true,
    last_outcome: true,
    last_http_status: true,
  })
  .extend({
    trigger_payload: z.unknown(),
    lease_expires_at: instant.nullable(),
    next_attempt_at: instant.nullable(),
    parked_at: instant.nullable(),
    capped_at: instant.nullable(),
    updated_at: instant,
  })
  .transform(
    ({ trigger_payload, ...job }): JobFacts => ({
      ...job,
      payload_missing: trigger_payload === null,
    }),
  );

export function jobFactsOf(json: Record<string, unknown>): JobFacts {
  return jobFactsFromJson.parse(json);
}

export type Step =
  | 'done'
  | 'cancelled'
  | 'resolve-payload'
  | 'fix-credentials-then-rearm'
  | 'fix-transport-then-rearm'
  | 'rearm-or-cancel'
  | 'link-or-rearm'
  | 'breaker'
  | 'reconcile'
  | 'wait';

export interface Advice {
  /** On the STUCK gauge (what the alarm counts). */
  readonly stuck: boolean;
  /** What the reconciler would claim on its next run. */
  readonly stale: boolean;
  /** Why the job waits, in a few words. */
  readonly why: string;
  readonly step: Step;
  readonly text: string;
}

export function clockOf(job: JobFacts): JobClock {
  return {
    status: job.status,
    budgetSpent: job.budget_spent,
    updatedAt: job.updated_at,
    leaseExpiresAt: job.lease_expires_at,
    nextAttemptAt: job.next_attempt_at,
    parkedAt: job.parked_at,
    cappedAt: job.capped_at,
    hasPayload: !job.payload_missing,
  };
}

/** `http_422` for an answered refusal, else the failure class. */
export function errorLabel(job: Pick<JobFacts, 'last_error' | 'last_http_status'>): string {
  if (job.last_http_status !== null && job.last_http_status >= 300) {
    return `http_${job.last_http_status}`;
  }
  return job.last_error ?? '-';
}

export function advise(job: JobFacts, now: Date, rules: ProvisioningRules): Advice {
  const clock = clockOf(job);
  const stuck = isStuck(clock, now, rules);
  const stale = isStale(clock, now, rules);
  const advice = (step: Step, why: string, text: string): Advice => ({
    stuck,
    stale,
    why,
    step,
    text,
  });
  const session = job.stripe_session_id;
  const error = errorLabel(job);

  if (job.status === 'provisioned') return advice('done', 'provisioned', 'provisioned');
  if (job.status === 'cancelled')
    return advice('cancelled', 'cancelled', 'cancelled by an operator');
  if (job.payload_missing) {
    return advice(
      'resolve-payload',
      'no payload',
      `no payload: ops resolve-payload ${session} (runbook 6b)`,
    );
  }
  if (job.parked_at !== null) {
    if (job.last_http_status === 401 || job.last_http_status === 403) {
      return advice(
        'fix-credentials-then-rearm',
        `parked: ${error}`,
        `the orchestrator refused our signature: the trigger secret or URL is wrong; fix it, then ops rearm --parked --error ${error} (runbook 5a)`,
      );
    }
    if (job.last_error && TRANSPORT_BROKEN.has(job.last_error)) {
      return advice(
        'fix-transport-then-rearm',
        `parked: ${error}`,
        `no trigger URL or secret: configure it, then ops rearm --parked --error ${error} (runbook 5)`,
      );
    }
    return advice(
      'rearm-or-cancel',
      `parked: ${error}`,
      `the orchestrator refused this job (${error}): once the cause is fixed, ops rearm ${job.id}; if it must never be provisioned, ops cancel ${session} --reason … (runbook 5a)`,
    );
  }
  if (job.capped_at !== null) {
    if (job.last_error && TRANSPORT_BROKEN.has(job.last_error)) {
      return advice(
        'fix-transport-then-rearm',
        `capped after ${error}`,
        `out of budget after ${error}: fix the transport, then ops rearm ${job.id} (runbook 5)`,
      );
    }
    return advice(
      'link-or-rearm',
      'capped',
      `out of budget: if the orchestrator minted a dpl_, ops link ${session} (6a); else ops rearm ${job.id} (5)`,
    );
  }
  if (isCapDue(clock, now, rules)) {
    return advice(
      'link-or-rearm',
      'out of budget',
      `out of budget (the next reconcile caps it): if the orchestrator minted a dpl_, ops link ${session} (6a); else ops rearm ${job.id} (5)`,
    );
  }
  if (job.last_outcome === 'deferred' && stale) {
    return advice(
      'breaker',
      'held by the breaker',
      'held while the breaker is open: ops breaker shows why; it closes on the first accepted probe (runbook 4a)',
    );
  }
  if (stale) {
    return advice('reconcile', 'due', 'due: ops reconcile, or wait for the next run (runbook 4)');
  }
  if (isInFlight(clock, now)) {
    return advice('wait', 'attempt in flight', 'an attempt is in flight: wait for its outcome');
  }
  const when = job.next_attempt_at ? ` at ${job.next_attempt_at.toISOString()}` : '';
  return advice(
    'wait',
    job.last_outcome === 'transient'
      ? `backing off after ${error}`
      : 'waiting for the orchestrator',
    `the reconciler re-drives it${when} unless the orchestrator reports first (runbook 4)`,
  );
}
