import type { Logger } from '@aws-lambda-powertools/logger';
import type { Clock } from '../adapters/clock.js';
import type { LifecycleEvents } from '../adapters/lifecycle-events.js';
import type { Telemetry } from '../adapters/telemetry.js';
import type { ProvisioningRules } from '../core/rules.js';
import type { SqlExecutor } from '../db/executor.js';

/** The structured logger every service writes through: Powertools' Logger, or a test's capture. */
export type Log = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

/** What every service receives; each service's own dependencies extend it. */
export interface ServiceDependencies {
  readonly db: SqlExecutor;
  readonly clock: Clock;
  readonly rules: ProvisioningRules;
  readonly telemetry: Telemetry;
  readonly events: LifecycleEvents;
  readonly log: Log;
}
