/**
 * Results: pg hands every value over as raw text; these functions give it the Data API
 * shape, refuse the result types the Data API does not document, and describe columns
 * as pgJDBC's ResultSetMetaData reports them (includeResultMetadata).
 */
import type { ArrayValue, ColumnMetadata, Field } from '@aws-sdk/client-rds-data';
import pg from 'pg';
import { badRequest, unsupportedResult } from './data-api-errors.js';

/** "The Data API limit is 1 MiB in the result set returned by the database." */
const RESPONSE_SIZE_LIMIT = 1024 * 1024;

/** Every value reaches the bridge as PostgreSQL's own text, so each conversion is explicit. */
export const RAW_TEXT: pg.CustomTypesConfig = {
  getTypeParser: () => (value: string) => value,
};

// ---------------------------------------------------------------------------------------
// Result types the Data API documents for Aurora PostgreSQL ("Amazon RDS Data API
// operations reference"), by pg_type name, and only those the bridge shapes as the
// service does. Not in the list: void, "char", regtype, oid, interval, money, timetz,
// jsonb[] and timestamptz[] among others; the service refuses them (reported for "char"
// and regtype), so the bridge does too. timestamptz is documented apart: "Data API
// always returns the Aurora PostgreSQL data type TIMESTAMPTZ in UTC time zone".
// ---------------------------------------------------------------------------------------

const DOCUMENTED_SCALARS: ReadonlySet<string> = new Set([
  'bool',
  'bytea',
  'date',
  'cidr',
  'numeric',
  'float8',
  'inet',
  'int4',
  'int2',
  'int8',
  'jsonb',
  'json',
  'float4',
  'text',
  'bpchar',
  'varchar',
  'name',
  'time',
  'timestamp',
  'timestamptz',
  'uuid',
]);

/** A column's type as pg_type names it; `enum` for any enum type (documented as ENUM). */
export interface ColumnType {
  readonly name: string;
  readonly isEnum: boolean;
}

const OID = {
  bool: 16,
  bytea: 17,
  int8: 20,
  int2: 21,
  int4: 23,
  float4: 700,
  float8: 701,
  timestamptz: 1184,
} as const;

const LONG_OIDS: ReadonlySet<number> = new Set([OID.int2, OID.int4, OID.int8]);
const DOUBLE_OIDS: ReadonlySet<number> = new Set([OID.float4, OID.float8]);

/** Array type OID -> element type OID, for the documented arrays the Data API returns as `arrayValue`. */
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
  [199, 114], // json
]);

/**
 * Refuses a result with a column of a type outside the documented list, with
 * UnsupportedResultException as the service answers it.
 */
export function assertDocumentedTypes(
  fields: readonly pg.FieldDef[],
  types: ReadonlyMap<number, ColumnType>,
): void {
  for (const field of fields) {
    const type = types.get(field.dataTypeID);
    const documented =
      type !== undefined &&
      (type.isEnum ||
        DOCUMENTED_SCALARS.has(type.name) ||
        ARRAY_ELEMENT_OIDS.has(field.dataTypeID));
    if (!documented) {
      throw unsupportedResult(
        `The result contains the unsupported data type ${type?.name ?? field.dataTypeID} (column ${field.name}).`,
      );
    }
  }
}

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
    throw unsupportedResult(
      'The result contains a multidimensional array or an array with NULL elements',
    );
  }
  return parsed;
}

function arrayValue(text: string, elementOid: number): ArrayValue {
  const elements = arrayElements(text);
  if (LONG_OIDS.has(elementOid)) return { longValues: elements.map(Number) };
  if (DOUBLE_OIDS.has(elementOid)) return { doubleValues: elements.map(Number) };
  if (elementOid === OID.bool) return { booleanValues: elements.map((element) => element === 't') };
  return { stringValues: elements };
}

export function toField(text: string | null, oid: number): Field {
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
export function formatRecords(labels: readonly string[], records: readonly Field[][]): string {
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
export function assertWithinSizeLimit(output: object): void {
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

/** java.sql.Types for the documented PostgreSQL types, as pgJDBC maps them. */
const JDBC_TYPES: Readonly<Record<string, number>> = {
  int2: 5,
  int4: 4,
  int8: -5,
  float4: 7,
  float8: 8,
  numeric: 2,
  bool: -7,
  text: 12,
  varchar: 12,
  name: 12,
  bpchar: 1,
  date: 91,
  time: 92,
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
    isCurrency: false,
    isCaseSensitive: !NUMERIC_TYPES.has(typeName) && typeName !== 'bool',
    schemaName: '',
    tableName: column?.table ?? '',
  };
}

export async function describeColumns(
  connection: pg.ClientBase,
  fields: readonly pg.FieldDef[],
  types: ReadonlyMap<number, ColumnType>,
): Promise<ColumnMetadata[]> {
  const columns = await tableColumns(connection, fields);
  return fields.map((field) =>
    columnMetadataOf(
      field,
      types.get(field.dataTypeID)?.name ?? '',
      columns.get(`${field.tableID}:${field.columnID}`),
    ),
  );
}
