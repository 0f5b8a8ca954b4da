/**
 * `npm run db:migrate`: applies pending migrations from `schema/` to DATABASE_URL, or
 * to the embedded local database when DATABASE_URL is unset, then the database roles'
 * grants (the roles get no password here: in AWS the migrator sets them from secrets).
 */
import { fileURLToPath } from 'node:url';
import { applyDatabaseRoles } from '../functions/db/database-roles.js';
import { loadMigrations, migrate } from '../functions/db/migrator.js';
import { createPool, PgExecutor } from '../functions/db/pg-executor.js';
import { openEmbeddedDatabase } from '../local/embedded-database.js';

const schemaDir = fileURLToPath(new URL('../schema', import.meta.url));
const external = process.env.DATABASE_URL;
const database = external
  ? { connectionString: external, stop: async () => {} }
  : await openEmbeddedDatabase();
const pool = createPool(database.connectionString, 2);
try {
  const db = new PgExecutor(pool);
  const report = await migrate(db, await loadMigrations(schemaDir));
  await applyDatabaseRoles(db).catch((error: unknown) => {
    // Locally nobody logs in as the roles: a user that may not create them is no failure.
    console.warn(`Database roles not applied: ${error instanceof Error ? error.message : error}`);
  });
  const where = external ? 'DATABASE_URL' : 'the embedded database (.data/postgres)';
  console.log(
    report.applied.length
      ? `Applied ${report.applied.join(', ')} to ${where}.`
      : `Nothing to apply: ${where} is at ${report.alreadyApplied.at(-1) ?? 'no migrations'}.`,
  );
} catch (error) {
  console.error(`Migration failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await pool.end();
  await database.stop();
}
