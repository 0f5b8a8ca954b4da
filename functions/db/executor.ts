/**
 * The one seam between the repository and a database. Two implementations run the
 * same statement text: `DataApiExecutor` (Aurora, through the RDS Data API) and
 * `PgExecutor` (a PostgreSQL server, locally and in tests).
 */

/** The SQL type a parameter is bound as; the Data API executor maps each to a `typeHint`. */
export type ParamType = 'text' | 'int' | 'bool' | 'uuid' | 'timestamp' | 'json' | 'decimal';

export interface ParamTypeValues {
  text: string;
  int: number;
  bool: boolean;
  uuid: string;
  timestamp: Date;
  json: unknown;
  decimal: string;
}

export type BoundParam = {
  [T in ParamType]: { readonly type: T; readonly value: ParamTypeValues[T] | null };
}[ParamType];

export type BoundParams = Readonly<Record<string, BoundParam>>;

/**
 * A result row with values already decoded the same way by both executors:
 * integers as numbers, numeric as strings, timestamps as Dates, json as parsed values,
 * NULL as null.
 */
export type DecodedRow = Record<string, unknown>;

/**
 * Whether a statement may be sent again, with the same values, after a fault that
 * leaves its outcome unknown (the call timed out or its connection dropped after the
 * request left, so it may have run and committed). `safe`: run twice in a row, it
 * leaves the database as one run does and answers what the first run answered, so the
 * caller cannot tell a replay from one run: a read; an upsert; a write keyed by a value
 * the call carries (an id generated before the call, the call's `now`) whose answer
 * compares the stored row with that value. `never` (the default): the fault is
 * surfaced as `AmbiguousFaultError`. Faults that provably happened before the
 * statement ran are retried either way.
 */
export type Replay = 'safe' | 'never';

export interface ExecuteOptions {
  readonly replay?: Replay;
  /** Names the statement in errors and logs. */
  readonly name?: string;
  /**
   * A fixed text (every defined statement, the migration ledger's DDL among them): an
   * executor may prepare it once per connection. Never set for text built at run time,
   * of which each variant would be prepared and kept on every connection.
   */
  readonly prepared?: boolean;
}

export interface SqlExecutor {
  /** Runs one statement (never a script) and returns its decoded rows. */
  execute(sql: string, params?: BoundParams, options?: ExecuteOptions): Promise<DecodedRow[]>;
  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
}

/** A statement failed in the database itself (constraint, syntax, type): never retried. */
export class StatementError extends Error {
  override readonly name = 'StatementError';
  constructor(
    message: string,
    readonly sqlState?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * A call failed in a way that leaves its outcome unknown: the statement (or the commit)
 * may have run. It was not sent again because it is not declared replay-safe; the
 * caller's own retry (Stripe's, the queue's, the schedule's) must judge by what the
 * database holds now.
 */
export class AmbiguousFaultError extends Error {
  override readonly name = 'AmbiguousFaultError';
}

/**
 * Aurora was still resuming from a pause when the retry budget ran out. Nothing was
 * written; the same request succeeds once the cluster is awake (the longest reported
 * wake-up is about 30 s).
 */
export class DatabaseResumingError extends Error {
  override readonly name = 'DatabaseResumingError';
  /** When a caller should try again. */
  readonly retryAfterSeconds = 30;
}
