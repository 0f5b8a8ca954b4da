import { randomUUID } from 'node:crypto';
import {
  type CheckoutSessionPage,
  type CheckoutSessionQuery,
  type CheckoutSessionSource,
  StripeRateLimitedError,
} from '../adapters/stripe-checkout-sessions.js';
import type { CheckoutFacts } from '../core/checkout-decision.js';
import {
  decideListedSession,
  planSweepPass,
  type SweepPass,
  type SweepSkip,
} from '../core/checkout-sweep.js';
import { secondsAfter } from '../core/rules.js';
import type { StripeMode } from '../core/stripe-mode.js';
import {
  advanceSweepMark,
  claimSweepPass,
  closeSweepRun,
  readSweepMark,
  sessionsWithoutJob,
} from '../db/checkout-sweep-repository.js';
import { type CheckoutHandoffDependencies, recordAndHandOff } from './checkout-handoff.js';
import { realTimer, type Timer } from './reconcile.js';

/**
 * The paid-but-not-provisioned sweep (issue 13): no paid checkout escapes because a
 * webhook never arrived. It lists the sessions Stripe completed in a look-back window,
 * newest first, a page at a time, and records every paid one of ours that has no job
 * through the webhook's own path (`recordAndHandOff`, actor `sweep`): exactly one job
 * per session however the sweep and a late webhook race. After each page the mark
 * moves on, so a run that stops (its deadline, a crash) is resumed by the next.
 */

export interface SweepDependencies extends CheckoutHandoffDependencies {
  readonly sessions: CheckoutSessionSource;
  /** The Stripe mode this deployment serves: sessions of the other mode are never ours. */
  readonly stripeMode: StripeMode;
  readonly timer?: Timer;
  readonly random?: () => number;
}

export interface SweepSettings {
  /** How far back a new pass reaches. */
  readonly lookbackSeconds: number;
  /** An operator's own window start: a new pass from it to now. */
  readonly since?: Date | undefined;
  /** `timer.now()` by which the run stops listing, leaving its mark for the next. */
  readonly deadline: number;
  /** How long the run holds the pass between two marks; longer than one page takes. */
  readonly leaseSeconds: number;
  /** List and tell, record nothing and leave the mark alone. */
  readonly dryRun?: boolean;
  /** Why, when an operator runs it: kept in each recorded job's history. */
  readonly reason?: string | undefined;
  readonly pageSize?: number;
}

/** What one run did, as returned and logged (a type, so the logger takes it as it is). */
export type SweepSummary = {
  readonly event: 'provisioning.sweep.run';
  /** `finished` the pass; `stopped` before its end (the next run resumes); `busy`: another run holds it. */
  readonly outcome: 'finished' | 'stopped' | 'busy';
  readonly resumed: boolean;
  readonly dry_run: boolean;
  readonly window_from: string | null;
  readonly window_to: string | null;
  readonly pages: number;
  readonly listed: number;
  /** Paid sessions of ours without a job, recorded now: checkouts the webhook missed. */
  readonly recorded: number;
  readonly already_recorded: number;
  readonly not_ours: number;
  readonly not_paid: number;
  readonly unreadable: number;
  readonly throttled: number;
  /** Sessions recorded now (on a dry run: those that would be). */
  readonly missed_sessions: readonly string[];
};

/** Stripe's largest page. */
const PAGE_SIZE = 100;
/** 429s in a row on one page before the run gives up (the next run resumes the page). */
const MAX_THROTTLED_TRIES = 6;
const THROTTLE_BASE_MS = 1000;
const THROTTLE_MAX_MS = 30_000;

