/**
 * A Data-API-faithful bridge for tests: a real `RDSDataClient` whose commands are served
 * by a real PostgreSQL 16, binding every parameter with the type the RDS Data API gives
 * it and answering in the Data API's own shapes and exceptions. A production executor
 * that forgets a `typeHint`, sends an ISO timestamp or a script fails here exactly as it
 * would on Aurora PostgreSQL (Serverless v2 / provisioned).
 *
 * References for the behaviour imitated: AWS "Calling the Amazon RDS Data API",
 * "Troubleshooting Amazon RDS Data API", "Processing query results in JSON format", the
 * API reference of ExecuteStatement / SqlParameter, and errors captured from live clusters.
 */
import { randomBytes } from 'node:crypto';
import {
  type ArrayValue,
  BadRequestException,
  BatchExecuteStatementCommand,
  type BatchExecuteStatementCommandInput,
  type BatchExecuteStatementCommandOutput,
  BeginTransactionCommand,
  type BeginTransactionCommandInput,
  type BeginTransactionCommandOutput,
  type ColumnMetadata,
  CommitTransactionCommand,
  type CommitTransactionCommandInput,
  type CommitTransactionCommandOutput,
  DatabaseErrorException,
  DatabaseResumingException,
  ExecuteStatementCommand,
  type ExecuteStatementCommandInput,
  type ExecuteStatementCommandOutput,
  type Field,
  RDSDataClient,
  RDSDataServiceException,
  RollbackTransactionCommand,
  type RollbackTransactionCommandInput,
  type RollbackTransactionCommandOutput,
  type SqlParameter,
  TransactionNotFoundException,
  UnsupportedResultException,
} from '@aws-sdk/client-rds-data';
import { mockClient } from 'aws-sdk-client-mock';
import pg from 'pg';
import { parameterNames, splitStatements, toPositional } from '../../functions/db/sql-text.js';

/** One command the bridge received, failed or not: tests count Data API round trips with it. */
export interface BridgeCall {
  readonly command: string;
  readonly sql?: string;
  readonly transactionId?: string;
}

export type DataApiBridgeSource =
  | { readonly pool: pg.Pool }
  | { readonly connectionString: string };

/** "The Data API limit is 1 MiB in the result set returned by the database." */
const RESPONSE_SIZE_LIMIT = 1024 * 1024;

// ---------------------------------------------------------------------------------------
// Errors. BadRequestException is documented as Serverless v1 only; on v2 / provisioned,
// SQL errors arrive as DatabaseErrorException (captured live), multi-statements as
// ValidationException (AWS docs) and an unknown transaction as TransactionNotFoundException
// (SDK model). Request-shape errors no source pins down for v2 stay BadRequestException.
// ---------------------------------------------------------------------------------------

const metadata = { $metadata: {} };

function badRequest(message: string): BadRequestException {
  return new BadRequestException({ message, ...metadata });
}

/** v2 answers database failures as DatabaseErrorException: `ERROR: …; Position: n; SQLState: x`. */
function databaseError(error: pg.DatabaseError): DatabaseErrorException {
  const position = error.position ? `; Position: ${error.position}` : '';
  const message = `ERROR: ${error.message}${position}; SQLState: ${error.code ?? 'XX000'}`;
  return new DatabaseErrorException({ message, ...metadata });
}

/** The service error behind "ValidationException: Multistatements aren't supported." (not modelled by the SDK). */
function validationException(message: string): RDSDataServiceException {
  return new RDSDataServiceException({
    name: 'ValidationException',
    $fault: 'client',
    message,
    ...metadata,
  });
}

function transactionNotFound(transactionId: string, cause: string): TransactionNotFoundException {
  return new TransactionNotFoundException({
    message: `Transaction ${transactionId} is not found. ${cause}`,
    ...metadata,
  });
}

function resuming(): DatabaseResumingException {
  return new DatabaseResumingException({
    message:
      'The Aurora DB instance db-bridge is resuming after being auto-paused. Please wait a few seconds and try again.',
    ...metadata,
  });
}

