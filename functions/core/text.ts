import * as z from 'zod';

/**
 * The input limits of SPEC 2.5a, as zod schemas for the contracts: every text field of
 * every input has a length cap and refuses control characters (NUL included: PostgreSQL
 * refuses it, so it would otherwise surface as a 500 that the sender retries forever)
 * and unpaired surrogates (which no encoder can store as UTF-8 faithfully).
 */

/** Unicode control characters (C0, DEL, C1) and lone surrogate halves. */
const FORBIDDEN = /[\p{Cc}\p{Cs}]/u;
/** The same, except tab, line feed and carriage return: diagnostic text spans lines. */
const FORBIDDEN_IN_MULTILINE = /[^\P{Cc}\t\n\r]|\p{Cs}/u;

// The rules above as JSON Schema patterns (ECMA-262, unicode mode), for the contract documents.
const SINGLE_LINE_PATTERN = '^[^\\p{Cc}\\p{Cs}]*$';
const MULTILINE_PATTERN = '^(?:[^\\p{Cc}\\p{Cs}]|[\\t\\n\\r])*$';

const NO_CONTROL_CHARACTERS = 'must not contain control characters';

/** Whether `value` holds a character no single-line text field accepts. */
function hasForbiddenCharacters(value: string, options: { multiline?: boolean } = {}) {
  return (options.multiline ? FORBIDDEN_IN_MULTILINE : FORBIDDEN).test(value);
}

/**
 * A text field: at most `max` characters, no control characters (with `multiline`, tab
 * and line breaks are allowed). The JSON Schema documents say the same as a pattern.
 */
export function boundedText(max: number, options: { multiline?: boolean } = {}) {
  return z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine((value) => !hasForbiddenCharacters(value, options), NO_CONTROL_CHARACTERS)
    .meta({ pattern: options.multiline ? MULTILINE_PATTERN : SINGLE_LINE_PATTERN });
}

/**
 * A value from an input, safe to keep as a reference in an operator's trail: undefined
 * when it is not a short single-line string (a refused input's own bad value is never
 * written back).
 */
export function referenceOf(value: unknown, max = 255): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) return undefined;
  return hasForbiddenCharacters(value) ? undefined : value;
}

/**
 * Text made safe to store whatever it holds: forbidden characters shown as `\uXXXX`,
 * cut at `max` characters. For reasons and references that quote an input.
 */
export function storableText(value: string, max: number): string {
  const shown = value.replace(
    /[\p{Cc}\p{Cs}]/gu,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return shown.length > max ? `${shown.slice(0, max - 1)}…` : shown;
}
