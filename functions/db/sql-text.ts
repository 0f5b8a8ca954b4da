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
  /** A quoted string, quoted identifier or dollar-quoted body, quotes included. */
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'comment'; readonly text: string }
  | { readonly kind: 'param'; readonly name: string };

// Sticky: each matches only at its lastIndex, so scanning never copies the rest of the text.
const PARAM_NAME = /[A-Za-z_][A-Za-z0-9_]*/y;
const DOLLAR_TAG = /\$([A-Za-z_][A-Za-z0-9_]*)?\$/y;

function matchAt(pattern: RegExp, text: string, index: number): string | undefined {
  pattern.lastIndex = index;
  return pattern.exec(text)?.[0];
}

/** Splits SQL into code, literal, comment and parameter segments. */
export function scanSql(sql: string): Segment[] {
  const segments: Segment[] = [];
  let code = '';
  const flushCode = () => {
    if (code) segments.push({ kind: 'code', text: code });
    code = '';
  };
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i];
    const opaque = endOfOpaque(sql, i);
    if (opaque !== undefined) {
      flushCode();
      segments.push({ kind: opaque.kind, text: sql.slice(i, opaque.end) });
      i = opaque.end;
      continue;
    }
    if (ch === ':' && sql[i + 1] === ':') {
      code += '::';
      i += 2;
      continue;
    }
    if (ch === ':') {
      const name = matchAt(PARAM_NAME, sql, i + 1);
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

/** The literal or comment starting at `i` and the index just past it, or undefined if none starts there. */
function endOfOpaque(
  sql: string,
  i: number,
): { kind: 'literal' | 'comment'; end: number } | undefined {
  const ch = sql[i];
  const next = sql[i + 1];
  if (ch === "'" || ch === '"') {
    // E'…' strings also escape with a backslash.
    const backslashEscapes =
      ch === "'" && /[eE]/.test(sql[i - 1] ?? '') && !/[A-Za-z0-9_]/.test(sql[i - 2] ?? '');
    return { kind: 'literal', end: endOfQuoted(sql, i, ch, backslashEscapes) };
  }
  if (ch === '-' && next === '-') {
    const eol = sql.indexOf('\n', i);
    return { kind: 'comment', end: eol === -1 ? sql.length : eol };
  }
  if (ch === '/' && next === '*') return { kind: 'comment', end: endOfBlockComment(sql, i) };
  if (ch === '$') {
    const previous = sql[i - 1] ?? ' ';
    if (/[A-Za-z0-9_]/.test(previous)) return undefined;
    const tag = matchAt(DOLLAR_TAG, sql, i);
    if (!tag) return undefined;
    const close = sql.indexOf(tag, i + tag.length);
    return { kind: 'literal', end: close === -1 ? sql.length : close + tag.length };
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
    if (segment.kind === 'literal' || segment.kind === 'comment') {
      current += segment.text;
      if (segment.kind === 'literal') meaningful = true;
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

/**
 * The statement as it is sent to the Data API: without its comments. How the service's
 * parameter scanner and multi-statement check read a `;` or a `:name` inside a comment
 * is not documented, so no comment ever reaches it. Each comment becomes one space, so
 * the tokens around it never fuse.
 */
export function stripComments(sql: string): string {
  return scanSql(sql)
    .map((segment) => {
      if (segment.kind === 'param') return `:${segment.name}`;
      return segment.kind === 'comment' ? ' ' : segment.text;
    })
    .join('')
    .trim();
}

/** A colon that starts a parameter name (not one half of a `::` cast). */
const PARAMETER_LIKE = /(?<!:):(?!:)[A-Za-z_][A-Za-z0-9_]*/;

/**
 * What in a statement's text the Data API is not documented to parse as PostgreSQL
 * does: a comment, a `:name` inside a literal (its parameter scanner may take it for a
 * parameter), a `;` inside a literal (its multi-statement check may split there), or
 * more than one statement. One sentence per hazard; none for plain SQL.
 */
export function sqlTextHazards(sql: string): string[] {
  const hazards: string[] = [];
  for (const segment of scanSql(sql)) {
    if (segment.kind === 'comment') {
      hazards.push(`a comment (${excerpt(segment.text)}): strip comments before sending`);
    }
    if (segment.kind !== 'literal') continue;
    const parameter = PARAMETER_LIKE.exec(segment.text)?.[0];
    if (parameter) {
      hazards.push(
        `${parameter} inside the literal ${excerpt(segment.text)}: the Data API may read it as a parameter; build the text another way`,
      );
    }
    if (segment.text.includes(';')) {
      hazards.push(
        `; inside the literal ${excerpt(segment.text)}: the Data API may split the statement there; build the text another way`,
      );
    }
  }
  const statements = splitStatements(sql).length;
  if (statements > 1) hazards.push(`${statements} statements in one call: send one at a time`);
  return hazards;
}

function excerpt(text: string): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length > 40 ? `${line.slice(0, 37)}...` : line;
}
