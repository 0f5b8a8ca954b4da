import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { AmbiguousFaultError, type SqlExecutor } from './executor.js';
import { splitStatements } from './sql-text.js';
import { defineStatement, runStatement } from './statement.js';

export interface Migration {
  /** The file name's leading number, e.g. `0001`; migrations apply in this order. */
  readonly version: string;
  readonly name: string;
  readonly sql: string;
}

export interface MigrationReport {
  readonly applied: string[];
  readonly alreadyApplied: string[];
}

const MIGRATION_FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/** Reads `schema/NNNN_name.sql` files in version order. */
export async function loadMigrations(directory: string): Promise<Migration[]> {
  const files = (await readdir(directory)).filter((file) => file.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = MIGRATION_FILE.exec(file);
    if (!match?.[1] || !match[2]) {
      throw new Error(`schema file ${file} is not named NNNN_lower_snake_name.sql`);
    }
    migrations.push({
      version: match[1],
      name: match[2],
      sql: await readFile(join(directory, file), 'utf8'),
    });
  }
  const versions = migrations.map((migration) => migration.version);
  const duplicate = versions.find((version, index) => versions.indexOf(version) !== index);
  if (duplicate) throw new Error(`two schema files share version ${duplicate}`);
  return migrations;
}

export function checksumOf(migration: Migration): string {
  return createHash('sha256').update(migration.sql).digest('hex');
}

const createLedger = defineStatement({
  name: 'create migration ledger',
  sql: `
CREATE TABLE IF NOT EXISTS schema_migrations (
  version text PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`,
  params: {},
  row: z.never(),
  replay: 'safe',
});

const lockLedger = defineStatement({
  name: 'lock migration ledger',
  // Serialises concurrent migrators (two deploys, or a deploy and `npm start`). The
  // lock function returns void, which is not among the result types the Data API
  // documents: the cast makes the result a text column.
  sql: `SELECT CAST(pg_advisory_xact_lock(hashtext('schema_migrations')) AS text) AS locked`,
  params: {},
  row: z.object({ locked: z.string() }),
  replay: 'safe',
});

const readLedger = defineStatement({
  name: 'read migration ledger',
  sql: 'SELECT version, checksum FROM schema_migrations',
  params: {},
  row: z.object({ version: z.string(), checksum: z.string() }),
  replay: 'safe',
});

const recordMigration = defineStatement({
  name: 'record applied migration',
  sql: 'INSERT INTO schema_migrations (version, name, checksum) VALUES (:version, :name, :checksum)',
  params: { version: 'text', name: 'text', checksum: 'text' },
  row: z.never(),
});

/**
 * How many times a migration's transaction is run again after a fault that left its
 * outcome unknown (a lost commit answer). The transaction is replay-safe as a whole:
 * it reads the ledger under its lock first, so a committed run is seen, never redone.
 */
const AMBIGUOUS_REPLAYS = 2;

/**
 * Applies pending migrations in order, each in its own transaction together with its
 * ledger row, statement by statement (the Data API runs one statement per call).
 * Refuses to run when an applied migration's file was edited since.
 */
export async function migrate(
  executor: SqlExecutor,
  migrations: readonly Migration[],
): Promise<MigrationReport> {
  await runStatement(executor, createLedger, {});
  const report = { applied: [] as string[], alreadyApplied: [] as string[] };
  for (const migration of migrations) {
    const { outcome, replayed } = await replayingAmbiguousFaults(() =>
      applyOne(executor, migration),
    );
    // Found in the ledger after a lost commit answer: that commit was this run's.
    const applied = outcome === 'applied' || replayed;
    (applied ? report.applied : report.alreadyApplied).push(migration.version);
  }
  return report;
}

async function replayingAmbiguousFaults<T>(
  run: () => Promise<T>,
): Promise<{ outcome: T; replayed: boolean }> {
  for (let replays = 0; ; replays += 1) {
    try {
      return { outcome: await run(), replayed: replays > 0 };
    } catch (error) {
      if (!isAmbiguous(error) || replays >= AMBIGUOUS_REPLAYS) throw error;
    }
  }
}

function isAmbiguous(error: unknown): boolean {
  if (error instanceof AmbiguousFaultError) return true;
  return error instanceof Error && error.cause !== undefined && isAmbiguous(error.cause);
}

function applyOne(executor: SqlExecutor, migration: Migration): Promise<'applied' | 'already'> {
  const checksum = checksumOf(migration);
  const label = `${migration.version}_${migration.name}`;
  return executor.transaction(async (tx) => {
    await runStatement(tx, lockLedger, {});
    const ledger = await runStatement(tx, readLedger, {});
    const applied = ledger.find((row) => row.version === migration.version);
    if (applied) {
      if (applied.checksum !== checksum) {
        throw new Error(
          `migration ${label} was edited after it was applied; add a new migration instead`,
        );
      }
      return 'already';
    }
    for (const statement of splitStatements(migration.sql)) {
      await tx.execute(statement, {}, { name: `migration ${label}` }).catch((error: unknown) => {
        // The deploy (or npm start) reports this message: name the file at fault.
        throw new Error(`migration ${label} failed: ${describeFailure(error)}`, { cause: error });
      });
    }
    await runStatement(tx, recordMigration, {
      version: migration.version,
      name: migration.name,
      checksum,
    });
    return 'applied';
  });
}

/**
 * A statement the Data API ran past its 45 s limit was cancelled and rolled back with
 * its whole migration (PostgreSQL DDL is transactional), so nothing half-done stays.
 */
function describeFailure(error: unknown): string {
  const reason = error instanceof Error ? error.message : String(error);
  if (error instanceof Error && error.name === 'StatementTimeoutException') {
    return `a statement ran past the Data API's 45 s call limit and was cancelled; nothing of this migration was applied. Split it into smaller statements (${reason})`;
  }
  return reason;
}