export async function sweepCheckouts(
  deps: SweepDependencies,
  settings: SweepSettings,
): Promise<SweepSummary> {
  const timer = deps.timer ?? realTimer;
  const dryRun = settings.dryRun ?? false;
  const mark = await readSweepMark(deps.db);
  // A dry run lists a window of its own from the start, and takes no lease.
  const plan = planSweepPass(dryRun ? undefined : mark, deps.clock(), {
    lookbackSeconds: settings.lookbackSeconds,
    since: settings.since,
  });
  const counts = new SweepCounts(dryRun);
  if (plan.kind === 'busy') {
    deps.log.info('another sweep run holds the pass; this one does nothing', {
      leaseUntil: plan.leaseUntil.toISOString(),
    });
    return report(deps, counts.summary('busy', undefined, false));
  }
  const runToken = randomUUID();
  const lease = () => secondsAfter(deps.clock(), settings.leaseSeconds);
  if (!dryRun) {
    const claimed = await claimSweepPass(
      deps.db,
      { pass: plan.pass, seen: mark, runToken, leaseUntil: lease() },
      deps.clock(),
    );
    if (!claimed) return report(deps, counts.summary('busy', plan.pass, false));
  }

  const run: PassRun = { ...plan.pass, holds: !dryRun };
  let outcome: 'finished' | 'stopped' = 'stopped';
  try {
    outcome = await sweepPass(deps, settings, timer, run, counts, async () => {
      if (dryRun) return true;
      run.holds = await advanceSweepMark(
        deps.db,
        runToken,
        { resumeAfter: run.resumeAfter, listed: run.listed, recorded: run.recorded },
        lease(),
        deps.clock(),
      );
      return run.holds;
    });
  } finally {
    if (run.holds) await releaseQuietly(deps, runToken, outcome === 'finished');
  }
  return report(deps, counts.summary(outcome, plan.pass, plan.kind === 'resume'));
}

/** The pass being worked on, its mark moving page by page. */
type PassRun = { -readonly [K in keyof SweepPass]: SweepPass[K] } & { holds: boolean };

async function sweepPass(
  deps: SweepDependencies,
  settings: SweepSettings,
  timer: Timer,
  run: PassRun,
  counts: SweepCounts,
  markPage: () => Promise<boolean>,
): Promise<'finished' | 'stopped'> {
  for (;;) {
    if (timer.now() >= settings.deadline) return 'stopped';
    const page = await listPage(deps, timer, settings.deadline, counts, {
      createdFrom: run.windowFrom,
      createdTo: run.windowTo,
      startingAfter: run.resumeAfter ?? undefined,
      limit: settings.pageSize ?? PAGE_SIZE,
    });
    if (!page) return 'stopped';
    counts.pages += 1;
    const recorded = await sweepPage(deps, settings, page, counts);
    const last = page.sessions.at(-1);
    run.resumeAfter = last ? last.id : run.resumeAfter;
    run.listed += page.sessions.length;
    run.recorded += recorded;
    if (!(await markPage())) {
      deps.log.warn('the sweep lost its pass to another run (lease lapsed); it stops here');
      return 'stopped';
    }
    if (!page.hasMore || !last) return 'finished';
  }
}

/** Examines one page; answers how many sessions it recorded. */
async function sweepPage(
  deps: SweepDependencies,
  settings: SweepSettings,
  page: CheckoutSessionPage,
  counts: SweepCounts,
): Promise<number> {
  counts.listed += page.sessions.length;
  deps.telemetry.count('SweepSessionsListed', page.sessions.length);
  const settled: CheckoutFacts[] = [];
  for (const session of page.sessions) {
    const decision = decideListedSession(session, deps.stripeMode);
    if (decision.kind === 'settled') settled.push(decision.checkout);
    else counts.skip(decision.skip, decision.stripeSessionId, decision.reason, deps);
  }
  const missing = await sessionsWithoutJob(
    deps.db,
    settled.map((checkout) => checkout.stripeSessionId),
  );
  counts.already_recorded += settled.length - missing.size;
  let recorded = 0;
  for (const checkout of settled) {
    if (!missing.has(checkout.stripeSessionId)) continue;
    if (settings.dryRun) {
      counts.missed(checkout.stripeSessionId);
      continue;
    }
    const job = await recordAndHandOff(deps, { ...checkout, reason: settings.reason }, 'sweep', {
      source: 'sweep',
    });
    if (!job.created) {
      // The webhook (or EventBridge) recorded it between the look-up and now.
      counts.already_recorded += 1;
      continue;
    }
    recorded += 1;
    counts.missed(checkout.stripeSessionId);
    deps.telemetry.count('MissedCheckouts');
    deps.log.warn('paid checkout recorded by the sweep: no Stripe event had recorded it', {
      stripeSessionId: checkout.stripeSessionId,
      jobId: job.jobId,
      packageSlug: checkout.packageSlug,
    });
  }
  return recorded;
}

