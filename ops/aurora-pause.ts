import { type CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import type { Timer } from '../functions/services/reconcile.js';
import { TransportError } from './errors.js';

export interface PauseWait {
  readonly cloudWatch: CloudWatchClient;
  readonly clusterArn: string;
  readonly clock: () => Date;
  readonly timer: Timer;
  /** Give up after this long: the cluster is kept awake by something. */
  readonly maxWaitMs: number;
  readonly pollMs: number;
  readonly note: (text: string) => void;
}

/**
 * Waits until the cluster's writer reports zero capacity for a whole minute
 * (`ServerlessDatabaseCapacity`, as docs/runbooks/database-resuming.md confirms a
 * pause), so the next request meets a resume. Answers how long it waited.
 */
export async function waitForPause(wait: PauseWait): Promise<number> {
  const clusterId = wait.clusterArn.split(':cluster:')[1] ?? wait.clusterArn;
  const started = wait.timer.now();
  let lastNote = Number.NEGATIVE_INFINITY;
  for (;;) {
    const capacity = await currentCapacity(wait.cloudWatch, clusterId, wait.clock());
    const waited = wait.timer.now() - started;
    if (capacity === 0) return waited;
    if (waited >= wait.maxWaitMs) {
      throw new TransportError(
        `Aurora did not pause within ${Math.round(wait.maxWaitMs / 60_000)} min (it reports ${capacity ?? 'no'} ACU)`,
        [
          'Something keeps it awake: traffic, or jobs in flight (the reconciler reads the database until none is). Send the stage none and let them finish; where jobs must stay in flight, deploy it with -c reconcileEnabled=false -c watchdogEnabled=false (docs/runbooks/database-resuming.md, section 3).',
        ],
      );
    }
    if (waited - lastNote >= 60_000) {
      lastNote = waited;
      wait.note(
        `Aurora reports ${capacity ?? 'no'} ACU: waiting for it to pause (5 min without a request)…`,
      );
    }
    await wait.timer.sleep(wait.pollMs);
  }
}

async function currentCapacity(
  cloudWatch: CloudWatchClient,
  clusterId: string,
  now: Date,
): Promise<number | undefined> {
  const { MetricDataResults } = await cloudWatch.send(
    new GetMetricDataCommand({
      StartTime: new Date(now.getTime() - 5 * 60_000),
      EndTime: now,
      ScanBy: 'TimestampDescending',
      MetricDataQueries: [
        {
          Id: 'capacity',
          MetricStat: {
            Metric: {
              Namespace: 'AWS/RDS',
              MetricName: 'ServerlessDatabaseCapacity',
              Dimensions: [{ Name: 'DBClusterIdentifier', Value: clusterId }],
            },
            Period: 60,
            Stat: 'Maximum',
          },
        },
      ],
    }),
  );
  return MetricDataResults?.[0]?.Values?.[0];
}
