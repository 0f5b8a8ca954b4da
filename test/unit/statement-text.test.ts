import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { loadMigrations } from '../../functions/db/migrator.js';
import {
  scanSql,
  splitStatements,
  sqlTextHazards,
  stripComments,
} from '../../functions/db/sql-text.js';
import { definedStatements, statementProblems } from '../../functions/db/statement.js';
import { SCHEMA_DIR } from '../support/postgres.js';

const DB_DIR = fileURLToPath(new URL('../../functions/db', import.meta.url));

/** Every module under functions/db, jobs/ and any folder added later included. */
function modulesUnder(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return modulesUnder(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/**
 * Functions that return void, a type outside the Data API's documented result types:
 * selected, they must be cast to one (or called in FROM, where no column of theirs is
 * answered).
 */
const VOID_FUNCTIONS =
  /\b(pg_advisory(_xact)?_lock(_shared)?|pg_advisory_unlock_all|pg_sleep(_for|_until)?|pg_notify)\s*\(/g;

function uncastVoidCalls(sql: string): string[] {
  const code = scanSql(sql)
    .map((segment) => (segment.kind === 'code' ? segment.text : ' '))
    .join('');
  return [...code.matchAll(VOID_FUNCTIONS)]
    .filter((match) => !/(CAST\s*\(|FROM)\s*$/i.test(code.slice(0, match.index)))
    .map((match) => match[1] ?? '');
}

/** What the Data API executor would send, as the scan sees it. */
const sent = (sql: string) => stripComments(sql);

const modules = modulesUnder(DB_DIR);

beforeAll(async () => {
  for (const module of modules) await import(pathToFileURL(module).href);
});

describe('every statement the repositories define', () => {
  it('is registered, so the scan reaches them all, those of functions/db/jobs/ included', () => {
    const definitions = modules
      .map((module) => readFileSync(module, 'utf8').match(/\bdefineStatement\(/g)?.length ?? 0)
      .reduce((sum, count) => sum + count, 0);
    const names = definedStatements().map((statement) => statement.name);

    expect(names).toHaveLength(definitions);
    expect(names).toEqual(
      expect.arrayContaining([
        'record settled checkout',
        'claim stale jobs',
        'lock migration ledger',
      ]),
    );
  });

  it('is text the Data API surely parses once its comments are stripped: no :name or ; inside a literal, one statement', () => {
    const hazardous = definedStatements()
      .map((statement) => ({ name: statement.name, hazards: sqlTextHazards(sent(statement.sql)) }))
      .filter((statement) => statement.hazards.length > 0);

    expect(hazardous).toEqual([]);
  });

  it('names in its SQL exactly the parameters it declares (the local console’s too)', async () => {
    await import('../../local/console/jobs-repository.js');
    const wrong = definedStatements()
      .map((statement) => ({ name: statement.name, problems: statementProblems(statement) }))
      .filter((statement) => statement.problems.length > 0);

    expect(wrong).toEqual([]);
    expect(
      statementProblems({
        name: 'broken',
        sql: `SELECT :a, to_char(now(), 'HH24:MI')`,
        params: { a: 'text', b: 'int' },
        row: z.object({}),
      }),
    ).toEqual([
      'SQL uses [a] but declares [a, b]',
      expect.stringMatching(/^:MI inside the literal/),
    ]);
  });

  it('casts the result of a function returning void (the migrator advisory lock) to a documented type', () => {
    const uncast = definedStatements()
      .map((statement) => ({ name: statement.name, calls: uncastVoidCalls(statement.sql) }))
      .filter((statement) => statement.calls.length > 0);

    expect(uncast).toEqual([]);
  });

  it('would name a statement that broke these rules', () => {
    const broken = `SELECT to_char(now(), 'HH24:MI') AS at, pg_advisory_xact_lock(1) -- note`;

    expect(sqlTextHazards(sent(broken))).toEqual([
      expect.stringMatching(/^:MI inside the literal/),
    ]);
    expect(uncastVoidCalls(broken)).toEqual(['pg_advisory_xact_lock']);
    expect(uncastVoidCalls('SELECT CAST(pg_advisory_xact_lock(1) AS text)')).toEqual([]);
  });
});

describe('every migration in schema/', () => {
  it('splits into statements the Data API surely parses once their comments are stripped', async () => {
    const migrations = await loadMigrations(SCHEMA_DIR);
    const hazardous = migrations.flatMap((migration) =>
      splitStatements(migration.sql)
        .map((statement) => ({
          migration: `${migration.version}_${migration.name}`,
          statement: sent(statement).slice(0, 60),
          hazards: [...sqlTextHazards(sent(statement)), ...uncastVoidCalls(statement)],
        }))
        .filter((statement) => statement.hazards.length > 0),
    );

    expect(migrations.length).toBeGreaterThan(0);
    expect(hazardous).toEqual([]);
  });
});
