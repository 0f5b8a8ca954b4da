import type { MetricName, TelemetryRegistry } from '../functions/adapters/telemetry.js';

/** `CheckoutRecorded` → `provisioning_checkout_recorded_total`. */
export function prometheusName(name: MetricName, kind: 'counter' | 'gauge'): string {
  const snake = name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
    .toLowerCase();
  const prefixed = snake.startsWith('provisioning_') ? snake : `provisioning_${snake}`;
  return kind === 'counter' ? `${prefixed}_total` : prefixed;
}

/**
 * Prometheus text exposition of the local runtime: `provisioning_jobs_stuck` (counted
 * from the database at scrape time, exactly as the alarm's gauge) and every counter
 * the handlers reported since start.
 */
export function renderPrometheus(registry: TelemetryRegistry, stuck: number): string {
  const lines = [
    '# HELP provisioning_jobs_stuck Jobs not provisioned with no progress for STUCK_AFTER_SECONDS or at MAX_ATTEMPTS.',
    '# TYPE provisioning_jobs_stuck gauge',
    `provisioning_jobs_stuck ${stuck}`,
  ];
  for (const [name, value] of [...registry.counters].sort(([a], [b]) => a.localeCompare(b))) {
    const metric = prometheusName(name, 'counter');
    lines.push(`# TYPE ${metric} counter`, `${metric} ${value}`);
  }
  for (const [name, series] of [...registry.dimensioned].sort(([a], [b]) => a.localeCompare(b))) {
    const metric = prometheusName(name, 'counter');
    lines.push(`# TYPE ${metric} counter`);
    for (const [, { dimensions, value }] of [...series].sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(`${metric}{${labelsOf(dimensions)}} ${value}`);
    }
  }
  for (const [name, value] of [...registry.gauges].sort(([a], [b]) => a.localeCompare(b))) {
    if (name === 'ProvisioningJobsStuck') continue;
    const metric = prometheusName(name, 'gauge');
    lines.push(`# TYPE ${metric} gauge`, `${metric} ${value}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `{route: 'status'}` → `route="status"` (values are route names, never user input). */
function labelsOf(dimensions: Readonly<Record<string, string>>): string {
  return Object.entries(dimensions)
    .map(([key, value]) => `${key}="${value.replace(/["\\\n]/g, '_')}"`)
    .join(',');
}
