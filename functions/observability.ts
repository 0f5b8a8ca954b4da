import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  METRICS_NAMESPACE,
  type MetricName,
  SERVICE_NAME,
  type Telemetry,
} from './adapters/telemetry.js';

/**
 * The one place observability is configured: every handler logs through this logger
 * (JSON, with the Lambda context and the ids appended per request) and reports
 * through these metrics (CloudWatch EMF, flushed by the `logMetrics` middleware).
 */

export const logger = new Logger({ serviceName: SERVICE_NAME });

export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });

/** Telemetry onto Powertools metrics: counters and the gauge both as EMF values. */
export class PowertoolsTelemetry implements Telemetry {
  constructor(private readonly target: Metrics = metrics) {}

  count(name: MetricName, value = 1): void {
    this.target.addMetric(name, MetricUnit.Count, value);
  }

  gauge(name: MetricName, value: number): void {
    this.target.addMetric(name, MetricUnit.Count, value);
  }
}

/** Correlation ids on every log line of the current invocation (reset by injectLambdaContext). */
export function tagLogs(keys: {
  stripeEventId?: string | undefined;
  stripeSessionId?: string | undefined;
  jobId?: string | undefined;
}): void {
  const defined = Object.fromEntries(
    Object.entries(keys).filter(([, value]) => value !== undefined),
  );
  logger.appendKeys(defined);
}