/** Turns what PostgreSQL raised into the Data API's exception; anything else passes unchanged. */
function asDataApiError(error: unknown): unknown {
  return error instanceof pg.DatabaseError ? databaseError(error) : error;
}

// ---------------------------------------------------------------------------------------
// Request validation and parameter binding.
// ---------------------------------------------------------------------------------------

/** The real service rejects a request missing a required member before touching the database. */
function requireMembers<T extends object>(input: T, members: readonly (keyof T & string)[]): void {
  for (const member of members) {
    const value = input[member];
    if (value === undefined || value === null) {
      throw badRequest(
        `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`,
      );
    }
  }
}

/** Serverless v2 and provisioned clusters "explicitly reject API calls that include the schema parameter". */
function rejectSchema(input: { schema?: string | undefined }): void {
  if (input.schema !== undefined) throw validationException('Schema parameter is not supported.');
}

/** How one parameter reaches PostgreSQL: the type the Data API declares for it, and its text. */
interface Binding {
  /** Undefined for `isNull`: the Data API sends an untyped NULL and PostgreSQL infers its type. */
  readonly type?: string;
  readonly text: string | null;
}

const TIMESTAMP_FORMAT = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?$/;
const DATE_FORMAT = /^\d{4}-\d{2}-\d{2}$/;
const TIME_FORMAT = /^\d{2}:\d{2}:\d{2}(\.\d{1,6})?$/;

/** SqlParameter typeHint: the PostgreSQL type a stringValue is sent as, and the format it must have. */
const TYPE_HINTS: Readonly<Record<string, { type: string; format?: RegExp; shape?: string }>> = {
  UUID: { type: 'uuid' },
  TIMESTAMP: { type: 'timestamp', format: TIMESTAMP_FORMAT, shape: 'YYYY-MM-DD HH:MM:SS[.FFF]' },
  DATE: { type: 'date', format: DATE_FORMAT, shape: 'YYYY-MM-DD' },
  TIME: { type: 'time', format: TIME_FORMAT, shape: 'HH:MM:SS[.FFF]' },
  // Bound as json, as the Data API does; PostgreSQL's json -> jsonb assignment cast lets it
  // land in a jsonb column, while `jsonb_column = :doc` still fails as it does on Aurora.
  JSON: { type: 'json' },
  DECIMAL: { type: 'numeric' },
};

/** A string without a hint is bound as `varchar` (JDBC setString), never as `unknown`. */
function bindString(name: string, text: string, typeHint: string | undefined): Binding {
  if (typeHint === undefined) return { type: 'varchar', text };
  const hint = TYPE_HINTS[typeHint];
  if (!hint) throw badRequest(`Invalid typeHint ${typeHint} for parameter ${name}`);
  if (hint.format && !hint.format.test(text)) {
    throw badRequest(
      `Invalid ${typeHint} value for parameter ${name}: '${text}'. The accepted format is ${hint.shape}`,
    );
  }
  return { type: hint.type, text };
}

/** The PostgreSQL type and text of one Data API parameter, as the Data API binds it. */
function bindParameter(parameter: SqlParameter): Binding {
  const name = parameter.name ?? '';
  const value = parameter.value;
  if (value === undefined) throw badRequest(`Parameter ${name} has no value`);
  if (value.arrayValue !== undefined) throw badRequest('Array parameters are not supported.');
  if (value.isNull) return { text: null };
  if (value.stringValue !== undefined)
    return bindString(name, value.stringValue, parameter.typeHint);
  if (value.longValue !== undefined) return { type: 'int8', text: String(value.longValue) };
  if (value.doubleValue !== undefined) return { type: 'float8', text: String(value.doubleValue) };
  if (value.booleanValue !== undefined) return { type: 'bool', text: String(value.booleanValue) };
  if (value.blobValue !== undefined) {
    return { type: 'bytea', text: `\\x${Buffer.from(value.blobValue).toString('hex')}` };
  }
  throw badRequest(`Parameter ${name} has no value`);
}

