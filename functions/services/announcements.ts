import {
  type BreakerEventType,
  type JobEventType,
  type LifecycleEvent,
  type LifecycleEventType,
  publishQuietly,
} from '../adapters/lifecycle-events.js';
import type { MetricName } from '../adapters/telemetry.js';
import type { BreakerTransition } from '../db/jobs/handoff-attempts.js';
import type { ServiceDependencies } from './dependencies.js';

/**
 * Telling the world about a transition, after the statement that made it committed:
 * one metric and one lifecycle event per transition, from whoever ran that statement.
 * A lost event is counted and logged, never fatal: the state is in the database.
 */

const TRANSITION_METRICS: Record<LifecycleEventType, MetricName> = {
  'job.recorded': 'CheckoutRecorded',
  'job.provisioned': 'JobProvisioned',
  'job.failed': 'JobFailed',
  'job.capped': 'JobCapped',
  'job.parked': 'JobParked',
  'job.cancelled': 'JobCancelled',
  'breaker.opened': 'BreakerOpened',
  'breaker.closed': 'BreakerClosed',
};

type AnnounceDependencies = Pick<ServiceDependencies, 'events' | 'telemetry' | 'log'>;

export type JobEvent = Extract<LifecycleEvent, { type: JobEventType }>;

export async function announce(
  deps: AnnounceDependencies,
  events: readonly LifecycleEvent[],
): Promise<void> {
  if (events.length === 0) return;
  for (const event of events) deps.telemetry.count(TRANSITION_METRICS[event.type]);
  await publishQuietly(deps.events, events, (error) => {
    deps.telemetry.count('LifecycleEventPublishFailed', events.length);
    deps.log.warn('lifecycle events not published', {
      types: events.map((event) => event.type),
      jobIds: events.flatMap((event) => ('jobId' in event ? [event.jobId] : [])),
      error,
    });
  });
}

export function announceJob(deps: AnnounceDependencies, event: JobEvent): Promise<void> {
  return announce(deps, [event]);
}

const BREAKER_EVENTS: Record<BreakerTransition, BreakerEventType> = {
  opened: 'breaker.opened',
  closed: 'breaker.closed',
};

/** The breaker opened or closed: on-call and the dashboard hear it once. */
export function announceBreaker(
  deps: AnnounceDependencies,
  transition: BreakerTransition,
  occurredAt: Date,
  detail: Readonly<Record<string, unknown>>,
): Promise<void> {
  const log = transition === 'opened' ? deps.log.error : deps.log.info;
  log.call(
    deps.log,
    transition === 'opened'
      ? 'the breaker opened: triggers keep failing across jobs; re-drives pause, one probe per reconcile run'
      : 'the breaker closed: the orchestrator accepts triggers again; re-drives resume',
    { ...detail },
  );
  return announce(deps, [{ type: BREAKER_EVENTS[transition], occurredAt, detail }]);
}
