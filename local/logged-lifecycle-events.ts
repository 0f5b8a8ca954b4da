import {
  eventDetail,
  type LifecycleEvent,
  type LifecycleEvents,
} from '../functions/adapters/lifecycle-events.js';
import type { Log } from '../functions/services/dependencies.js';

/** Locally there is no event bus: lifecycle events are logged where a person can see them. */
export class LoggedLifecycleEvents implements LifecycleEvents {
  constructor(private readonly log: Log) {}

  async publish(events: readonly LifecycleEvent[]): Promise<void> {
    for (const event of events) {
      this.log.info(`lifecycle event ${event.type}`, eventDetail(event));
    }
  }
}
