import type { BoundParams } from '../functions/db/executor.js';
import type { BenchDatabase } from './database.js';
import { HOT_READS, loadAllStatements, type Scale, sampleParams, seedAtScale } from './scale.js';
import { median } from './stats.js';

/**
 * The hot statements timed by PostgreSQL itself (EXPLAIN ANALYZE's execution time, in a
 * transaction rolled back so a claim claims nothing) over a live system's shape at two
 * sizes: flat means the same milliseconds at a hundred times the tenants.
 */

class Rollback extends Error {}

async function executionMs(
  database: BenchDatabase,
  sql: string,
  params: BoundParams,
): Promise<number> {
  let ms = Number.NaN;
  await database.executor
    .transaction(async (tx) => {
      const [row] = await tx.execute(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
      const [plan] = (row?.['QUERY PLAN'] ?? []) as { 'Execution Time': number }[];
      ms = plan?.['Execution Time'] ?? Number.NaN;
      throw new Rollback();
    })
    .catch((error: unknown) => {
      if (!(error instanceof Rollback)) throw error;
    });
  return ms;
}

export type ScanTimes = Record<(typeof HOT_READS)[number], number>;

/** The median execution time of each timed statement over `rounds` runs. */
export async function timeStatements(
  database: BenchDatabase,
  scale: Scale,
  rounds: number,
): Promise<ScanTimes> {
  await seedAtScale(database.pool, scale);
  const statements = await loadAllStatements();
  const times = {} as ScanTimes;
  for (const name of HOT_READS) {
    const statement = statements.find((candidate) => candidate.name === name);
    if (!statement) throw new Error(`no statement named ${name}`);
    const params = sampleParams(statement);
    const runs: number[] = [];
    await executionMs(database, statement.sql, params);
    for (let i = 0; i < rounds; i += 1)
      runs.push(await executionMs(database, statement.sql, params));
    times[name] = median(runs);
  }
  return times;
}
