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
import { badRequest, resuming } from './data-api-errors.js';
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
import { DataApiSessions, type SessionLimits } from './data-api-sessions.js';

/** One command the bridge received, failed or not: tests count Data API round trips with it. */
export interface BridgeCall {
  readonly command: string;
  readonly sql?: string;
  readonly transactionId?: string;
}

export type DataApiBridgeSource =
  | { readonly pool: pg.Pool }
  | { readonly connectionString: string };

export interface DataApiBridgeOptions extends SessionLimits {
  /** What "now" is for `resumeFor`: a test's virtual clock, or the real one. */
  readonly clock?: () => number;
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

type StatementOptions = Pick<
  ExecuteStatementCommandInput,
  'includeResultMetadata' | 'formatRecordsAs' | 'continueAfterTimeout'
>;

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
  private readonly sessions: DataApiSessions;
  private readonly columnTypes = new Map<number, ColumnType>();
  private readonly restorers: (() => void)[] = [];
  private readonly faults: { fault: InjectedFault; remaining: number }[] = [];
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
    this.sessions = new DataApiSessions(this.pool, options);
  }

  /** A real RDSDataClient whose five Data API commands are answered by this bridge. */
  client(): RDSDataClient {
    const client = new RDSDataClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIABRIDGEFAKE', secretAccessKey: 'bridge-fake-secret' },
    });
    this.answerCommandsOf(client);
    return client;
  }

  /**
   * Answers every RDSDataClient created from now on, wherever it is built: the Lambda
   * entry points' own wiring (`functions/aws.ts`) then runs against this bridge as deployed.
   */
  serveEveryClient(): void {
    this.answerCommandsOf(RDSDataClient);
  }

  private answerCommandsOf(target: RDSDataClient | typeof RDSDataClient): void {
    const stub = mockClient(target);
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
    await this.sessions.close();
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
    if (input.transactionId) return this.sessions.inTransaction(input.transactionId, run);
    return this.sessions.autocommit(run);
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
    if (input.transactionId) return this.sessions.inTransaction(input.transactionId, run);
    // Without a transactionId the whole batch commits or fails as one.
    return this.sessions.autocommit(async (connection) => {
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
    return { transactionId: await this.sessions.begin(), $metadata: {} };
  }

  private async commitTransaction(
    input: CommitTransactionCommandInput,
  ): Promise<CommitTransactionCommandOutput> {
    requireMembers(input, ['resourceArn', 'secretArn', 'transactionId']);
    await this.sessions.end(input.transactionId ?? '', 'COMMIT');
    return { transactionStatus: 'Transaction Committed', $metadata: {} };
  }

  private async rollbackTransaction(
    input: RollbackTransactionCommandInput,
  ): Promise<RollbackTransactionCommandOutput> {
    requireMembers(input, ['resourceArn', 'secretArn', 'transactionId']);
    await this.sessions.end(input.transactionId ?? '', 'ROLLBACK');
    return { transactionStatus: 'Rollback Complete', $metadata: {} };
  }

  // --- Statements --------------------------------------------------------------------

  private async runStatement(
    connection: pg.ClientBase,
    statement: PreparedStatement,
    options: StatementOptions,
  ): Promise<ExecuteStatementCommandOutput> {
    const result = await this.sessions.withinCallTimeout(
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
