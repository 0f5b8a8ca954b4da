import { DataApiExecutor } from '../../functions/db/data-api-executor.js';
import type { DatabaseRole } from '../../functions/db/database-roles.js';
import type { SqlExecutor } from '../../functions/db/executor.js';
import { DataApiBridge } from './data-api-bridge.js';
import type { TestDatabase } from './postgres.js';

export const TEST_DATA_API_TARGET = {
  resourceArn: 'arn:aws:rds:us-east-1:123456789012:cluster:provisioning-test',
  secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:provisioning-test-AbCdEf',
  database: 'provisioning',
};

/**
 * The production Data API executor, served by a faithful bridge over the test database:
 * as the master user, or `as` one of the roles the functions log in as in AWS.
 */
export function bridgedExecutor(
  db: TestDatabase,
  options: { readonly as?: DatabaseRole } = {},
): {
  executor: DataApiExecutor;
  bridge: DataApiBridge;
} {
  const bridge = new DataApiBridge(
    options.as ? { connectionString: db.connectionStringAs(options.as) } : { pool: db.pool },
  );
  const executor = new DataApiExecutor(bridge.client(), TEST_DATA_API_TARGET, {
    retry: { baseDelayMs: 5, maxDelayMs: 50, budgetMs: 2_000 },
  });
  return { executor, bridge };
}

/** Both executors over one database: domain tests run the same assertions through each. */
export function executorsFor(db: TestDatabase): { name: string; executor: SqlExecutor }[] {
  return [
    { name: 'Data API', executor: bridgedExecutor(db).executor },
    { name: 'pg', executor: db.executor },
  ];
}
