/**
 * A Data-API-faithful bridge for tests: a real `RDSDataClient` whose commands are served
 * by a real PostgreSQL 16, binding every parameter with the type the RDS Data API gives
 * it and answering in the Data API's own shapes and exceptions. A production executor
 * that forgets a `typeHint`, sends an ISO timestamp or a script fails here exactly as it
 * would on Aurora PostgreSQL (Serverless v2 / provisioned).
 *
 * Where the service's behaviour is undocumented, the bridge is the stricter of the
 * plausible behaviours, so nothing passes here that a live cluster might refuse: result
 * types outside the documented list are refused, session state is reset between calls
 * outside a transaction (as `DISCARD ALL` would), idle transactions expire after 3
 * minutes, calls time out after 45 s, and SQL text with a comment or with a `:name` or
 * `;` inside a literal is refused.
 *
 * References for the behaviour imitated: AWS "Calling the Amazon RDS Data API",
 * "Troubleshooting Amazon RDS Data API", "Controlling Data API timeout behavior",
 * "Processing query results in JSON format", the operations reference (data types), the
 * API reference of ExecuteStatement / BeginTransaction / SqlParameter, and errors
 * captured from live clusters.
 */
import { randomBytes } from 'node:crypto';
import {
  BatchExecuteStatementCommand,
  type BatchExecuteStatementCommandInput,
  type BatchExecuteStatementCommandOutput,
  BeginTransactionCommand,
  type BeginTransactionCommandInput,
  type BeginTransactionCommandOutput,
  CommitTransactionCommand,
  type CommitTransactionCommandInput,
  type CommitTransactionCommandOutput,
  ExecuteStatementCommand,
  type ExecuteStatementCommandInput,
  type ExecuteStatementCommandOutput,
  RDSDataClient,
  RollbackTransactionCommand,
  type RollbackTransactionCommandInput,
  type RollbackTransactionCommandOutput,
} from '@aws-sdk/client-rds-data';
import { mockClient } from 'aws-sdk-client-mock';
import pg from 'pg';
import {
  asDataApiError,
  badRequest,
  resuming,
  statementTimeout,
  transactionBusy,
  transactionNotFound,
} from './data-api-errors.js';
import {
  type PreparedStatement,
  prepareStatement,
  rejectSchema,
  requireMembers,
} from './data-api-requests.js';
import {
  assertDocumentedTypes,
  assertWithinSizeLimit,
  type ColumnType,
  describeColumns,
  formatRecords,
  RAW_TEXT,
  toField,
} from './data-api-results.js';

/** One command the bridge received, failed or not: tests count Data API round trips with it. */
export interface BridgeCall {
  readonly command: string;
  readonly sql?: string;
  readonly transactionId?: string;
}

export type DataApiBridgeSource =
  | { readonly pool: pg.Pool }
  | { readonly connectionString: string };

export interface DataApiBridgeOptions {
  /** What "now" is for `resumeFor`: a test's virtual clock, or the real one. */
  readonly clock?: () => number;
  /** A call still running after this long fails with StatementTimeoutException (the Data API's 45 s). */
  readonly statementTimeoutMs?: number;
  /** A transaction no call has used for this long is rolled back and forgotten (the Data API's 3 minutes). */
  readonly idleTransactionTimeoutMs?: number;
}

/**
 * A fault the next matching commands meet: `before` the database is reached (the
 * statement never ran, as with throttling), or `after` the command ran to its end and,
 * outside a transaction, committed (the answer was lost: the caller cannot know).
 */
export interface InjectedFault {
  readonly error: Error;
  readonly at: 'before' | 'after';
  /** How many matching commands fail (default 1). */
  readonly times?: number;
  /** Which commands it hits (default: every command). */
  readonly when?: (call: BridgeCall) => boolean;
}

const DATA_API_STATEMENT_TIMEOUT_MS = 45_000;
const DATA_API_IDLE_TRANSACTION_MS = 3 * 60_000;

/**
 * What `DISCARD ALL` does, spelled out because DISCARD ALL cannot run in the implicit
 * transaction of a multi-statement query; then the session goes back to UTC.
 */
const RESET_SESSION = [
  'SET SESSION AUTHORIZATION DEFAULT',
  'RESET ALL',
  'DEALLOCATE ALL',
  'CLOSE ALL',
  'UNLISTEN *',
  'SELECT pg_advisory_unlock_all()',
  'DISCARD PLANS',
  'DISCARD TEMP',
  'DISCARD SEQUENCES',
  "SET TimeZone = 'UTC'",
].join('; ');

