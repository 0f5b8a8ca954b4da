import { describe, expect, it } from 'vitest';
import {
  parameterNames,
  splitStatements,
  sqlTextHazards,
  stripComments,
  toPositional,
} from '../../functions/db/sql-text.js';

describe('named parameters', () => {
  it('become positional placeholders, one per distinct name, in first-use order', () => {
    const { text, names } = toPositional('SELECT :b, :a WHERE x = :b');

    expect(text).toBe('SELECT $1, $2 WHERE x = $1');
    expect(names).toEqual(['b', 'a']);
  });

  it('are not found in casts, literals, quoted identifiers, comments or dollar-quoted bodies', () => {
    const sql = [
      `SELECT :id::uuid, 'a :not' AS "col :not", now()::timestamptz`,
      '-- a comment :not',
      '/* block :not */',
      '$body$ :not $body$, $$ :not $$, :last',
    ].join('\n');

    expect(parameterNames(sql)).toEqual(['id', 'last']);
  });

  it('survive escaped quotes inside literals', () => {
    expect(parameterNames(`SELECT 'it''s :not', :yes`)).toEqual(['yes']);
  });

  it('can carry the cast a bridge adds', () => {
    const { text } = toPositional('SELECT :id', (placeholder) => `${placeholder}::uuid`);

    expect(text).toBe('SELECT $1::uuid');
  });
});

describe('splitting a migration into statements', () => {
  it('splits on top-level semicolons only', () => {
    const script = `
      CREATE TABLE a (note text DEFAULT 'x; y'); -- trailing; comment
      CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;
      /* only a comment; */
      INSERT INTO a VALUES ('z')`;

    expect(splitStatements(script)).toEqual([
      `CREATE TABLE a (note text DEFAULT 'x; y')`,
      `-- trailing; comment\n      CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql`,
      `/* only a comment; */\n      INSERT INTO a VALUES ('z')`,
    ]);
  });

  it('drops empty statements and comment-only tails', () => {
    expect(splitStatements('SELECT 1;;\n-- the end;\n')).toEqual(['SELECT 1']);
  });
});

describe('PostgreSQL lexical corners', () => {
  it('honour backslash escapes in E strings', () => {
    expect(parameterNames(String.raw`SELECT E'it\'s :not', :x`)).toEqual(['x']);
    expect(splitStatements(String.raw`SELECT E'\'';SELECT 2`)).toEqual([
      String.raw`SELECT E'\''`,
      'SELECT 2',
    ]);
  });

  it('treat a plain string ending in a backslash as ended', () => {
    expect(parameterNames(String.raw`SELECT 'C:\', :x`)).toEqual(['x']);
  });

  it('nest block comments', () => {
    expect(parameterNames('/* a /* b */ :hidden */ SELECT :x')).toEqual(['x']);
    expect(splitStatements('/* a /* b */ ; */ SELECT 1')).toEqual(['/* a /* b */ ; */ SELECT 1']);
  });
});

describe('comments, before a statement is sent', () => {
  it('are stripped, line and nested block comments alike, with parameters and literals kept', () => {
    const sql = [
      'SELECT :id, \'-- kept\', "/* kept */" -- a note; with :colon',
      '/* outer /* inner; */ still :comment */ FROM t',
    ].join('\n');

    expect(stripComments(sql)).toBe(`SELECT :id, '-- kept', "/* kept */"  \n  FROM t`);
  });

  it('never fuse the tokens around them', () => {
    expect(stripComments('SELECT 1/*x*/AS one')).toBe('SELECT 1 AS one');
  });
});

describe('text the Data API is not documented to parse', () => {
  it('is none in plain SQL, casts and colons that start no name included', () => {
    const sql = `SELECT :at::timestamptz, '12:30', 'a::text', $$x := 1$$ FROM t WHERE a = :a`;

    expect(sqlTextHazards(sql)).toEqual([]);
  });

  it('names a :word inside a string, a quoted identifier or a dollar-quoted body', () => {
    const hazards = sqlTextHazards(
      `SELECT to_char(now(), 'YYYY-MM-DD HH24:MI') AS "at:time", $$ :body $$`,
    );

    expect(hazards).toEqual([
      expect.stringMatching(/^:MI inside the literal 'YYYY-MM-DD HH24:MI'/),
      expect.stringMatching(/^:time inside the literal "at:time"/),
      expect.stringMatching(/^:body inside the literal \$\$ :body \$\$/),
    ]);
  });

  it('names a semicolon inside a literal, a comment, and a second statement', () => {
    expect(sqlTextHazards("SELECT 'a; b' -- note\n")).toEqual([
      expect.stringMatching(/^; inside the literal 'a; b'/),
      expect.stringMatching(/^a comment \(-- note\)/),
    ]);
    expect(sqlTextHazards('SELECT 1; SELECT 2')).toEqual([
      '2 statements in one call: send one at a time',
    ]);
  });
});
