import type {
  ColumnMetadata,
  ExecuteStatementCommandOutput,
  Field,
  SqlParameter,
} from '@aws-sdk/client-rds-data';
import type { BoundParam, DecodedRow } from './executor.js';

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

export function decodeRecords(output: ExecuteStatementCommandOutput): DecodedRow[] {
  const columns = output.columnMetadata ?? [];
  return (output.records ?? []).map((record) => {
    const row: DecodedRow = {};
    record.forEach((field, index) => {
      const column = columns[index];
      const key = column?.label ?? column?.name ?? `column${index}`;
      row[key] = decodeField(field, column);
    });
    return row;
  });
}

function decodeField(field: Field, column: ColumnMetadata | undefined): unknown {
  if (field.isNull) return null;
  if (field.longValue !== undefined) return field.longValue;
  if (field.doubleValue !== undefined) return field.doubleValue;
  if (field.booleanValue !== undefined) return field.booleanValue;
  if (field.blobValue !== undefined) return field.blobValue;
  if (field.stringValue === undefined) return null;
  const text = field.stringValue;
  switch (column?.typeName) {
    case 'timestamptz':
    case 'timestamp':
      return parseDataApiTimestamp(text, column.label ?? column.name);
    case 'json':
    case 'jsonb':
      return JSON.parse(text);
    default:
      return text;
  }
}

// Date, time, up to six fraction digits, then no offset, `Z`, or ±HH[:MM[:SS]].
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:(Z)|([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?$/;

/**
 * A timestamp as the Data API answers it. AWS documents timestamptz as returned in UTC
 * without an offset (`2026-11-23 09:30:15.25`); live clusters have been reported to
 * answer other forms too, so every form PostgreSQL can print in a UTC session is
 * read: `timestamp` or `timestamptz`, 0 to 6 fraction digits, with or without an
 * offset. Zone-less values are UTC (sessions run in UTC). Microseconds are truncated
 * to the millisecond a Date holds. Anything else fails, naming the column.
 */
export function parseDataApiTimestamp(text: string, column = 'a column'): Date {
  const match = TIMESTAMP.exec(text);
  const unreadable = () =>
    new Error(`the Data API answered '${text}' for ${column}: not a timestamp this executor reads`);
  if (!match) throw unreadable();
  const [, year, month, day, hour, minute, second, fraction = '', , sign, oh, om, os] = match;
  const date = new Date(0);
  date.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  date.setUTCHours(
    Number(hour),
    Number(minute),
    Number(second),
    Number(fraction.padEnd(3, '0').slice(0, 3)),
  );
  const rolledOver =
    date.getUTCMonth() !== Number(month) - 1 ||
    date.getUTCDate() !== Number(day) ||
    date.getUTCHours() !== Number(hour) ||
    date.getUTCMinutes() !== Number(minute) ||
    date.getUTCSeconds() !== Number(second);
  if (rolledOver) throw unreadable();
  if (!sign) return date;
  const offsetSeconds = (Number(oh) * 60 + Number(om ?? 0)) * 60 + Number(os ?? 0);
  return new Date(date.getTime() - (sign === '-' ? -1 : 1) * offsetSeconds * 1000);
}
