/**
 * Rendering for people: aligned tables, key/value blocks, short ages. Scripts use
 * `--json`, which never goes through here.
 */

export interface Column<R> {
  readonly header: string;
  readonly value: (row: R) => string;
}

const EMPTY = '–';

/** Left-aligned columns, two spaces apart, a header line and a rule. */
export function table<R>(columns: readonly Column<R>[], rows: readonly R[]): string {
  const cells = rows.map((row) => columns.map((column) => oneLine(column.value(row))));
  const widths = columns.map((column, i) =>
    Math.max(column.header.length, ...cells.map((line) => line[i]?.length ?? 0)),
  );
  const render = (line: readonly string[]) =>
    line
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [
    render(columns.map((column) => column.header)),
    render(widths.map((width) => '-'.repeat(width))),
    ...cells.map(render),
  ].join('\n');
}

/** `key  value` lines with the keys aligned. */
export function keyValues(pairs: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...pairs.map(([key]) => key.length));
  return pairs.map(([key, value]) => `${key.padEnd(width)}  ${oneLine(value)}`).join('\n');
}

/** Any value as one short cell: null as a dash, dates in UTC to the second, objects as JSON. */
export function show(value: unknown): string {
  if (value === null || value === undefined || value === '') return EMPTY;
  if (value instanceof Date) return utc(value);
  if (typeof value === 'string')
    return /^\d{4}-\d\d-\d\dT/.test(value) ? utc(new Date(value)) : value;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export function utc(date: Date): string {
  return Number.isNaN(date.getTime())
    ? EMPTY
    : `${date.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** How long ago, coarsely: `45s`, `12m`, `3h 5m`, `2d 4h`. */
export function age(date: Date | null, now: Date): string {
  if (!date) return EMPTY;
  const seconds = Math.max(0, Math.round((now.getTime() - date.getTime()) / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${minutes % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** Seconds as the runbook says them: `15 min`, `5 min`, `90 s`. */
export function duration(seconds: number): string {
  return seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}
