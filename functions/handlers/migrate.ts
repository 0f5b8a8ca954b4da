import { join } from 'node:path';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { readRolePassword } from '../adapters/secrets.js';
import { awsConfig, awsExecutor } from '../aws.js';
import type { Config } from '../config.js';
import {
  applyDatabaseRoles,
  DATABASE_ROLES,
  type DatabaseRole,
  type RolePasswords,
} from '../db/database-roles.js';
import type { SqlExecutor } from '../db/executor.js';
import { loadMigrations, migrate } from '../db/migrator.js';
import { logger, traced } from '../observability.js';
import { lambdaHandler } from './middleware.js';

/**
 * The deploy-time migrator: a CloudFormation custom resource (through the CDK Provider
 * framework) that applies `schema/` through the Data API before the API and schedules
 * are usable, then the database roles the functions log in as, with the passwords of
 * their secrets, and their grants. Its properties carry a hash of the migrations and
 * of the grants, so every deploy that changes either runs it again; a failure fails the
 * deploy. Deleting the stack never drops data.
 */
export async function applyMigrationsOnDeploy(
  db: SqlExecutor,
  schemaDir: string,
  event: Pick<CloudFormationCustomResourceEvent, 'RequestType'>,
  passwords: RolePasswords = {},
): Promise<{ PhysicalResourceId: string; Data: { applied: string; latest: string } }> {
  const physicalId = 'provisioning-schema';
  if (event.RequestType === 'Delete')
    return { PhysicalResourceId: physicalId, Data: { applied: '', latest: '' } };
  const migrations = await loadMigrations(schemaDir);
  const report = await migrate(db, migrations);
  await applyDatabaseRoles(db, passwords);
  logger.info('schema migrated', {
    applied: report.applied,
    already_applied: report.alreadyApplied.length,
  });
  return {
    PhysicalResourceId: physicalId,
    Data: { applied: report.applied.join(','), latest: migrations.at(-1)?.version ?? '' },
  };
}

// The bundle carries schema/ next to the handler (see lib/constructs/database.ts).
const schemaDir = join(process.env.LAMBDA_TASK_ROOT ?? '.', 'schema');

/** The roles' passwords from the secrets the stack made for them (the migrator alone reads them). */
async function rolePasswords(config: Config): Promise<RolePasswords> {
  const client = traced(new SecretsManagerClient({}));
  const passwords: RolePasswords = {};
  for (const role of Object.keys(DATABASE_ROLES) as DatabaseRole[]) {
    const arn = config.roleSecretArns[role];
    if (arn) passwords[role] = await readRolePassword(client, arn, DATABASE_ROLES[role]);
  }
  return passwords;
}

// Its Data API budget (DATA_API_RETRY_BUDGET_SECONDS) outlasts a cluster waking from a
// long pause, so a deploy after a quiet weekend does not fail; the waits are counted.
export const handler = lambdaHandler(async (event: CloudFormationCustomResourceEvent) => {
  const passwords = event.RequestType === 'Delete' ? {} : await rolePasswords(awsConfig());
  return applyMigrationsOnDeploy(awsExecutor(), schemaDir, event, passwords);
});
