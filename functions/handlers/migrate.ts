import { join } from 'node:path';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { awsExecutor } from '../aws.js';
import type { SqlExecutor } from '../db/executor.js';
import { loadMigrations, migrate } from '../db/migrator.js';
import { logger } from '../observability.js';
import { lambdaHandler } from './middleware.js';

/**
 * The deploy-time migrator: a CloudFormation custom resource (through the CDK Provider
 * framework) that applies `schema/` through the Data API before the API and schedules
 * are usable. Its properties carry a hash of the migrations, so every deploy that
 * brings new ones runs it again; a failed migration fails the deploy. Deleting the
 * stack never drops data.
 */
export async function applyMigrationsOnDeploy(
  db: SqlExecutor,
  schemaDir: string,
  event: Pick<CloudFormationCustomResourceEvent, 'RequestType'>,
): Promise<{ PhysicalResourceId: string; Data: { applied: string; latest: string } }> {
  const physicalId = 'provisioning-schema';
  if (event.RequestType === 'Delete')
    return { PhysicalResourceId: physicalId, Data: { applied: '', latest: '' } };
  const migrations = await loadMigrations(schemaDir);
  const report = await migrate(db, migrations);
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

// Its Data API budget (DATA_API_RETRY_BUDGET_SECONDS) outlasts a cluster waking from a
// long pause, so a deploy after a quiet weekend does not fail; the waits are counted.
export const handler = lambdaHandler(
  (event: CloudFormationCustomResourceEvent) =>
    applyMigrationsOnDeploy(awsExecutor(), schemaDir, event),
  { flushMetrics: true },
);
