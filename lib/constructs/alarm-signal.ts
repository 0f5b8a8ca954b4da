import type { MetricName } from '../../functions/adapters/telemetry.js';

/** The stage's threshold settings (`backlogWarning`…), which some signals fire at. */
export interface AlarmThresholds {
  readonly backlogWarning: number;
  readonly backlogCritical: number;
  readonly oldestMessageSeconds: number;
}

/** What an alarm watches: a metric the functions publish, or one AWS keeps for a part of the stack. */
export type AlarmMetric =
  | { readonly product: MetricName }
  | {
      readonly queue:
        | 'handoff'
        | 'handoffDeadLetter'
        | 'scheduleDeadLetter'
        | 'stripeEvents'
        | 'stripeEventsDeadLetter';
      readonly measure: 'visible' | 'oldestAge';
    }
  /** `routes`: every route's 5xx (`HttpServerError`) summed; `gateway`: API Gateway's own. */
  | { readonly serverErrors: 'routes' | 'gateway' }
  | { readonly function: 'errors' | 'throttles' };

/** When an alarm fires: above its threshold for one period unless said otherwise. */
export interface AlarmSignal {
  readonly metric: AlarmMetric;
  readonly statistic: 'Sum' | 'Maximum' | 'Minimum' | 'SampleCount';
  readonly periodMinutes: number;
  /** A number, or the threshold setting that gives it. */
  readonly threshold: number | keyof AlarmThresholds;
  /** Default `greaterThan`. */
  readonly comparison?: 'greaterThan' | 'greaterThanOrEqual' | 'lessThan';
  /** Default 1. */
  readonly evaluationPeriods?: number;
  /** How many of `evaluationPeriods` must breach; default all. */
  readonly datapointsToAlarm?: number;
  /** No data is a breach (a gauge that stopped coming); otherwise nothing happened. */
  readonly missingDataBreaches?: true;
}

/** The signal in words, for the meanings: each number said once, in the signal. */
export interface SignalWords {
  readonly threshold: number;
  /** The threshold of a metric in seconds, as a time: `15 minutes`. */
  readonly thresholdTime: string;
  /** All the periods evaluated: `30 minutes`. */
  readonly window: string;
  /** `2 of the last 3 five-minute periods`. */
  readonly periods: string;
}

/** The threshold a signal fires at, with the stage's threshold settings. */
export function thresholdOf(signal: AlarmSignal, thresholds: AlarmThresholds): number {
  return typeof signal.threshold === 'number' ? signal.threshold : thresholds[signal.threshold];
}

const SPELLED = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
const minutes = (count: number) => (count === 1 ? '1 minute' : `${count} minutes`);

export function signalWords(signal: AlarmSignal, thresholds: AlarmThresholds): SignalWords {
  const threshold = thresholdOf(signal, thresholds);
  const evaluated = signal.evaluationPeriods ?? 1;
  const period = SPELLED[signal.periodMinutes] ?? String(signal.periodMinutes);
  return {
    threshold,
    thresholdTime: minutes(threshold / 60),
    window: minutes(signal.periodMinutes * evaluated),
    periods: `${signal.datapointsToAlarm ?? evaluated} of the last ${evaluated} ${period}-minute periods`,
  };
}
