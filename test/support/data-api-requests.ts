/**
 * Request validation and parameter binding, as the Data API does them before a
 * statement reaches PostgreSQL.
 */
import type { SqlParameter } from '@aws-sdk/client-rds-data';
import {
  parameterNames,
  splitStatements,
  sqlTextHazards,
  toPositional,
} from '../../functions/db/sql-text.js';
import { badRequest, strictRefusal, validationException } from './data-api-errors.js';

/** The real service rejects a request missing a required member before touching the database. */
export function requireMembers<T extends object>(
  input: T,
  members: readonly (keyof T & string)[],
): void {
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
export function rejectSchema(input: { schema?: string | undefined }): void {
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
export interface PreparedStatement {
  readonly text: string;
  readonly values: (string | null)[];
}

/**
 * Validates one call's SQL and parameters as the Data API does, then rewrites `:name` to
 * `$n::type` so PostgreSQL sees each value with the type the Data API would declare.
 * Text whose parsing by the service is undocumented (a comment, a `:name` or `;` inside
 * a literal) is refused, so nothing passes here that a live cluster might read otherwise.
 */
export function prepareStatement(
  sql: string,
  parameters: readonly SqlParameter[],
): PreparedStatement {
  if (splitStatements(sql).length > 1)
    throw validationException("Multistatements aren't supported.");
  const hazards = sqlTextHazards(sql);
  if (hazards.length > 0) throw strictRefusal(hazards.join('; '));
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
