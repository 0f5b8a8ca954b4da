import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';

/**
 * Facts other systems (welcome mail, CRM, on-call tooling) subscribe to, published after
 * the transition commits, by the caller of the statement that made it: once per
 * transition.
 */
export type JobEventType =
  | 'job.recorded'
  | 'job.provisioned'
  | 'job.failed'
  | 'job.capped'
  | 'job.parked'
  | 'job.cancelled';
export type BreakerEventType = 'breaker.opened' | 'breaker.closed';
export type LifecycleEventType = JobEventType | BreakerEventType;

export type LifecycleEvent =
  | {
      readonly type: JobEventType;
      readonly jobId: string;
      readonly stripeSessionId: string;
      readonly occurredAt: Date;
      readonly detail?: Readonly<Record<string, unknown>>;
    }
  | {
      readonly type: BreakerEventType;
      readonly occurredAt: Date;
      readonly detail?: Readonly<Record<string, unknown>>;
    };

export interface LifecycleEvents {
  /** Throws when any event could not be published; callers count it and carry on. */
  publish(events: readonly LifecycleEvent[]): Promise<void>;
}

export const LIFECYCLE_EVENT_SOURCE = 'provisioning.handoff';

export class EventBridgeLifecycleEvents implements LifecycleEvents {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
  ) {}

  async publish(events: readonly LifecycleEvent[]): Promise<void> {
    if (events.length === 0) return;
    const output = await this.client.send(
      new PutEventsCommand({
        Entries: events.map((event) => ({
          EventBusName: this.busName,
          Source: LIFECYCLE_EVENT_SOURCE,
          DetailType: event.type,
          Time: event.occurredAt,
          Detail: JSON.stringify(eventDetail(event)),
        })),
      }),
    );
    if (output.FailedEntryCount) {
      throw new Error(
        `EventBridge refused ${output.FailedEntryCount} of ${events.length} lifecycle events`,
      );
    }
  }
}

/** What subscribers receive as the event's detail: the job's ids (for job events) and the facts. */
export function eventDetail(event: LifecycleEvent): Record<string, unknown> {
  return {
    ...('jobId' in event ? { job_id: event.jobId, stripe_session_id: event.stripeSessionId } : {}),
    ...event.detail,
  };
}

/** Publishes and never fails the caller: a lost lifecycle event is counted, not fatal. */
export async function publishQuietly(
  events: LifecycleEvents,
  batch: readonly LifecycleEvent[],
  onFailure: (error: unknown) => void,
): Promise<void> {
  try {
    await events.publish(batch);
  } catch (error) {
    onFailure(error);
  }
}
