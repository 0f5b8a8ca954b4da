/**
 * Counters and gauges the product reports. In Lambda they become CloudWatch metrics
 * (EMF, through Powertools); in the local runtime a registry that `/api/metrics`
 * renders as Prometheus text. Names are CamelCase CloudWatch metric names.
 */
/** Powertools' service name (also the `service` dimension of every metric) and namespace. */
export const SERVICE_NAME = 'provisioning-handoff';
export const METRICS_NAMESPACE = 'ProvisioningHandoff';

/**
 * The service name of one stage: the `service` dimension of every metric it reports and
 * the `service` key of its logs, so two stages in one account never share a metric (the
 * STUCK gauge of dev never pages for prod).
 */
export function serviceNameFor(stage: string): string {
  return `${SERVICE_NAME}-${stage}`;
}

/** The dimension that names the HTTP route of `HttpServerError` and `HttpClientError`. */
export const ROUTE_DIMENSION = 'route';

export interface Telemetry {
  count(name: MetricName, value?: number): void;
  /** A count with dimensions of its own besides the service (the route of an HTTP answer). */
  countFor(name: MetricName, dimensions: Readonly<Record<string, string>>, value?: number): void;
  gauge(name: MetricName, value: number): void;
}

export type MetricName =
  | 'CheckoutRecorded'
  | 'StripeEventIgnored'
  | 'StripeThinEventIgnored'
  | 'StripeSessionNotOurs'
  | 'StripeSessionNotProvisioned'
  | 'StripeEventWrongMode'
  | 'StripeEventDuplicate'
  | 'StripeSignatureRejected'
  | 'InputRejected'
  | 'HandoffEnqueued'
  | 'HandoffEnqueueFailed'
  | 'HandoffAccepted'
  | 'HandoffFailed'
  | 'HandoffDeferred'
  | 'HandoffNotSent'
  | 'TriggerUnauthorized'
  /** An HTTP route answered 5xx (dimension `route`): the alarms page on these. */
  | 'HttpServerError'
  /** An HTTP route refused a request with a 4xx (dimension `route`). */
  | 'HttpClientError'
  | 'CallbackAnswered2xx'
  | 'CallbackAnswered4xx'
  | 'CallbackAnswered5xx'
  | 'CallbackSignatureRejected'
  | 'JobProvisioned'
  | 'JobFailed'
  | 'JobCapped'
  | 'JobParked'
  | 'JobCancelled'
  | 'CallbackForCancelledJob'
  | 'BreakerOpened'
  | 'BreakerClosed'
  | 'BreakerOpenSeconds'
  | 'ReconcileProbeSent'
  | 'ReconcileRedriven'
  | 'ReconcileStillFailing'
  | 'ReconcileSkippedNoPayload'
  | 'ProvisioningJobsStuck'
  | 'WatchdogStalledDatabases'
  | 'WatchdogCappedJobs'
  | 'WatchdogNotificationsSent'
  | 'LifecycleEventPublishFailed'
  /** A Data API call answered DatabaseResumingException: Aurora was waking from a pause. */
  | 'DatabaseResuming'
  /** Milliseconds spent waiting before retrying Data API calls (Aurora resuming, throttling). */
  | 'DataApiRetryWaitMs'
  /** A replay-safe statement sent again after a fault that left its outcome unknown. */
  | 'DataApiReplayed'
  /** A paid checkout of ours that only the sweep recorded: no Stripe event had (a webhook problem). */
  | 'MissedCheckouts'
  /** Checkout sessions the sweep read from Stripe's list. */
  | 'SweepSessionsListed'
  /** Stripe answered the sweep 429; it waited and asked again. */
  | 'SweepThrottled'
  /** A Stripe event delivered by Amazon EventBridge (Stripe's event destination), before dedup. */
  | 'StripeEventBridgeReceived'
  /** Checkouts recorded from a webhook delivery, and from an EventBridge delivery. */
  | 'CheckoutRecordedByWebhook'
  | 'CheckoutRecordedByEventBridge';

/** Collects what was reported; the local runtime renders it and tests assert on it. */
export class TelemetryRegistry implements Telemetry {
  readonly counters = new Map<MetricName, number>();
  readonly gauges = new Map<MetricName, number>();
  /** Counts with dimensions, by name and then by their dimensions (`dimensionKey`). */
  readonly dimensioned = new Map<MetricName, Map<string, DimensionedCount>>();

  count(name: MetricName, value = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + value);
  }

  countFor(name: MetricName, dimensions: Readonly<Record<string, string>>, value = 1): void {
    const series = this.dimensioned.get(name) ?? new Map<string, DimensionedCount>();
    const key = dimensionKey(dimensions);
    series.set(key, { dimensions, value: (series.get(key)?.value ?? 0) + value });
    this.dimensioned.set(name, series);
  }

  /** What `countFor` counted for these dimensions (0 when nothing). */
  countedFor(name: MetricName, dimensions: Readonly<Record<string, string>>): number {
    return this.dimensioned.get(name)?.get(dimensionKey(dimensions))?.value ?? 0;
  }

  gauge(name: MetricName, value: number): void {
    this.gauges.set(name, value);
  }
}

export interface DimensionedCount {
  readonly dimensions: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Dimensions in a stable order, `key=value` joined by commas. */
function dimensionKey(dimensions: Readonly<Record<string, string>>): string {
  return Object.entries(dimensions)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}
