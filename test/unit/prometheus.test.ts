import { describe, expect, it } from 'vitest';
import { TelemetryRegistry } from '../../functions/adapters/telemetry.js';
import { prometheusName, renderPrometheus } from '../../local/prometheus.js';

/** Prometheus text exposition: a metric name, one space, a number. */
const SAMPLE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*\})?) (-?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|NaN|\+Inf|-Inf))$/;
const TYPE = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$/;
const HELP = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$/;

/** Reads the exposition back the way a scraper does, failing on any line it would reject. */
function scrape(text: string) {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  for (const line of text.split('\n').filter((l) => l !== '')) {
    const type = TYPE.exec(line);
    const help = HELP.exec(line);
    const sample = SAMPLE.exec(line);
    if (type?.[1] && type[2]) {
      if (types.has(type[1])) throw new Error(`second TYPE line for ${type[1]}`);
      if (samples.has(type[1])) throw new Error(`TYPE of ${type[1]} after its sample`);
      types.set(type[1], type[2]);
    } else if (help?.[1]) {
      helps.set(help[1], line);
    } else if (sample?.[1] && sample[2]) {
      if (samples.has(sample[1])) throw new Error(`second sample for ${sample[1]}`);
      samples.set(sample[1], Number(sample[2]));
    } else {
      throw new Error(`unparseable line: ${JSON.stringify(line)}`);
    }
  }
  return { samples, types, helps };
}

describe('Prometheus exposition of the local runtime', () => {
  it('reports the stuck-jobs gauge with its HELP and TYPE, even when nothing was counted', () => {
    // Prepare
    const registry = new TelemetryRegistry();

    // Act
    const text = renderPrometheus(registry, 3);

    // Assess
    const lines = text.split('\n');
    expect(lines).toContain('provisioning_jobs_stuck 3');
    expect(lines).toContain('# TYPE provisioning_jobs_stuck gauge');
    expect(lines.some((line) => line.startsWith('# HELP provisioning_jobs_stuck '))).toBe(true);
    expect(lines.indexOf('# TYPE provisioning_jobs_stuck gauge')).toBeLessThan(
      lines.indexOf('provisioning_jobs_stuck 3'),
    );
    expect(scrape(text).samples).toEqual(new Map([['provisioning_jobs_stuck', 3]]));
  });

  it('renders every counter as provisioning_<snake_case>_total, typed counter', () => {
    // Prepare
    const registry = new TelemetryRegistry();
    registry.count('CheckoutRecorded');
    registry.count('CheckoutRecorded');
    registry.count('HandoffEnqueueFailed', 4);
    registry.count('CallbackAnswered4xx');

    // Act
    const { samples, types } = scrape(renderPrometheus(registry, 0));

    // Assess
    expect(samples.get('provisioning_checkout_recorded_total')).toBe(2);
    expect(samples.get('provisioning_handoff_enqueue_failed_total')).toBe(4);
    expect(samples.get('provisioning_callback_answered4xx_total')).toBe(1);
    expect(types.get('provisioning_checkout_recorded_total')).toBe('counter');
    expect(types.get('provisioning_handoff_enqueue_failed_total')).toBe('counter');
    expect(types.get('provisioning_callback_answered4xx_total')).toBe('counter');
  });

  it('does not prefix a name that already starts with provisioning twice', () => {
    // Prepare
    const name = 'ProvisioningJobsStuck' as const;

    // Act
    const asCounter = prometheusName(name, 'counter');
    const asGauge = prometheusName(name, 'gauge');

    // Assess
    expect(asCounter).toBe('provisioning_jobs_stuck_total');
    expect(asGauge).toBe('provisioning_jobs_stuck');
  });

  it('renders the gauges other than the stuck one, and the stuck one only from the database count', () => {
    // Prepare
    const registry = new TelemetryRegistry();
    registry.gauge('WatchdogStalledDatabases', 2);
    registry.gauge('WatchdogCappedJobs', 0);
    // The reconciler's last report; the scrape-time count from the database wins.
    registry.gauge('ProvisioningJobsStuck', 9);

    // Act
    const { samples, types } = scrape(renderPrometheus(registry, 5));

    // Assess
    expect(samples.get('provisioning_watchdog_stalled_databases')).toBe(2);
    expect(samples.get('provisioning_watchdog_capped_jobs')).toBe(0);
    expect(types.get('provisioning_watchdog_stalled_databases')).toBe('gauge');
    expect(types.get('provisioning_watchdog_capped_jobs')).toBe('gauge');
    expect(samples.get('provisioning_jobs_stuck')).toBe(5);
  });

  it('is parseable line by line: comments are HELP or TYPE, every other line is name and value', () => {
    // Prepare
    const registry = new TelemetryRegistry();
    registry.count('StripeEventDuplicate');
    registry.count('ReconcileRedriven', 7);
    registry.count('ProvisioningJobsStuck');
    registry.gauge('WatchdogStalledDatabases', 1);
    registry.gauge('ProvisioningJobsStuck', 2);

    // Act
    const text = renderPrometheus(registry, 2);

    // Assess
    expect(text.endsWith('\n')).toBe(true);
    const { samples, types } = scrape(text);
    expect([...samples.keys()].sort()).toEqual([
      'provisioning_jobs_stuck',
      'provisioning_jobs_stuck_total',
      'provisioning_reconcile_redriven_total',
      'provisioning_stripe_event_duplicate_total',
      'provisioning_watchdog_stalled_databases',
    ]);
    for (const name of samples.keys()) expect(types.has(name), name).toBe(true);
  });

  it('renders the answers of each HTTP route as one labelled series per route', () => {
    // Prepare
    const registry = new TelemetryRegistry();
    registry.countFor('HttpServerError', { route: 'stripeWebhook' });
    registry.countFor('HttpServerError', { route: 'stripeWebhook' });
    registry.countFor('HttpServerError', { route: 'callback' });
    registry.countFor('HttpClientError', { route: 'status' }, 3);

    // Act
    const { samples, types } = scrape(renderPrometheus(registry, 0));

    // Assess
    expect(samples.get('provisioning_http_server_error_total{route="stripeWebhook"}')).toBe(2);
    expect(samples.get('provisioning_http_server_error_total{route="callback"}')).toBe(1);
    expect(samples.get('provisioning_http_client_error_total{route="status"}')).toBe(3);
    expect(types.get('provisioning_http_server_error_total')).toBe('counter');
  });
});
