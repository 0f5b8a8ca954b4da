import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import {
  METRICS_NAMESPACE,
  type MetricName,
  SERVICE_NAME,
  type Telemetry,
} from './adapters/telemetry.js';

/**
 * The one place observability is configured: every handler logs through this logger
 * (JSON, with the Lambda context and the ids appended per request), reports through
 * these metrics (CloudWatch EMF, published by the handler middleware as each invocation
 * ends), and traces through this tracer (X-Ray: each invocation, its AWS SDK calls and
 * its `fetch` requests, such as the trigger POST, as subsegments). Outside Lambda the
 * tracer is off.
 * The service name carries the stage (`serviceNameFor`): the stack sets it as
 * Powertools' own `POWERTOOLS_SERVICE_NAME` on every function.
 */
const serviceName = process.env.POWERTOOLS_SERVICE_NAME || SERVICE_NAME;

export const logger = new Logger({ serviceName });

export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName });

export const tracer = new Tracer({ serviceName });

/** An AWS SDK v3 client whose calls show as subsegments of the invocation's trace. */
export function traced<Client>(client: Client): Client {
  return tracer.captureAWSv3Client(client);
}

/** Telemetry onto Powertools metrics: counters and the gauge both as EMF values. */
export class PowertoolsTelemetry implements Telemetry {
  constructor(private readonly target: Metrics = metrics) {}

  count(name: MetricName, value = 1): void {
    this.target.addMetric(name, MetricUnit.Count, value);
  }

  /** Its own EMF document, flushed at once: dimensions apply to every metric of a document. */
  countFor(name: MetricName, dimensions: Readonly<Record<string, string>>, value = 1): void {
    const single = this.target.singleMetric();
    for (const [key, dimension] of Object.entries(dimensions)) single.addDimension(key, dimension);
    single.addMetric(name, MetricUnit.Count, value);
  }

  gauge(name: MetricName, value: number): void {
    this.target.addMetric(name, MetricUnit.Count, value);
  }
}

/**
 * Correlation ids on every log line of the current invocation (reset by
 * injectLambdaContext), and as annotations on its trace, so X-Ray finds a checkout's
 * traces by session or job id.
 */
export function tagLogs(keys: {
  stripeEventId?: string | undefined;
  stripeSessionId?: string | undefined;
  jobId?: string | undefined;
}): void {
  const defined = Object.fromEntries(
    Object.entries(keys).filter(([, value]) => value !== undefined),
  );
  logger.appendKeys(defined);
  for (const [key, value] of Object.entries(defined)) tracer.putAnnotation(key, value);
}
