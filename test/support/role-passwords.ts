import type { DatabaseRole } from '../../functions/db/database-roles.js';

/** What the test run's database roles log in with (the stack generates real ones). */
export const TEST_ROLE_PASSWORDS: Record<DatabaseRole, string> = {
  app: 'test-app-role-password-7c1e',
  reader: 'test-reader-role-password-3b9d',
};