/** A statement ready for pg: `$n::type` placeholders and the text of each value. */
interface PreparedStatement {
  readonly text: string;
  readonly values: (string | null)[];
}

/**
 * Validates one call's SQL and parameters as the Data API does, then rewrites `:name` to
 * `$n::type` so PostgreSQL sees each value with the type the Data API would declare.
 */
function prepareStatement(sql: string, parameters: readonly SqlParameter[]): PreparedStatement {
  if (splitStatements(sql).length > 1)
    throw validationException("Multistatements aren't supported.");
  const bindings = new Map<string, Binding>();
  for (const parameter of parameters) {
    if (!parameter.name) throw badRequest('Every parameter needs a name');
    bindings.set(parameter.name, bindParameter(parameter));
  }
  for (const name of parameterNames(sql)) {
    if (!bindings.has(name)) throw badRequest(`No value specified for parameter: ${name}`);
  }
  const { text, names } = toPositional(sql, (placeholder, name) => {
    const type = bindings.get(name)?.type;
    return type ? `${placeholder}::${type}` : placeholder;
  });
  return { text, values: names.map((name) => bindings.get(name)?.text ?? null) };
}

// ---------------------------------------------------------------------------------------
// Results: pg hands every value over as raw text; these functions give it the Data API shape.
// ---------------------------------------------------------------------------------------

const OID = {
  bool: 16,
  bytea: 17,
  int8: 20,
  int2: 21,
  int4: 23,
  oid: 26,
  float4: 700,
  float8: 701,
  timestamptz: 1184,
} as const;

const LONG_OIDS: ReadonlySet<number> = new Set([OID.int2, OID.int4, OID.int8, OID.oid]);
const DOUBLE_OIDS: ReadonlySet<number> = new Set([OID.float4, OID.float8]);

/** Array type OID -> element type OID, for the arrays the Data API returns as `arrayValue`. */
const ARRAY_ELEMENT_OIDS: ReadonlyMap<number, number> = new Map([
  [1000, OID.bool],
  [1005, OID.int2],
  [1007, OID.int4],
  [1016, OID.int8],
  [1021, OID.float4],
  [1022, OID.float8],
  [1009, 25], // text
  [1015, 1043], // varchar
  [1014, 1042], // bpchar
  [2951, 2950], // uuid
  [1231, 1700], // numeric
  [1182, 1082], // date
  [1183, 1083], // time
  [1115, 1114], // timestamp
  [1185, OID.timestamptz],
  [199, 114], // json
  [3807, 3802], // jsonb
]);

/** Every value reaches the bridge as PostgreSQL's own text, so each conversion is explicit. */
const RAW_TEXT: pg.CustomTypesConfig = {
  getTypeParser: () => (value: string) => value,
};

/** Sessions run in UTC, so a timestamptz ends in `+00`; the Data API answers it zone-less. */
function zoneless(timestamptz: string): string {
  return timestamptz.replace(/[+-]\d{2}(:\d{2}){0,2}$/, '');
}

function decodeBytea(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.slice(2), 'hex'));
}

/** One scalar cell as the Data API's Field. numeric stays a string, as DecimalReturnType STRING. */
function scalarField(text: string, oid: number): Field {
  if (LONG_OIDS.has(oid)) return { longValue: Number(text) };
  if (DOUBLE_OIDS.has(oid)) return { doubleValue: Number(text) };
  if (oid === OID.bool) return { booleanValue: text === 't' };
  if (oid === OID.bytea) return { blobValue: decodeBytea(text) };
  if (oid === OID.timestamptz) return { stringValue: zoneless(text) };
  return { stringValue: text };
}

/** pg's own parser for text[] splits any PostgreSQL array literal into its element texts. */
const TEXT_ARRAY_OID = 1009 as Parameters<typeof pg.types.getTypeParser>[0];
const parseArrayLiteral: (text: string) => unknown = pg.types.getTypeParser(TEXT_ARRAY_OID, 'text');

