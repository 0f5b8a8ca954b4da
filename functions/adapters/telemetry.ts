/**
 * Counters and gauges the product reports. In Lambda they become CloudWatch metrics
 * (EMF, through Powertools); in the local runtime a registry that `/api/metrics`
 * renders as Prometheus text. Names are CamelCase CloudWatch metric names.
 */
/** Powertools' service name (also the `service` dimension of every metric) and namespace. */
export const SERVICE_NAME = 'provisioning-handoff';
export const METRICS_NAMESPACE = 'ProvisioningHandoff';

export interface Telemetry {
  count(name: MetricName, value?: number): void;
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

  count(name: MetricName, value = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + value);
  }

  gauge(name: MetricName, value: number): void {
    this.gauges.set(name, value);
  }
}
