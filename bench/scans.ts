import type { BenchDatabase } from './database.js';
import { HOT_READS, loadAllStatements, SAMPLE_SESSION, type Scale, seedAtScale } from './scale.js';
import { median } from './stats.js';

/**
 * The hot statements timed by PostgreSQL itself (EXPLAIN ANALYZE's execution time, in a
 * transaction rolled back so a claim claims nothing) over a live system's shape at two
 * sizes: flat means the same milliseconds at a hundred times the tenants.
 */

const SAMPLE = {
  text: SAMPLE_SESSION,
  int: 25,
  bool: false,
  uuid: '00000000-0000-4000-8000-000000000000',
  json: {},
  decimal: '1',
} as const;

class Rollback extends Error {}

async function executionMs(database: BenchDatabase, sql: string, params: object): Promise<number> {
  let ms = Number.NaN;
  await database.executor
    .transaction(async (tx) => {
      const [row] = await tx.execute(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params as never);
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
    const params: Record<string, { type: string; value: unknown }> = {};
    for (const [param, type] of Object.entries(statement.params)) {
      params[param] = { type, value: type === 'timestamp' ? new Date() : SAMPLE[type] };
    }
    const runs: number[] = [];
    await executionMs(database, statement.sql, params);
    for (let i = 0; i < rounds; i += 1)
      runs.push(await executionMs(database, statement.sql, params));
    times[name] = median(runs);
  }
  return times;
}