/** A one-dimensional array without NULL elements; anything else is an unsupported result. */
function arrayElements(text: string): string[] {
  const parsed = parseArrayLiteral(text);
  const flat =
    Array.isArray(parsed) &&
    parsed.every((element): element is string => typeof element === 'string');
  if (!flat) {
    throw new UnsupportedResultException({
      message: 'The result contains a multidimensional array or an array with NULL elements',
      ...metadata,
    });
  }
  return parsed;
}

function arrayValue(text: string, elementOid: number): ArrayValue {
  const elements = arrayElements(text);
  if (LONG_OIDS.has(elementOid)) return { longValues: elements.map(Number) };
  if (DOUBLE_OIDS.has(elementOid)) return { doubleValues: elements.map(Number) };
  if (elementOid === OID.bool) return { booleanValues: elements.map((element) => element === 't') };
  if (elementOid === OID.timestamptz) return { stringValues: elements.map(zoneless) };
  return { stringValues: elements };
}

function toField(text: string | null, oid: number): Field {
  if (text === null) return { isNull: true };
  const elementOid = ARRAY_ELEMENT_OIDS.get(oid);
  return elementOid === undefined
    ? scalarField(text, oid)
    : { arrayValue: arrayValue(text, elementOid) };
}

/** A Field as it appears in `formattedRecords`: numbers, booleans, null, base64 blobs, strings. */
function jsonValue(field: Field): unknown {
  if (field.isNull) return null;
  if (field.blobValue !== undefined) return Buffer.from(field.blobValue).toString('base64');
  if (field.arrayValue !== undefined) return Object.values(field.arrayValue)[0] ?? [];
  return field.longValue ?? field.doubleValue ?? field.booleanValue ?? field.stringValue ?? null;
}

/** `formattedRecords`: a JSON array of objects keyed by column label; duplicate labels are refused. */
function formatRecords(labels: readonly string[], records: readonly Field[][]): string {
  if (new Set(labels).size !== labels.length) {
    throw badRequest(
      'The result set contains duplicate column labels, which JSON format does not allow',
    );
  }
  const rows = records.map((record) =>
    Object.fromEntries(record.map((field, index) => [labels[index], jsonValue(field)])),
  );
  return JSON.stringify(rows);
}

/** The response as it travels over the wire (blobs in base64), measured against the 1 MiB limit. */
function assertWithinSizeLimit(output: object): void {
  const wire = JSON.stringify(output, (_key, value: unknown) =>
    value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value,
  );
  if (Buffer.byteLength(wire) > RESPONSE_SIZE_LIMIT) {
    throw badRequest('Database response exceeded size limit');
  }
}

// ---------------------------------------------------------------------------------------
// Column metadata (includeResultMetadata), shaped as pgJDBC's ResultSetMetaData reports it.
// ---------------------------------------------------------------------------------------

/** java.sql.Types for the PostgreSQL types, as pgJDBC maps them. */
const JDBC_TYPES: Readonly<Record<string, number>> = {
  int2: 5,
  int4: 4,
  int8: -5,
  oid: -5,
  float4: 7,
  float8: 8,
  money: 8,
  numeric: 2,
  bool: -7,
  bit: -7,
  text: 12,
  varchar: 12,
  name: 12,
  bpchar: 1,
  char: 1,
  date: 91,
  time: 92,
  timetz: 92,
  timestamp: 93,
  timestamptz: 93,
  bytea: -2,
};
const JDBC_OTHER = 1111;
const JDBC_ARRAY = 2003;
const UNBOUNDED = 2147483647;

const FIXED_PRECISION: Readonly<Record<string, number>> = {
  int2: 5,
  int4: 10,
  int8: 19,
  oid: 10,
  float4: 8,
  float8: 17,
  bool: 1,
  date: 13,
  time: 15,
  timestamp: 29,
  timestamptz: 35,
};
const NUMERIC_TYPES: ReadonlySet<string> = new Set([
  'int2',
  'int4',
  'int8',
  'float4',
  'float8',
  'numeric',
  'money',
]);
const SERIAL_NAMES: Readonly<Record<string, string>> = {
  int2: 'smallserial',
  int4: 'serial',
  int8: 'bigserial',
};

