import { GetParameterCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';

/**
 * Where the reconciler keeps, outside the database, whether anything may be in flight,
 * so that a tick on an idle system reads it instead of waking Aurora. Three values:
 * - `awake`: something may be in flight; the next tick reads the database. A writer that
 *   may have put something in flight sets it (see `services/quiet.ts`).
 * - `armed` (since T): a run found nothing in flight at T; the next run confirms.
 * - `quiet` (since T): confirmed by a second run; ticks publish the gauge (0) alone.
 */
export type QuietState =
  | { readonly state: 'awake' }
  | { readonly state: 'armed' | 'quiet'; readonly since: Date };

export interface QuietMarker {
  read(): Promise<QuietState>;
  write(state: QuietState): Promise<void>;
}

const AWAKE = 'awake';

/** The marker's text: `awake`, `armed <ISO time>` or `quiet <ISO time>`. */
function formatQuietState(state: QuietState): string {
  return state.state === 'awake' ? AWAKE : `${state.state} ${state.since.toISOString()}`;
}

/** Anything unreadable is `awake`: the safe reading, which makes the next tick look. */
function parseQuietState(text: string | undefined): QuietState {
  const match = /^(armed|quiet) (\S+)$/.exec(text ?? '');
  const since = new Date(match?.[2] ?? Number.NaN);
  if (!match || Number.isNaN(since.getTime())) return { state: 'awake' };
  return { state: match[1] as 'armed' | 'quiet', since };
}

/**
 * An SSM parameter (Standard tier: no charge for it or its calls). Only the reconciler
 * and the first writers after an idle period call it, never every request, so its
 * account-wide throughput (40 calls/s) is never a limit.
 */
export class SsmQuietMarker implements QuietMarker {
  constructor(
    private readonly client: SSMClient,
    private readonly name: string,
  ) {}

  async read(): Promise<QuietState> {
    const answer = await this.client.send(new GetParameterCommand({ Name: this.name }));
    return parseQuietState(answer.Parameter?.Value);
  }

  async write(state: QuietState): Promise<void> {
    await this.client.send(
      new PutParameterCommand({
        Name: this.name,
        Value: formatQuietState(state),
        Type: 'String',
        Overwrite: true,
      }),
    );
  }
}

/** The local runtime's and the tests' marker: a value in memory, every write counted. */
export class InMemoryQuietMarker implements QuietMarker {
  writes = 0;
  reads = 0;
  constructor(private state: QuietState = { state: 'awake' }) {}

  async read(): Promise<QuietState> {
    this.reads += 1;
    return this.state;
  }

  async write(state: QuietState): Promise<void> {
    this.writes += 1;
    this.state = state;
  }
}
