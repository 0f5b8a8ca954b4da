import { createHash } from 'node:crypto';
import pg from 'pg';
import type {
  BoundParam,
  BoundParams,
  DecodedRow,
  ExecuteOptions,
  SqlExecutor,
} from './executor.js';
import { StatementError } from './executor.js';
import { toPositional } from './sql-text.js';

const INT8_OID = 20;
const TIMESTAMP_OID = 1114;
const TIMESTAMPTZ_OID = 1184;

/**
 * Decodes columns exactly as the Data API executor does: int8 as a number (quotas and
 * counts stay far below 2^53), timestamps as Dates, numeric as a string (pg's default),
 * json as parsed values (pg's default).
 */
const typeParsers = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8_OID) return (value: string) => Number(value);
    if (oid === TIMESTAMP_OID) return (value: string) => new Date(`${value.replace(' ', 'T')}Z`);
    if (oid === TIMESTAMPTZ_OID) return (value: string) => new Date(value);
    return pg.types.getTypeParser(oid, format ?? 'text');
  }) as typeof pg.types.getTypeParser,
};

/** Pool settings every connection needs: UTC sessions, as Aurora's Data API has. */
export function createPool(connectionString: string, max = 10): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    types: typeParsers,
    options: '-c TimeZone=UTC',
  });
  // An idle connection the server closes (restart, shutdown) is dropped by the pool and
  // replaced on the next query; unhandled, its error event would crash the process.
  pool.on('error', () => {});
  return pool;
}

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

/**
 * A defined statement as `pg` prepares it: rewritten once (scanning the longest text
 * on every call cost more CPU than a local server's own work) and named by its text,
 * so each connection parses and plans it once. Defined statements are a fixed set.
 */
interface PreparedText {
  readonly name: string;
  readonly text: string;
  readonly names: readonly string[];
}
const preparedTexts = new Map<string, PreparedText>();

function preparedText(sql: string): PreparedText {
  let prepared = preparedTexts.get(sql);
  if (!prepared) {
    const name = `stmt_${createHash('sha256').update(sql).digest('hex').slice(0, 32)}`;
    prepared = { name, ...toPositional(sql) };
    preparedTexts.set(sql, prepared);
  }
  return prepared;
}

/**
 * When a connection's prepared statement cannot be used, the text runs unprepared
 * instead: its tables changed shape under it (a migration run while it was open), or
 * the server side is not the one it was prepared on (DEALLOCATE by someone sharing the
 * connection, a pooler such as PgBouncer in transaction mode between here and the
 * server). Correct in every case; prepared is only the fast path.
 */
const PREPARED_UNUSABLE = new Set([
  '0A000', // cached plan must not change result type
  '26000', // prepared statement does not exist
  '42P05', // prepared statement already exists
]);

/** Runs the same named-parameter statements on a PostgreSQL server through `pg`. */
export class PgExecutor implements SqlExecutor {
  constructor(
    private readonly pool: pg.Pool,
    private readonly connection: Queryable = pool,
  ) {}

  async execute(
    sql: string,
    params: BoundParams = {},
    options: ExecuteOptions = {},
  ): Promise<DecodedRow[]> {
    // Never inside a transaction: a prepared statement refused there would abort it, and
    // the text could not run unprepared after it.
    const { name, text, names } =
      options.prepared && this.connection === this.pool
        ? preparedText(sql)
        : { name: undefined, ...toPositional(sql) };
    const values = names.map((parameter) => {
      const param = params[parameter];
      if (!param) throw new StatementError(`statement has no value for parameter :${parameter}`);
      return encode(param);
    });
    try {
      const result = await this.connection
        .query({ ...(name ? { name } : {}), text, values })
        .catch((error: unknown) => {
          const unusable =
            name !== undefined &&
            error instanceof pg.DatabaseError &&
            PREPARED_UNUSABLE.has(error.code ?? '');
          if (!unusable) throw error;
          return this.connection.query({ text, values });
        });
      return result.rows as DecodedRow[];
    } catch (error) {
      if (error instanceof pg.DatabaseError) {
        throw new StatementError(error.message, error.code, { cause: error });
      }
      throw error;
    }
  }

  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    if (this.connection !== this.pool) return work(this);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(new PgExecutor(this.pool, client));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}

/**
 * Timestamps go as UTC ISO strings so their meaning never depends on the type the
 * server infers for the parameter; json goes as text, as the Data API sends it.
 */
function encode(param: BoundParam): unknown {
  if (param.value === null) return null;
  if (param.type === 'timestamp') return param.value.toISOString();
  if (param.type === 'json') return JSON.stringify(param.value);
  return param.value;
}
