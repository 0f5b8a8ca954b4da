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

export interface SqlExecutor {
  /** Runs one statement (never a script) and returns its decoded rows. */
  execute(sql: string, params?: BoundParams): Promise<DecodedRow[]>;
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