interface TableColumn {
  readonly table: string;
  readonly notNull: boolean;
  readonly autoIncrement: boolean;
}

/** Type names of the result's columns, looked up in pg_type. */
async function typeNames(
  connection: pg.ClientBase,
  fields: readonly pg.FieldDef[],
): Promise<Map<number, string>> {
  const result = await connection.query<string[]>({
    text: 'SELECT oid, typname FROM pg_type WHERE oid = ANY($1::oid[])',
    values: [fields.map((field) => field.dataTypeID)],
    rowMode: 'array',
    types: RAW_TEXT,
  });
  return new Map(result.rows.map(([oid, name]) => [Number(oid), name ?? '']));
}

/** Table, NOT NULL and serial-ness of every result column that comes straight from a table. */
async function tableColumns(
  connection: pg.ClientBase,
  fields: readonly pg.FieldDef[],
): Promise<Map<string, TableColumn>> {
  const fromTables = fields.filter((field) => field.tableID !== 0);
  if (fromTables.length === 0) return new Map();
  const result = await connection.query<string[]>({
    text: `SELECT a.attrelid, a.attnum, c.relname, a.attnotnull,
                  coalesce(pg_get_expr(d.adbin, d.adrelid), '') LIKE 'nextval(%'
             FROM pg_attribute a
             JOIN pg_class c ON c.oid = a.attrelid
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE (a.attrelid, a.attnum) IN (SELECT * FROM unnest($1::oid[], $2::int2[]))`,
    values: [fromTables.map((field) => field.tableID), fromTables.map((field) => field.columnID)],
    rowMode: 'array',
    types: RAW_TEXT,
  });
  return new Map(
    result.rows.map(([relid, attnum, table, notNull, serial]) => [
      `${relid}:${attnum}`,
      { table: table ?? '', notNull: notNull === 't', autoIncrement: serial === 't' },
    ]),
  );
}

/** Precision and scale from the type and its modifier (numeric(p,s), varchar(n)). */
function precisionAndScale(
  typeName: string,
  modifier: number,
): { precision: number; scale: number } {
  if (typeName === 'numeric') {
    if (modifier < 4) return { precision: 0, scale: 0 };
    return { precision: ((modifier - 4) >> 16) & 0xffff, scale: (modifier - 4) & 0xffff };
  }
  if (typeName === 'varchar' || typeName === 'bpchar') {
    return { precision: modifier > 4 ? modifier - 4 : UNBOUNDED, scale: 0 };
  }
  const scale = typeName.startsWith('time') ? 6 : 0;
  return { precision: FIXED_PRECISION[typeName] ?? UNBOUNDED, scale };
}

function columnMetadataOf(
  field: pg.FieldDef,
  typeName: string,
  column: TableColumn | undefined,
): ColumnMetadata {
  const isArray = typeName.startsWith('_');
  const elementType = isArray ? (JDBC_TYPES[typeName.slice(1)] ?? JDBC_OTHER) : 0;
  const reportedName = column?.autoIncrement ? (SERIAL_NAMES[typeName] ?? typeName) : typeName;
  return {
    name: field.name,
    label: field.name,
    typeName: reportedName,
    type: isArray ? JDBC_ARRAY : (JDBC_TYPES[typeName] ?? JDBC_OTHER),
    arrayBaseColumnType: elementType,
    ...precisionAndScale(typeName, field.dataTypeModifier),
    nullable: column === undefined ? 2 : column.notNull ? 0 : 1,
    isAutoIncrement: column?.autoIncrement ?? false,
    isSigned: NUMERIC_TYPES.has(typeName),
    isCurrency: typeName === 'money',
    isCaseSensitive: !NUMERIC_TYPES.has(typeName) && typeName !== 'bool',
    schemaName: '',
    tableName: column?.table ?? '',
  };
}

