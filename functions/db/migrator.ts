import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SqlExecutor } from './executor.js';
import { splitStatements } from './sql-text.js';

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

const CREATE_LEDGER = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version text PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;
// Serialises concurrent migrators (two deploys, or a deploy and `npm start`).
const LOCK_LEDGER = `SELECT pg_advisory_xact_lock(hashtext('schema_migrations'))`;
const READ_LEDGER = 'SELECT version, checksum FROM schema_migrations';
const RECORD = `INSERT INTO schema_migrations (version, name, checksum) VALUES (:version, :name, :checksum)`;

/**
 * Applies pending migrations in order, each in its own transaction together with its
 * ledger row, statement by statement (the Data API runs one statement per call).
 * Refuses to run when an applied migration's file was edited since.
 */
export async function migrate(
  executor: SqlExecutor,
  migrations: readonly Migration[],
): Promise<MigrationReport> {
  await executor.execute(CREATE_LEDGER);
  const report = { applied: [] as string[], alreadyApplied: [] as string[] };
  for (const migration of migrations) {
    const checksum = checksumOf(migration);
    const outcome = await executor.transaction(async (tx) => {
      await tx.execute(LOCK_LEDGER);
      const ledger = await tx.execute(READ_LEDGER);
      const applied = ledger.find((row) => row.version === migration.version);
      if (applied) {
        if (applied.checksum !== checksum) {
          throw new Error(
            `migration ${migration.version}_${migration.name} was edited after it was applied; add a new migration instead`,
          );
        }
        return 'already' as const;
      }
      for (const statement of splitStatements(migration.sql)) {
        await tx.execute(statement).catch((error: unknown) => {
          // The deploy (or npm start) reports this message: name the file at fault.
          const reason = error instanceof Error ? error.message : String(error);
          throw new Error(`migration ${migration.version}_${migration.name} failed: ${reason}`, {
            cause: error,
          });
        });
      }
      await tx.execute(RECORD, {
        version: { type: 'text', value: migration.version },
        name: { type: 'text', value: migration.name },
        checksum: { type: 'text', value: checksum },
      });
      return 'applied' as const;
    });
    (outcome === 'applied' ? report.applied : report.alreadyApplied).push(migration.version);
  }
  return report;
}
