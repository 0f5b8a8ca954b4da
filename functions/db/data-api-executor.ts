import {
  BeginTransactionCommand,
  CommitTransactionCommand,
  ExecuteStatementCommand,
  type ExecuteStatementCommandOutput,
  type Field,
  type RDSDataClient,
  RollbackTransactionCommand,
  type SqlParameter,
} from '@aws-sdk/client-rds-data';
import { type RetryDeps, type RetryPolicy, realRetryDeps, retryTransient } from '../core/retry.js';
import {
  type BoundParam,
  type BoundParams,
  type DecodedRow,
  type SqlExecutor,
  StatementError,
} from './executor.js';

export interface DataApiTarget {
  readonly resourceArn: string;
  readonly secretArn: string;
  readonly database: string;
}

export interface DataApiExecutorOptions {
  readonly retry?: RetryPolicy;
  readonly retryDeps?: RetryDeps;
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Aurora Serverless v2 at zero capacity needs up to ~15 s to resume, and the SDK does
 * not retry `DatabaseResumingException`; 30 s rides that out inside a Lambda timeout.
 */
export const DEFAULT_DATA_API_RETRY: RetryPolicy = {
  baseDelayMs: 250,
  maxDelayMs: 4_000,
  budgetMs: 30_000,
};

/**
 * Faults raised before the statement reached the database, so a repeat cannot apply
 * it twice. Statement errors (BadRequestException, DatabaseErrorException,
 * StatementTimeoutException) are never among them.
 */
const TRANSIENT_ERRORS = new Set([
  'DatabaseResumingException',
  'DatabaseUnavailableException',
  'ThrottlingException',
  'TooManyRequestsException',
  'ServiceUnavailableError',
  'TimeoutError',
]);
const TRANSIENT_NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
]);

export function isTransientDataApiError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (TRANSIENT_ERRORS.has(error.name)) return true;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && TRANSIENT_NETWORK_CODES.has(code);
}

/** Runs statements through the RDS Data API, one call per statement. */
export class DataApiExecutor implements SqlExecutor {
  constructor(
    private readonly client: RDSDataClient,
    private readonly target: DataApiTarget,
    private readonly options: DataApiExecutorOptions = {},
    private readonly transactionId?: string,
  ) {}

  async execute(sql: string, params: BoundParams = {}): Promise<DecodedRow[]> {
    const output = await this.send(() =>
      this.client.send(
        new ExecuteStatementCommand({
          ...this.target,
          sql,
          parameters: Object.entries(params).map(([name, param]) => toSqlParameter(name, param)),
          includeResultMetadata: true,
          transactionId: this.transactionId,
        }),
      ),
    );
    return decodeRecords(output);
  }

  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    if (this.transactionId) return work(this);
    const { transactionId } = await this.send(() =>
      this.client.send(new BeginTransactionCommand(this.target)),
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
    await this.client.send(new CommitTransactionCommand(ids));
    return result;
  }

  private async send<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await retryTransient(
        call,
        isTransientDataApiError,
        this.options.retry ?? DEFAULT_DATA_API_RETRY,
        this.options.retryDeps ?? realRetryDeps,
        this.options.onRetry,
      );
    } catch (error) {
      if (
        error instanceof Error &&
        (error.name === 'BadRequestException' || error.name === 'DatabaseErrorException')
      ) {
        throw new StatementError(error.message, sqlStateOf(error.message), { cause: error });
      }
      throw error;
    }
  }
}

function sqlStateOf(message: string): string | undefined {
  return /SQLState: ([0-9A-Z]{5})/.exec(message)?.[1];
}

/** Encodes one value the way Aurora PostgreSQL needs it, with the type hint that makes it bind. */
export function toSqlParameter(name: string, param: BoundParam): SqlParameter {
  if (param.value === null) return { name, value: { isNull: true } };
  switch (param.type) {
    case 'text':
      return { name, value: { stringValue: param.value } };
    case 'int':
      return { name, value: { longValue: param.value } };
    case 'bool':
      return { name, value: { booleanValue: param.value } };
    case 'uuid':
      return { name, value: { stringValue: param.value }, typeHint: 'UUID' };
    case 'decimal':
      return { name, value: { stringValue: param.value }, typeHint: 'DECIMAL' };
    case 'json':
      return { name, value: { stringValue: JSON.stringify(param.value) }, typeHint: 'JSON' };
    case 'timestamp':
      return {
        name,
        value: { stringValue: toDataApiTimestamp(param.value) },
        typeHint: 'TIMESTAMP',
      };
  }
}

/** `YYYY-MM-DD HH:MM:SS.mmm` in UTC: the only form the TIMESTAMP hint accepts (no `T`, no `Z`). */
export function toDataApiTimestamp(date: Date): string {
  return date.toISOString().replace('T', ' ').replace('Z', '');
}

function decodeRecords(output: ExecuteStatementCommandOutput): DecodedRow[] {
  const columns = output.columnMetadata ?? [];
  return (output.records ?? []).map((record) => {
    const row: DecodedRow = {};
    record.forEach((field, index) => {
      const column = columns[index];
      const key = column?.label ?? column?.name ?? `column${index}`;
      row[key] = decodeField(field, column?.typeName ?? '');
    });
    return row;
  });
}

function decodeField(field: Field, typeName: string): unknown {
  if (field.isNull) return null;
  if (field.longValue !== undefined) return field.longValue;
  if (field.doubleValue !== undefined) return field.doubleValue;
  if (field.booleanValue !== undefined) return field.booleanValue;
  if (field.blobValue !== undefined) return field.blobValue;
  if (field.stringValue === undefined) return null;
  const text = field.stringValue;
  switch (typeName) {
    case 'timestamptz':
    case 'timestamp':
      // The Data API answers timestamps zone-less; sessions run in UTC.
      return new Date(`${text.replace(' ', 'T')}Z`);
    case 'json':
    case 'jsonb':
      return JSON.parse(text);
    default:
      return text;
  }
}
