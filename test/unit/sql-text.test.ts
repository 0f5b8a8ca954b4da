import { describe, expect, it } from 'vitest';
import { parameterNames, splitStatements, toPositional } from '../../functions/db/sql-text.js';

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
