import type { JobStatus } from './job.js';

/** What the checkout success page may know (SPEC 2.1): nothing but a coarse state. */
export type CoarseState = 'queued' | 'running' | 'ready' | 'failed' | 'unknown';

export const ACCOUNT_STATUSES = [
  'awaiting_payment',
  'pending',
  'active',
  'failed',
  'cancelled',
] as const;
export type AccountStatus = (typeof ACCOUNT_STATUSES)[number];

export interface JobStanding {
  readonly status: JobStatus;
  /** Refused by the orchestrator, waiting for an operator. */
  readonly parked: boolean;
  /** Out of retry budget, waiting for an operator. */
  readonly capped: boolean;
}

/**
 * `failed` only when nothing more will happen on its own (SPEC 2.5): parked, out of
 * budget, payment failed, cancelled. While the product is still retrying, even after
 * the orchestrator reported a failure, the page says `queued` or `running`.
 */
export function coarseState(
  job: JobStanding | undefined,
  account: { status: AccountStatus } | undefined,
): CoarseState {
  if (job) {
    if (job.status === 'provisioned') return 'ready';
    if (job.status === 'cancelled' || job.parked || job.capped) return 'failed';
    return job.status === 'provisioning' ? 'running' : 'queued';
  }
  if (account?.status === 'awaiting_payment') return 'queued';
  if (account?.status === 'failed' || account?.status === 'cancelled') return 'failed';
  return 'unknown';
}
