import { DATA_API_RETRY_BUDGET_SECONDS } from './resume-budget.js';

/**
 * The Lambda timeouts of the watchdog and the missed-checkout sweep (the reconciler's is
 * in `reconcile-timing.ts`): the stack deploys them, and the local runtime gives its
 * scheduled runs the same, so a run has as long locally as it has in AWS.
 */

/** Twice the background retry budget: the watchdog still notifies after Aurora resumed. */
export const WATCHDOG_TIMEOUT_SECONDS = 2 * DATA_API_RETRY_BUDGET_SECONDS.background;

/** A run pages through Stripe's checkout sessions until the sweep's safety margin before this. */
export const SWEEP_TIMEOUT_SECONDS = 5 * 60;