interface OpenTransaction {
  readonly connection: pg.PoolClient;
  /** Serverless v2 refuses a second request on a transaction still running one. */
  busy: boolean;
  idleTimer?: NodeJS.Timeout;
}

type StatementOptions = Pick<
  ExecuteStatementCommandInput,
  'includeResultMetadata' | 'formatRecordsAs' | 'continueAfterTimeout'
>;

/** A statement past the call timeout that goes on running (continueAfterTimeout). */
class ContinuingStatement extends Error {
  constructor(readonly finished: Promise<unknown>) {
    super('statement continues after the call timed out');
  }
}

const COMMAND_NAMES = {
  execute: 'ExecuteStatementCommand',
  batch: 'BatchExecuteStatementCommand',
  begin: 'BeginTransactionCommand',
  commit: 'CommitTransactionCommand',
  rollback: 'RollbackTransactionCommand',
} as const;

/** Serves RDS Data API commands from a PostgreSQL database, as Aurora would answer them. */
export class DataApiBridge {
  /** Every command received, in order, including the ones that failed. */
  readonly calls: BridgeCall[] = [];

  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly clock: () => number;
  private readonly statementTimeoutMs: number;
  private readonly idleTransactionTimeoutMs: number;
  private readonly utcConnections = new WeakSet<pg.PoolClient>();
  private readonly columnTypes = new Map<number, ColumnType>();
  private readonly transactions = new Map<string, OpenTransaction>();
  private readonly restorers: (() => void)[] = [];
  private readonly faults: { fault: InjectedFault; remaining: number }[] = [];
  private readonly continuing = new Set<Promise<unknown>>();
  private resumingUntil = 0;

  constructor(source: DataApiBridgeSource, options: DataApiBridgeOptions = {}) {
    if ('pool' in source) {
      this.pool = source.pool;
      this.ownsPool = false;
    } else {
      this.pool = new pg.Pool({ connectionString: source.connectionString, max: 10 });
      this.ownsPool = true;
    }
    this.clock = options.clock ?? Date.now;
    this.statementTimeoutMs = options.statementTimeoutMs ?? DATA_API_STATEMENT_TIMEOUT_MS;
    this.idleTransactionTimeoutMs =
      options.idleTransactionTimeoutMs ?? DATA_API_IDLE_TRANSACTION_MS;
  }

