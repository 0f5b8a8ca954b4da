import type { TestProject } from 'vitest/node';
import { startScratchPostgres } from '../../local/scratch-postgres.js';

/**
 * One PostgreSQL 16 for the whole test run: `DATABASE_URL` when it is set (CI or a
 * developer's own server), otherwise an embedded server in a temporary directory.
 * Each test file then creates databases of its own (see `postgres.ts`).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
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
