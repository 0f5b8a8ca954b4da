import type { Clock } from '../adapters/clock.js';
import type { LifecycleEvents } from '../adapters/lifecycle-events.js';
import type { Telemetry } from '../adapters/telemetry.js';
import type { ProvisioningRules } from '../core/rules.js';
import type { SqlExecutor } from '../db/executor.js';

/** The structured logger every service writes through (Powertools' Logger in Lambda and locally). */
export interface Log {
  debug(message: string, ...extra: object[]): void;
  info(message: string, ...extra: object[]): void;
  warn(message: string, ...extra: object[]): void;
  error(message: string, ...extra: object[]): void;
}

/** What every service receives; each service's own dependencies extend it. */
export interface ServiceDependencies {
  readonly db: SqlExecutor;
  readonly clock: Clock;
  readonly rules: ProvisioningRules;
  readonly telemetry: Telemetry;
  readonly events: LifecycleEvents;
  readonly log: Log;
}