  /** A real RDSDataClient whose five Data API commands are answered by this bridge. */
  client(): RDSDataClient {
    const client = new RDSDataClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIABRIDGEFAKE', secretAccessKey: 'bridge-fake-secret' },
    });
    const stub = mockClient(client);
    stub
      .onAnyCommand()
      .callsFake(() => Promise.reject(badRequest('Command not served by DataApiBridge')));
    stub
      .on(ExecuteStatementCommand)
      .callsFake((input: ExecuteStatementCommandInput) =>
        this.serve(callOf(COMMAND_NAMES.execute, input), () => this.executeStatement(input)),
      );
    stub
      .on(BatchExecuteStatementCommand)
      .callsFake((input: BatchExecuteStatementCommandInput) =>
        this.serve(callOf(COMMAND_NAMES.batch, input), () => this.batchExecuteStatement(input)),
      );
    stub
      .on(BeginTransactionCommand)
      .callsFake((input: BeginTransactionCommandInput) =>
        this.serve(callOf(COMMAND_NAMES.begin, {}), () => this.beginTransaction(input)),
      );
    stub
      .on(CommitTransactionCommand)
      .callsFake((input: CommitTransactionCommandInput) =>
        this.serve(callOf(COMMAND_NAMES.commit, input), () => this.commitTransaction(input)),
      );
    stub
      .on(RollbackTransactionCommand)
      .callsFake((input: RollbackTransactionCommandInput) =>
        this.serve(callOf(COMMAND_NAMES.rollback, input), () => this.rollbackTransaction(input)),
      );
    this.restorers.push(() => stub.restore());
    return client;
  }

  /**
   * Every command sent in the next `ms` (by the bridge's clock) fails with
   * DatabaseResumingException, as Aurora Serverless v2 answers while it wakes from zero
   * capacity (about 15 s, 30 s or more after a long pause; the SDK does not retry it).
   */
  resumeFor(ms: number): void {
    this.resumingUntil = this.clock() + ms;
  }

  /** The next `times` commands fail with `error` before reaching the database (throttling, no connection…). */
  failNext(error: Error, times = 1): void {
    this.injectFault({ error, at: 'before', times });
  }

  injectFault(fault: InjectedFault): void {
    this.faults.push({ fault, remaining: fault.times ?? 1 });
  }

  /** Rolls back and releases every open transaction, waits for continuing statements, and stops intercepting clients. */
  async close(): Promise<void> {
    const open = [...this.transactions.values()];
    this.transactions.clear();
    for (const transaction of open) {
      clearTimeout(transaction.idleTimer);
      await this.endTransaction(transaction, 'ROLLBACK').catch(() => undefined);
    }
    await Promise.allSettled([...this.continuing]);
    for (const restore of this.restorers) restore();
    if (this.ownsPool) await this.pool.end();
  }

  // --- Commands ----------------------------------------------------------------------

  private async executeStatement(
    input: ExecuteStatementCommandInput,
  ): Promise<ExecuteStatementCommandOutput> {
    requireMembers(input, ['resourceArn', 'secretArn', 'sql']);
    rejectSchema(input);
    const statement = prepareStatement(input.sql ?? '', input.parameters ?? []);
    const run = (connection: pg.ClientBase) => this.runStatement(connection, statement, input);
    if (input.transactionId) return this.inTransaction(input.transactionId, run);
    return this.withConnection(run);
  }

  private async batchExecuteStatement(
    input: BatchExecuteStatementCommandInput,
  ): Promise<BatchExecuteStatementCommandOutput> {
    requireMembers(input, ['resourceArn', 'secretArn', 'sql']);
    rejectSchema(input);
    const sql = input.sql ?? '';
    const statements = (input.parameterSets ?? []).map((set) => () => prepareStatement(sql, set));
    const run = async (connection: pg.ClientBase) => {
      for (const statement of statements) await this.query(connection, statement());
      return { updateResults: statements.map(() => ({ generatedFields: [] })), $metadata: {} };
    };
    if (input.transactionId) return this.inTransaction(input.transactionId, run);
    // Without a transactionId the whole batch commits or fails as one.
    return this.withConnection(async (connection) => {
      await connection.query('BEGIN');
      try {
        const output = await run(connection);
        await connection.query('COMMIT');
        return output;
      } catch (error) {
        await connection.query('ROLLBACK');
        throw error;
      }
    });
  }

  private async beginTransaction(
    input: BeginTransactionCommandInput,
  ): Promise<BeginTransactionCommandOutput> {
    requireMembers(input, ['resourceArn', 'secretArn']);
    rejectSchema(input);
    const connection = await this.connect();
    try {
      await connection.query('BEGIN');
    } catch (error) {
      connection.release();
      throw asDataApiError(error);
    }
    const transactionId = randomBytes(96).toString('base64');
    const transaction: OpenTransaction = { connection, busy: false };
    this.transactions.set(transactionId, transaction);
    this.armIdleExpiry(transactionId, transaction);
    return { transactionId, $metadata: {} };
  }

  private async commitTransaction(
    input: CommitTransactionCommandInput,
  ): Promise<CommitTransactionCommandOutput> {
    requireMembers(input, ['resourceArn', 'secretArn', 'transactionId']);
    const transaction = this.takeTransaction(input.transactionId ?? '');
    await this.endTransaction(transaction, 'COMMIT');
    return { transactionStatus: 'Transaction Committed', $metadata: {} };
  }

  private async rollbackTransaction(
    input: RollbackTransactionCommandInput,
  ): Promise<RollbackTransactionCommandOutput> {
    requireMembers(input, ['resourceArn', 'secretArn', 'transactionId']);
    const transaction = this.takeTransaction(input.transactionId ?? '');
    await this.endTransaction(transaction, 'ROLLBACK');
    return { transactionStatus: 'Rollback Complete', $metadata: {} };
  }

  // --- Statements --------------------------------------------------------------------

  private async runStatement(
    connection: pg.ClientBase,
    statement: PreparedStatement,
    options: StatementOptions,
  ): Promise<ExecuteStatementCommandOutput> {
    const result = await this.withinCallTimeout(
      connection,
      this.query(connection, statement),
      options.continueAfterTimeout ?? false,
    );
    const output = result.fields.length
      ? await this.resultSetOutput(connection, result, options)
      : { numberOfRecordsUpdated: result.rowCount ?? 0, generatedFields: [] };
    assertWithinSizeLimit(output);
    return { ...output, $metadata: {} };
  }

  /** A statement that answered rows: `records` (or `formattedRecords`) and optional metadata. */
  private async resultSetOutput(
    connection: pg.ClientBase,
    result: pg.QueryArrayResult<(string | null)[]>,
    options: StatementOptions,
  ): Promise<Omit<ExecuteStatementCommandOutput, '$metadata'>> {
    const types = await this.typesOf(connection, result.fields);
    assertDocumentedTypes(result.fields, types);
    const records = result.rows.map((row) =>
      row.map((text, index) => toField(text, result.fields[index]?.dataTypeID ?? 0)),
    );
    // JDBC reports no update count for a result set, so the Data API answers 0 here.
    if (options.formatRecordsAs === 'JSON') {
      const labels = result.fields.map((field) => field.name);
      return { numberOfRecordsUpdated: 0, formattedRecords: formatRecords(labels, records) };
    }
    const columnMetadata = options.includeResultMetadata
      ? await describeColumns(connection, result.fields, types)
      : undefined;
    return { numberOfRecordsUpdated: 0, records, ...(columnMetadata ? { columnMetadata } : {}) };
  }

  private query(
    connection: pg.ClientBase,
    statement: PreparedStatement,
  ): Promise<pg.QueryArrayResult<(string | null)[]>> {
    return connection.query<(string | null)[]>({
      text: statement.text,
      values: statement.values,
      rowMode: 'array',
      types: RAW_TEXT,
    });
  }

  /**
   * The Data API's call timeout: past it the call fails with StatementTimeoutException
   * and the statement is cancelled ("the data isn't inserted"), unless
   * `continueAfterTimeout` asked it to go on running, holding its session until done.
   */
  private async withinCallTimeout<T>(
    connection: pg.ClientBase,
    running: Promise<T>,
    continueAfterTimeout: boolean,
  ): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timed out'>((resolve) => {
      timer = setTimeout(() => resolve('timed out'), this.statementTimeoutMs);
    });
    const outcome = await Promise.race([
      running.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
      timedOut,
    ]);
    clearTimeout(timer);
    if (outcome !== 'timed out') {
      if ('error' in outcome) throw outcome.error;
      return outcome.value;
    }
    if (continueAfterTimeout) throw new ContinuingStatement(running);
    await this.cancel(connection);
    await running.catch(() => undefined);
    throw statementTimeout();
  }

  private async cancel(connection: pg.ClientBase): Promise<void> {
    const pid = (connection as unknown as { processID?: number }).processID;
    await this.pool.query('SELECT pg_cancel_backend($1)', [pid]);
  }

  /** Type names of the result's columns, looked up in pg_type once per type. */
  private async typesOf(
    connection: pg.ClientBase,
    fields: readonly pg.FieldDef[],
  ): Promise<ReadonlyMap<number, ColumnType>> {
    const unknown = fields
      .map((field) => field.dataTypeID)
      .filter((oid) => !this.columnTypes.has(oid));
    if (unknown.length > 0) {
      const result = await connection.query<string[]>({
        text: 'SELECT oid, typname, typtype FROM pg_type WHERE oid = ANY($1::oid[])',
        values: [unknown],
        rowMode: 'array',
        types: RAW_TEXT,
      });
      for (const [oid, name, kind] of result.rows) {
        this.columnTypes.set(Number(oid), { name: name ?? '', isEnum: kind === 'e' });
      }
    }
    return this.columnTypes;
  }

  // --- Connections and transactions ----------------------------------------------------

  /** A pool connection whose session runs in UTC, as every Data API session does. */
  private async connect(): Promise<pg.PoolClient> {
    const connection = await this.pool.connect();
    if (!this.utcConnections.has(connection)) {
      try {
        await connection.query("SET TimeZone = 'UTC'");
      } catch (error) {
        connection.release(error instanceof Error ? error : true);
        throw error;
      }
      this.utcConnections.add(connection);
    }
    return connection;
  }

  /**
   * Gives a session back with nothing of the last call left on it (settings, session
   * advisory locks, temporary tables, prepared statements): the service may hand the
   * next request another connection, or reset this one.
   */
  private release(connection: pg.PoolClient): Promise<void> {
    return connection.query(RESET_SESSION).then(
      () => connection.release(),
      (error: unknown) => connection.release(error instanceof Error ? error : true),
    );
  }

  /** Runs one autocommitted call on a connection of its own. */
  private async withConnection<T>(work: (connection: pg.ClientBase) => Promise<T>): Promise<T> {
    const connection = await this.connect();
    try {
      const result = await work(connection);
      await this.release(connection);
      return result;
    } catch (error) {
      if (error instanceof ContinuingStatement) {
        this.track(error.finished.finally(() => this.release(connection)));
        throw statementTimeout();
      }
      await this.release(connection);
      throw asDataApiError(error);
    }
  }

  /**
   * Runs one call inside an open transaction. Any error ends the transaction: Aurora
   * rolls it back and forgets its id ("aborted due to an error from a previous call").
   * A statement that continues past the call timeout keeps the transaction busy until
   * it ends; if it fails, the transaction is aborted then.
   */
  private async inTransaction<T>(
    transactionId: string,
    work: (connection: pg.ClientBase) => Promise<T>,
  ): Promise<T> {
    const transaction = this.findTransaction(transactionId);
    if (transaction.busy) throw transactionBusy();
    transaction.busy = true;
    clearTimeout(transaction.idleTimer);
    try {
      const result = await work(transaction.connection);
      this.settle(transactionId, transaction);
      return result;
    } catch (error) {
      if (error instanceof ContinuingStatement) {
        this.track(
          error.finished.then(
            () => this.settle(transactionId, transaction),
            () => this.abort(transactionId, transaction),
          ),
        );
        throw statementTimeout();
      }
      await this.abort(transactionId, transaction);
      throw asDataApiError(error);
    }
  }

  /** The transaction is free for its next call, and idle from now on. */
  private settle(transactionId: string, transaction: OpenTransaction): void {
    transaction.busy = false;
    this.armIdleExpiry(transactionId, transaction);
  }

  private async abort(transactionId: string, transaction: OpenTransaction): Promise<void> {
    transaction.busy = false;
    if (this.transactions.get(transactionId) !== transaction) return;
    this.transactions.delete(transactionId);
    await this.endTransaction(transaction, 'ROLLBACK').catch(() => undefined);
  }

  /** "A transaction times out if no calls use its transaction ID in three minutes": rolled back. */
  private armIdleExpiry(transactionId: string, transaction: OpenTransaction): void {
    if (this.transactions.get(transactionId) !== transaction) return;
    clearTimeout(transaction.idleTimer);
    transaction.idleTimer = setTimeout(() => {
      if (!transaction.busy) this.track(this.abort(transactionId, transaction));
    }, this.idleTransactionTimeoutMs);
    transaction.idleTimer.unref();
  }

  private findTransaction(transactionId: string): OpenTransaction {
    const transaction = this.transactions.get(transactionId);
    if (!transaction) throw transactionNotFound(transactionId);
    return transaction;
  }

  /** Removes a transaction from the open ones: commit and rollback both end it. */
  private takeTransaction(transactionId: string): OpenTransaction {
    const transaction = this.findTransaction(transactionId);
    if (transaction.busy) throw transactionBusy();
    this.transactions.delete(transactionId);
    clearTimeout(transaction.idleTimer);
    return transaction;
  }

  /** Ends a transaction's session work and gives its connection back to the pool, reset. */
  private async endTransaction(
    transaction: OpenTransaction,
    verb: 'COMMIT' | 'ROLLBACK',
  ): Promise<void> {
    try {
      await transaction.connection.query(verb);
    } catch (error) {
      transaction.connection.release(error instanceof Error ? error : true);
      throw asDataApiError(error);
    }
    await this.release(transaction.connection);
  }

  /** Work that outlives the call that started it; `close` waits for it. */
  private track(work: Promise<unknown>): void {
    const settled = work.catch(() => undefined);
    this.continuing.add(settled);
    void settled.finally(() => this.continuing.delete(settled));
  }

  // --- Observation and fault injection -------------------------------------------------

  /**
   * Records the call; applies a `before` fault or the resume before the database is
   * reached; runs the command; then applies an `after` fault to a command that
   * succeeded, so its work stands but its answer is lost.
   */
  private async serve<T>(call: BridgeCall, handle: () => Promise<T>): Promise<T> {
    this.calls.push(call);
    const before = this.takeFault('before', call);
    if (before) throw before;
    if (this.clock() < this.resumingUntil) throw resuming();
    const output = await handle();
    const after = this.takeFault('after', call);
    if (after) throw after;
    return output;
  }

  private takeFault(at: InjectedFault['at'], call: BridgeCall): Error | undefined {
    const index = this.faults.findIndex(
      ({ fault }) => fault.at === at && (fault.when?.(call) ?? true),
    );
    const entry = this.faults[index];
    if (!entry) return undefined;
    entry.remaining -= 1;
    if (entry.remaining <= 0) this.faults.splice(index, 1);
    return entry.fault.error;
  }
}

function callOf(
  command: string,
  input: { sql?: string | undefined; transactionId?: string | undefined },
): BridgeCall {
  return {
    command,
    ...(input.sql !== undefined ? { sql: input.sql } : {}),
    ...(input.transactionId !== undefined ? { transactionId: input.transactionId } : {}),
  };
}
