import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';

/** Facts other systems (welcome mail, CRM) subscribe to, published after the transition commits. */
export type LifecycleEventType = 'job.recorded' | 'job.provisioned' | 'job.failed' | 'job.capped';

export interface LifecycleEvent {
  readonly type: LifecycleEventType;
  readonly jobId: string;
  readonly stripeSessionId: string;
  readonly occurredAt: Date;
  readonly detail?: Readonly<Record<string, unknown>>;
}

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
          Detail: JSON.stringify({
            job_id: event.jobId,
            stripe_session_id: event.stripeSessionId,
            ...event.detail,
          }),
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
