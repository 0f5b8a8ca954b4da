import { inject } from 'vitest';
import {
  DATABASE_ROLES,
  type DatabaseRole,
  grantTablePrivileges,
} from '../../functions/db/database-roles.js';
import { createScratchDatabase, type ScratchDatabase } from '../../local/scratch-database.js';
import { TEST_ROLE_PASSWORDS } from './role-passwords.js';

export { SCHEMA_DIR } from '../../local/scratch-database.js';

export interface TestDatabase extends Omit<ScratchDatabase, 'drop'> {
  /** This database as one of the roles the functions log in as (see `database-roles.ts`). */
  connectionStringAs(role: DatabaseRole): string;
  close(): Promise<void>;
}

/** A new database on the run's PostgreSQL server, with every migration applied unless asked not to. */
export async function freshDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const migrated = options.migrated ?? true;
  const database = await createScratchDatabase(inject('postgresAdminUrl'), {
    prefix: 'test',
    poolSize: 60,
    migrated,
  });
  if (migrated) await grantTablePrivileges(database.executor);
  const { drop, ...rest } = database;
  return {
    ...rest,
    connectionStringAs: (role) => {
      const as = new URL(database.connectionString);
      as.username = DATABASE_ROLES[role];
      as.password = TEST_ROLE_PASSWORDS[role];
      return as.toString();
    },
    close: drop,
  };
}