async function describeColumns(
  connection: pg.ClientBase,
  fields: readonly pg.FieldDef[],
): Promise<ColumnMetadata[]> {
  const types = await typeNames(connection, fields);
  const columns = await tableColumns(connection, fields);
  return fields.map((field) =>
    columnMetadataOf(
      field,
      types.get(field.dataTypeID) ?? '',
      columns.get(`${field.tableID}:${field.columnID}`),
    ),
  );
}

// ---------------------------------------------------------------------------------------
// The bridge.
// ---------------------------------------------------------------------------------------

interface OpenTransaction {
  readonly connection: pg.PoolClient;
  /** Serverless v2 refuses a second request on a transaction still running one. */
  busy: boolean;
}

type StatementOptions = Pick<
  ExecuteStatementCommandInput,
  'includeResultMetadata' | 'formatRecordsAs'
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
  private readonly utcConnections = new WeakSet<pg.PoolClient>();
  private readonly transactions = new Map<string, OpenTransaction>();
  private readonly restorers: (() => void)[] = [];
  private readonly injectedFailures: Error[] = [];
  private resumingUntil = 0;

  constructor(source: DataApiBridgeSource) {
    if ('pool' in source) {
      this.pool = source.pool;
      this.ownsPool = false;
    } else {
      this.pool = new pg.Pool({ connectionString: source.connectionString, max: 10 });
      this.ownsPool = true;
    }
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
      .callsFake((input: ExecuteStatementCommandInput) => this.executeStatement(input));
    stub
      .on(BatchExecuteStatementCommand)
      .callsFake((input: BatchExecuteStatementCommandInput) => this.batchExecuteStatement(input));
    stub
      .on(BeginTransactionCommand)
      .callsFake((input: BeginTransactionCommandInput) => this.beginTransaction(input));
    stub
      .on(CommitTransactionCommand)
      .callsFake((input: CommitTransactionCommandInput) => this.commitTransaction(input));
    stub
      .on(RollbackTransactionCommand)
      .callsFake((input: RollbackTransactionCommandInput) => this.rollbackTransaction(input));
    this.restorers.push(() => stub.restore());
    return client;
  }

  /**
   * Every command sent in the next `ms` fails with DatabaseResumingException, as Aurora
   * Serverless v2 answers while it wakes from zero capacity (up to ~15 s; the SDK does
   * not retry it).
   */
  resumeFor(ms: number): void {
    this.resumingUntil = Date.now() + ms;
  }

  /** The next `times` commands fail with `error` (a ThrottlingException, a network error…). */
  failNext(error: Error, times = 1): void {
    for (let i = 0; i < times; i += 1) this.injectedFailures.push(error);
  }

  /** Rolls back and releases every open transaction, and stops intercepting clients. */
  async close(): Promise<void> {
    const open = [...this.transactions.values()];
    this.transactions.clear();
    for (const transaction of open)
      await this.endTransaction(transaction, 'ROLLBACK').catch(() => undefined);
    for (const restore of this.restorers) restore();
    if (this.ownsPool) await this.pool.end();
  }

  // --- Commands ----------------------------------------------------------------------

  private async executeStatement(
    input: ExecuteStatementCommandInput,
  ): Promise<ExecuteStatementCommandOutput> {
    this.receive(COMMAND_NAMES.execute, input);
    requireMembers(input, ['resourceArn', 'secretArn', 'sql']);
    rejectSchema(input);
    const sql = input.sql ?? '';
    const run = (connection: pg.ClientBase) =>
      this.runStatement(connection, prepareStatement(sql, input.parameters ?? []), input);
    if (input.transactionId) return this.inTransaction(input.transactionId, run);
    return this.withConnection(run);
  }

  private async batchExecuteStatement(
    input: BatchExecuteStatementCommandInput,
  ): Promise<BatchExecuteStatementCommandOutput> {
    this.receive(COMMAND_NAMES.batch, input);
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
    this.receive(COMMAND_NAMES.begin, {});
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
    this.transactions.set(transactionId, { connection, busy: false });
    return { transactionId, $metadata: {} };
  }

  private async commitTransaction(
    input: CommitTransactionCommandInput,
  ): Promise<CommitTransactionCommandOutput> {
    this.receive(COMMAND_NAMES.commit, input);
    requireMembers(input, ['resourceArn', 'secretArn', 'transactionId']);
    const transaction = this.takeTransaction(input.transactionId ?? '');
    await this.endTransaction(transaction, 'COMMIT');
    return { transactionStatus: 'Transaction Committed', $metadata: {} };
  }

  private async rollbackTransaction(
    input: RollbackTransactionCommandInput,
  ): Promise<RollbackTransactionCommandOutput> {
    this.receive(COMMAND_NAMES.rollback, input);
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
    const result = await this.query(connection, statement);
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
    const records = result.rows.map((row) =>
      row.map((text, index) => toField(text, result.fields[index]?.dataTypeID ?? 0)),
    );
    // JDBC reports no update count for a result set, so the Data API answers 0 here.
    if (options.formatRecordsAs === 'JSON') {
      const labels = result.fields.map((field) => field.name);
      return { numberOfRecordsUpdated: 0, formattedRecords: formatRecords(labels, records) };
    }
    const columnMetadata = options.includeResultMetadata
      ? await describeColumns(connection, result.fields)
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

  /** Runs one autocommitted call on a connection of its own. */
  private async withConnection<T>(work: (connection: pg.ClientBase) => Promise<T>): Promise<T> {
    const connection = await this.connect();
    try {
      return await work(connection);
    } catch (error) {
      throw asDataApiError(error);
    } finally {
      connection.release();
    }
  }

  /**
   * Runs one call inside an open transaction. Any error ends the transaction: Aurora
   * rolls it back and forgets its id ("aborted due to an error from a previous call").
   */
  private async inTransaction<T>(
    transactionId: string,
    work: (connection: pg.ClientBase) => Promise<T>,
  ): Promise<T> {
    const transaction = this.findTransaction(transactionId);
    if (transaction.busy) {
      throw new DatabaseErrorException({
        message: 'Transaction is still running a query',
        ...metadata,
      });
    }
    transaction.busy = true;
    try {
      return await work(transaction.connection);
    } catch (error) {
      this.transactions.delete(transactionId);
      await this.endTransaction(transaction, 'ROLLBACK').catch(() => undefined);
      throw asDataApiError(error);
    } finally {
      transaction.busy = false;
    }
  }

  private findTransaction(transactionId: string): OpenTransaction {
    const transaction = this.transactions.get(transactionId);
    if (!transaction) {
      throw transactionNotFound(
        transactionId,
        'It may have expired, been ended by CommitTransaction or RollbackTransaction, or been aborted by an error from a previous call.',
      );
    }
    return transaction;
  }

  /** Removes a transaction from the open ones: commit and rollback both end it. */
  private takeTransaction(transactionId: string): OpenTransaction {
    const transaction = this.findTransaction(transactionId);
    this.transactions.delete(transactionId);
    return transaction;
  }

  /** Ends a transaction's session work and gives its connection back to the pool. */
  private async endTransaction(
    transaction: OpenTransaction,
    verb: 'COMMIT' | 'ROLLBACK',
  ): Promise<void> {
    try {
      await transaction.connection.query(verb);
      transaction.connection.release();
    } catch (error) {
      transaction.connection.release(error instanceof Error ? error : true);
      throw asDataApiError(error);
    }
  }

  // --- Observation and fault injection -------------------------------------------------

  /** Records the call, then applies any injected failure before the database is reached. */
  private receive(
    command: string,
    input: { sql?: string | undefined; transactionId?: string | undefined },
  ): void {
    this.calls.push({
      command,
      ...(input.sql !== undefined ? { sql: input.sql } : {}),
      ...(input.transactionId !== undefined ? { transactionId: input.transactionId } : {}),
    });
    const injected = this.injectedFailures.shift();
    if (injected) throw injected;
    if (Date.now() < this.resumingUntil) throw resuming();
  }
}
