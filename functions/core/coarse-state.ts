import type { JobStatus } from './job.js';

/** What the checkout success page may know (SPEC 2.1): nothing but a coarse state. */
export type CoarseState = 'queued' | 'running' | 'ready' | 'failed' | 'unknown';

export type AccountStatus = 'awaiting_payment' | 'pending' | 'active' | 'failed';

export function coarseState(
  job: { status: JobStatus } | undefined,
  account: { status: AccountStatus } | undefined,
): CoarseState {
  if (job) {
    switch (job.status) {
      case 'enqueued':
        return 'queued';
      case 'provisioning':
        return 'running';
      case 'provisioned':
        return 'ready';
      case 'failed':
        return 'failed';
    }
  }
  if (account?.status === 'awaiting_payment') return 'queued';
  if (account?.status === 'failed') return 'failed';
  return 'unknown';
}