/**
 * One page of completed sessions. A 429 is waited out (at least its `Retry-After`,
 * plus a jittered backoff so concurrent callers spread); undefined when the wait
 * would pass the deadline: the next run resumes this page.
 */
async function listPage(
  deps: SweepDependencies,
  timer: Timer,
  deadline: number,
  counts: SweepCounts,
  query: CheckoutSessionQuery,
): Promise<CheckoutSessionPage | undefined> {
  const random = deps.random ?? Math.random;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await deps.sessions.listCompleted(query);
    } catch (error) {
      if (!(error instanceof StripeRateLimitedError) || attempt >= MAX_THROTTLED_TRIES) {
        throw error;
      }
      counts.throttled += 1;
      deps.telemetry.count('SweepThrottled');
      const backoff = Math.min(THROTTLE_MAX_MS, THROTTLE_BASE_MS * 2 ** (attempt - 1));
      const waitMs = Math.round((error.retryAfterSeconds ?? 0) * 1000 + random() * backoff);
      if (timer.now() + waitMs >= deadline) {
        deps.log.warn('Stripe rate-limited the sweep past its deadline; the next run resumes', {
          attempt,
          waitMs,
        });
        return undefined;
      }
      deps.log.info('Stripe rate-limited the sweep; waiting before asking again', {
        attempt,
        waitMs,
        retryAfterSeconds: error.retryAfterSeconds,
      });
      await timer.sleep(waitMs);
    }
  }
}

/** Gives the pass back (finished, or to resume); a failure here only delays the next run by the lease. */
async function releaseQuietly(
  deps: SweepDependencies,
  runToken: string,
  finished: boolean,
): Promise<void> {
  try {
    await closeSweepRun(deps.db, runToken, finished, deps.clock());
  } catch (error) {
    deps.log.warn('the sweep could not release its pass; the next run waits for the lease', {
      error,
    });
  }
}

function report(deps: SweepDependencies, summary: SweepSummary): SweepSummary {
  deps.log.info(summary.event, summary);
  return summary;
}

class SweepCounts {
  pages = 0;
  listed = 0;
  already_recorded = 0;
  throttled = 0;
  private readonly skips: Record<'not_ours' | 'not_paid' | 'unreadable', number> = {
    not_ours: 0,
    not_paid: 0,
    unreadable: 0,
  };
  private readonly missedSessions: string[] = [];

  constructor(private readonly dryRun: boolean) {}

  missed(stripeSessionId: string): void {
    this.missedSessions.push(stripeSessionId);
  }

  skip(
    skip: SweepSkip,
    stripeSessionId: string,
    reason: string | undefined,
    deps: SweepDependencies,
  ): void {
    switch (skip) {
      case 'not_ours':
      case 'setup_mode':
      case 'other_mode':
        this.skips.not_ours += 1;
        return;
      case 'not_complete':
      case 'not_paid':
        this.skips.not_paid += 1;
        return;
      case 'unreadable':
        this.skips.unreadable += 1;
        deps.log.warn('a session of ours the sweep cannot read; the webhook would refuse it too', {
          stripeSessionId,
          reason,
        });
    }
  }

  summary(
    outcome: SweepSummary['outcome'],
    pass: SweepPass | undefined,
    resumed: boolean,
  ): SweepSummary {
    return {
      event: 'provisioning.sweep.run',
      outcome,
      resumed,
      dry_run: this.dryRun,
      window_from: pass?.windowFrom.toISOString() ?? null,
      window_to: pass?.windowTo.toISOString() ?? null,
      pages: this.pages,
      listed: this.listed,
      recorded: this.dryRun ? 0 : this.missedSessions.length,
      already_recorded: this.already_recorded,
      ...this.skips,
      throttled: this.throttled,
      missed_sessions: this.missedSessions,
    };
  }
}
