import type * as z from 'zod';
import type { BoundParams, ParamType, ParamTypeValues, Replay, SqlExecutor } from './executor.js';
import { parameterNames, sqlTextHazards, stripComments } from './sql-text.js';

type ParamSpec = Readonly<Record<string, ParamType>>;

/** The values a statement takes, typed from its parameter spec. Every value may be null. */
export type StatementValues<P extends ParamSpec> = {
  readonly [K in keyof P]: ParamTypeValues[P[K]] | null;
};

/**
 * A statement written once: its SQL with `:name` parameters, the SQL type of each
 * parameter, and the shape of its rows. Both executors run it unchanged.
 */
export interface Statement<P extends ParamSpec, R> {
  readonly name: string;
  readonly sql: string;
  readonly params: P;
  readonly row: z.ZodType<R>;
  /**
   * `safe` when running it twice with the same values changes nothing more than once
   * and answers the same (see `Replay`): the Data API executor then sends it again
   * after a fault that left its outcome unknown. Absent means `never`.
   */
  readonly replay?: Replay;
}

type AnyStatement = Statement<ParamSpec, unknown>;

const registry: AnyStatement[] = [];

/** Every statement defined so far (by the modules imported so far), in definition order. */
export function definedStatements(): readonly AnyStatement[] {
  return registry;
}

/**
 * Declares a statement and registers it, so a test can check them all
 * (`statementProblems`, run over every registered statement by
 * test/unit/statement-text.test.ts): not at module load, where the scan would only
 * lengthen every cold start for text that never changes at run time.
 */
export function defineStatement<P extends ParamSpec, R>(
  statement: Statement<P, R>,
): Statement<P, R> {
  registry.push(statement);
  return statement;
}

/**
 * What is wrong with a statement, if anything: its SQL and its parameter spec name
 * different parameters, or its text is not plain for the Data API (see `sqlTextHazards`).
 */
export function statementProblems(statement: AnyStatement): string[] {
  const used = parameterNames(statement.sql).sort();
  const declared = Object.keys(statement.params).sort();
  const problems =
    used.join() === declared.join()
      ? []
      : [`SQL uses [${used.join(', ')}] but declares [${declared.join(', ')}]`];
  return [...problems, ...sqlTextHazards(stripComments(statement.sql))];
}

/** Runs a statement and returns its rows, each checked against the statement's row schema. */
export async function runStatement<P extends ParamSpec, R>(
  executor: SqlExecutor,
  statement: Statement<P, R>,
  values: StatementValues<P>,
): Promise<R[]> {
  const bound: Record<string, BoundParams[string]> = {};
  for (const [name, type] of Object.entries(statement.params)) {
    bound[name] = { type, value: values[name] ?? null } as BoundParams[string];
  }
  const rows = await executor.execute(statement.sql, bound, {
    name: statement.name,
    replay: statement.replay ?? 'never',
    prepared: true,
  });
  return rows.map((row) => statement.row.parse(row));
}

/** Runs a statement that answers exactly one row (an aggregate, or an upsert's RETURNING). */
export async function runStatementForOne<P extends ParamSpec, R>(
  executor: SqlExecutor,
  statement: Statement<P, R>,
  values: StatementValues<P>,
): Promise<R> {
  const [row, ...rest] = await runStatement(executor, statement, values);
  if (row === undefined || rest.length > 0) {
    throw new Error(
      `statement ${statement.name} answered ${rest.length + (row ? 1 : 0)} rows, expected 1`,
    );
  }
  return row;
}
