/**
 * Lexical helpers over SQL text, shared by both executors and the migrator.
 *
 * The Data API takes named `:name` parameters and one statement per call; `pg` takes
 * positional `$n` parameters. Both need the same scan of the text that steps over
 * string literals, quoted identifiers, dollar-quoted bodies, comments and `::` casts,
 * so a colon inside any of those is never mistaken for a parameter.
 */

type Segment =
  | { readonly kind: 'code'; readonly text: string }
  | { readonly kind: 'opaque'; readonly text: string }
  | { readonly kind: 'param'; readonly name: string };

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*/;
const DOLLAR_TAG = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/;

/** Splits SQL into code, opaque (literals, comments) and parameter segments. */
export function scanSql(sql: string): Segment[] {
  const segments: Segment[] = [];
  let code = '';
  const flushCode = () => {
    if (code) segments.push({ kind: 'code', text: code });
    code = '';
  };
  let i = 0;
  while (i < sql.length) {
    const rest = sql.slice(i);
    const ch = sql[i];
    const opaqueEnd = endOfOpaque(sql, i);
    if (opaqueEnd !== undefined) {
      flushCode();
      segments.push({ kind: 'opaque', text: sql.slice(i, opaqueEnd) });
      i = opaqueEnd;
      continue;
    }
    if (ch === ':' && sql[i + 1] === ':') {
      code += '::';
      i += 2;
      continue;
    }
    if (ch === ':') {
      const name = PARAM_NAME.exec(rest.slice(1))?.[0];
      if (name) {
        flushCode();
        segments.push({ kind: 'param', name });
        i += 1 + name.length;
        continue;
      }
    }
    code += ch;
    i += 1;
  }
  flushCode();
  return segments;
}

/** Index just past the literal or comment starting at `i`, or undefined if none starts there. */
function endOfOpaque(sql: string, i: number): number | undefined {
  const ch = sql[i];
  const next = sql[i + 1];
  if (ch === "'" || ch === '"') {
    // E'…' strings also escape with a backslash.
    const backslashEscapes =
      ch === "'" && /[eE]/.test(sql[i - 1] ?? '') && !/[A-Za-z0-9_]/.test(sql[i - 2] ?? '');
    return endOfQuoted(sql, i, ch, backslashEscapes);
  }
  if (ch === '-' && next === '-') {
    const eol = sql.indexOf('\n', i);
    return eol === -1 ? sql.length : eol;
  }
  if (ch === '/' && next === '*') return endOfBlockComment(sql, i);
  if (ch === '$') {
    const previous = sql[i - 1] ?? ' ';
    if (/[A-Za-z0-9_]/.test(previous)) return undefined;
    const tag = DOLLAR_TAG.exec(sql.slice(i))?.[0];
    if (!tag) return undefined;
    const close = sql.indexOf(tag, i + tag.length);
    return close === -1 ? sql.length : close + tag.length;
  }
  return undefined;
}

function endOfQuoted(sql: string, i: number, quote: string, backslashEscapes: boolean): number {
  let j = i + 1;
  while (j < sql.length) {
    if (backslashEscapes && sql[j] === '\\') {
      j += 2;
      continue;
    }
    if (sql[j] === quote) {
      if (sql[j + 1] !== quote) return j + 1;
      j += 2;
      continue;
    }
    j += 1;
  }
  return sql.length;
}

/** PostgreSQL block comments nest. */
function endOfBlockComment(sql: string, i: number): number {
  let depth = 0;
  let j = i;
  while (j < sql.length) {
    if (sql.startsWith('/*', j)) {
      depth += 1;
      j += 2;
    } else if (sql.startsWith('*/', j)) {
      depth -= 1;
      j += 2;
      if (depth === 0) return j;
    } else {
      j += 1;
    }
  }
  return sql.length;
}

/** The distinct parameter names a statement uses, in first-use order. */
export function parameterNames(sql: string): string[] {
  const names: string[] = [];
  for (const segment of scanSql(sql)) {
    if (segment.kind === 'param' && !names.includes(segment.name)) names.push(segment.name);
  }
  return names;
}

/**
 * Rewrites `:name` parameters as `$n` placeholders. `render` may decorate each
 * placeholder (the Data API bridge appends the cast the Data API would apply).
 */
export function toPositional(
  sql: string,
  render: (placeholder: string, name: string) => string = (placeholder) => placeholder,
): { text: string; names: string[] } {
  const names = parameterNames(sql);
  const text = scanSql(sql)
    .map((segment) => {
      if (segment.kind !== 'param') return segment.text;
      return render(`$${names.indexOf(segment.name) + 1}`, segment.name);
    })
    .join('');
  return { text, names };
}

/**
 * Splits a script into single statements on top-level semicolons. The Data API runs
 * one statement per call, so migrations go through this before they are executed.
 * Function bodies must be dollar-quoted: a `BEGIN ATOMIC … END` body would be split.
 */
export function splitStatements(script: string): string[] {
  const statements: string[] = [];
  let current = '';
  let meaningful = false;
  for (const segment of scanSql(script)) {
    if (segment.kind === 'param') {
      current += `:${segment.name}`;
      meaningful = true;
      continue;
    }
    if (segment.kind === 'opaque') {
      current += segment.text;
      if (!segment.text.startsWith('--') && !segment.text.startsWith('/*')) meaningful = true;
      continue;
    }
    for (const ch of segment.text) {
      if (ch === ';') {
        if (meaningful) statements.push(current.trim());
        current = '';
        meaningful = false;
        continue;
      }
      current += ch;
      if (!/\s/.test(ch)) meaningful = true;
    }
  }
  if (meaningful) statements.push(current.trim());
  return statements;
}
