import {
  BeginTransactionCommand,
  CommitTransactionCommand,
  ExecuteStatementCommand,
  RDSDataClient,
  type RDSDataClientConfig,
  RollbackTransactionCommand,
} from '@aws-sdk/client-rds-data';
import { DATA_API_RETRY_BUDGET_SECONDS } from '../core/resume-budget.js';
import { type RetryDeps, type RetryPolicy, realRetryDeps, retryTransient } from '../core/retry.js';
import { classifyDataApiFault, isDatabaseResuming } from './data-api-faults.js';
import { decodeRecords, toSqlParameter } from './data-api-values.js';
import {
  AmbiguousFaultError,
  type BoundParams,
  DatabaseResumingError,
  type DecodedRow,
  type ExecuteOptions,
  type SqlExecutor,
  StatementError,
} from './executor.js';
import { stripComments } from './sql-text.js';

export interface DataApiTarget {
  readonly resourceArn: string;
  readonly secretArn: string;
  readonly database: string;
}

export interface DataApiExecutorOptions {
  readonly retry?: RetryPolicy;
  readonly retryDeps?: RetryDeps;
  /** Called before each wait: the fault (the SDK's own error), the attempt that failed, the wait. */
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/** Capped exponential backoff with full jitter, within a background function's budget. */
export const DEFAULT_DATA_API_RETRY: RetryPolicy = {
  baseDelayMs: 250,
  maxDelayMs: 4_000,
  budgetMs: DATA_API_RETRY_BUDGET_SECONDS.background * 1000,
};

/**
 * The RDS Data client the executor needs: the SDK's own retries are off, because the
 * SDK repeats timeouts and dropped connections, which can come after a statement ran;
 * the executor retries only what it knows is safe to repeat.
 */
export function dataApiClient(config: RDSDataClientConfig = {}): RDSDataClient {
  return new RDSDataClient({ ...config, maxAttempts: 1 });
}

/** What one call may do when it fails, and how errors name it. */
interface CallIntent {
  readonly what: string;
  /** Whether the call may be sent again after an ambiguous fault. */
  readonly replayable: boolean;
}

/**
 * Runs statements through the RDS Data API, one call per statement, comments stripped.
 * A fault that provably came before the statement ran (Aurora resuming, throttling, no
 * connection) is retried within the budget; an ambiguous one (a timeout or a dropped
 * connection, after which the statement may have run) only for a statement declared
 * replay-safe; a commit is never sent twice.
 */
export class DataApiExecutor implements SqlExecutor {
  constructor(
    private readonly client: RDSDataClient,
    private readonly target: DataApiTarget,
    private readonly options: DataApiExecutorOptions = {},
    private readonly transactionId?: string,
  ) {}

  async execute(
    sql: string,
    params: BoundParams = {},
    options: ExecuteOptions = {},
  ): Promise<DecodedRow[]> {
    const input = {
      ...this.target,
      sql: stripComments(sql),
      parameters: Object.entries(params).map(([name, param]) => toSqlParameter(name, param)),
      includeResultMetadata: true,
      transactionId: this.transactionId,
    };
    // A command per attempt: the SDK resolves its middleware on each send.
    const output = await this.call(() => this.client.send(new ExecuteStatementCommand(input)), {
      what: options.name ? `statement "${options.name}"` : 'the statement',
      replayable: options.replay === 'safe',
    });
    return decodeRecords(output);
  }

  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    if (this.transactionId) return work(this);
    // A repeated BeginTransaction at worst leaves an empty transaction that expires.
    const { transactionId } = await this.call(
      () => this.client.send(new BeginTransactionCommand(this.target)),
      { what: 'BeginTransaction', replayable: true },
    );
    if (!transactionId) throw new Error('Data API BeginTransaction answered no transactionId');
    const tx = new DataApiExecutor(this.client, this.target, this.options, transactionId);
    const ids = {
      resourceArn: this.target.resourceArn,
      secretArn: this.target.secretArn,
      transactionId,
    };
    let result: T;
    try {
      result = await work(tx);
    } catch (error) {
      // The Data API forgets a transaction after a statement error; a failed rollback
      // of an already-forgotten transaction must not hide the original error.
      await this.client.send(new RollbackTransactionCommand(ids)).catch(() => undefined);
      throw error;
    }
    // A commit whose answer was lost may have committed: never sent twice.
    await this.call(() => this.client.send(new CommitTransactionCommand(ids)), {
      what: 'CommitTransaction',
      replayable: false,
    });
    return result;
  }

  private async call<T>(send: () => Promise<T>, intent: CallIntent): Promise<T> {
    const policy = this.options.retry ?? DEFAULT_DATA_API_RETRY;
    const retryable = (error: unknown) => {
      const fault = classifyDataApiFault(error);
      return fault === 'before_run' || (fault === 'ambiguous' && intent.replayable);
    };
    try {
      return await retryTransient(
        send,
        retryable,
        policy,
        this.options.retryDeps ?? realRetryDeps,
        this.options.onRetry,
      );
    } catch (error) {
      throw asExecutorError(error, intent, policy);
    }
  }
}

/** The SDK's error as the executor's callers read it. */
function asExecutorError(error: unknown, intent: CallIntent, policy: RetryPolicy): unknown {
  if (!(error instanceof Error)) return error;
  if (error.name === 'BadRequestException' || error.name === 'DatabaseErrorException') {
    return new StatementError(error.message, sqlStateOf(error.message), { cause: error });
  }
  if (isDatabaseResuming(error)) {
    return new DatabaseResumingError(
      `the database was still resuming from a pause after ${policy.budgetMs / 1000} s of retries`,
      { cause: error },
    );
  }
  if (classifyDataApiFault(error) === 'ambiguous' && !intent.replayable) {
    return new AmbiguousFaultError(
      `${intent.what} may have run before the Data API call failed (${error.name}: ${error.message}); it is not replay-safe, so it was not sent again`,
      { cause: error },
    );
  }
  return error;
}

function sqlStateOf(message: string): string | undefined {
  return /SQLState: ([0-9A-Z]{5})/.exec(message)?.[1];
}
