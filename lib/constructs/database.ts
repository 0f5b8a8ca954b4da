import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CustomResource, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { IpAddresses, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  AuroraPostgresEngineVersion,
  ClusterInstance,
  Credentials,
  DatabaseCluster,
  DatabaseClusterEngine,
  DatabaseSecret,
} from 'aws-cdk-lib/aws-rds';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { DATA_API_RETRY_BUDGET_SECONDS } from '../../functions/core/resume-budget.js';
import {
  DATABASE_ROLES,
  type DatabaseRole,
  TABLE_GRANTS,
} from '../../functions/db/database-roles.js';
import { PACKAGE_ROOT } from '../package-paths.js';
import { ProjectFunction } from './project-function.js';

/** Who a function logs in as: one of the roles, or the master user (the migrator alone). */
export type DatabaseLogin = DatabaseRole | 'master';

const SCHEMA_DIR = join(PACKAGE_ROOT, 'schema');

export interface DatabaseProps {
  readonly stage: string;
  /** Production stages keep deletion protection, snapshots on delete and longer backups. */
  readonly production: boolean;
  readonly maxCapacityAcu: number;
  readonly logRetention: RetentionDays;
}

/**
 * Aurora PostgreSQL 16 Serverless v2 with the Data API: no function joins the VPC
 * (it exists only because a cluster needs subnets: isolated, no NAT), capacity scales
 * to zero when idle, credentials live in Secrets Manager, storage is encrypted. The
 * schema is migrated at deploy, before anything that serves traffic, and so are the
 * two roles the functions log in as (`database-roles.ts`), each with a secret of its
 * own; the master secret is the migrator's (and the operator CLI's) alone.
 */
export class Database extends Construct {
  readonly cluster: DatabaseCluster;
  /** The master login: the migrator's and the operator CLI's. */
  readonly credentials: ISecret;
  /** The logins of the roles the functions use, passwords generated here, set by the migrator. */
  readonly roleCredentials: Readonly<Record<DatabaseRole, ISecret>>;
  readonly databaseName = 'provisioning';
  /** Depend on this to be created only after the schema is migrated. */
  readonly migrated: CustomResource;

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);
    if (props.maxCapacityAcu < 0.5 || props.maxCapacityAcu > 256) {
      throw new Error(
        `Database maxCapacityAcu must be between 0.5 and 256, got ${props.maxCapacityAcu}`,
      );
    }
    const removalPolicy = props.production ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY;
    const vpc = new Vpc(this, 'Network', {
      ipAddresses: IpAddresses.cidr('10.42.0.0/24'),
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [
        { name: 'database', subnetType: SubnetType.PRIVATE_ISOLATED, cidrMask: 27 },
      ],
      restrictDefaultSecurityGroup: true,
    });
    vpc.addFlowLog('FlowLog');
    this.cluster = new DatabaseCluster(this, 'Cluster', {
      engine: DatabaseClusterEngine.auroraPostgres({
        version: AuroraPostgresEngineVersion.VER_16_13,
      }),
      vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      writer: ClusterInstance.serverlessV2('Writer'),
      serverlessV2MinCapacity: 0,
      serverlessV2MaxCapacity: props.maxCapacityAcu,
      enableDataApi: true,
      defaultDatabaseName: this.databaseName,
      credentials: Credentials.fromGeneratedSecret('provisioning_admin'),
      storageEncrypted: true,
      iamAuthentication: true,
      deletionProtection: props.production,
      backup: { retention: Duration.days(props.production ? 14 : 1) },
      removalPolicy,
      cloudwatchLogsExports: ['postgresql'],
    });
    const credentials = this.cluster.secret;
    if (!credentials)
      throw new Error('Database: the cluster was created without a credentials secret');
    this.credentials = credentials;
    const roleSecret = (id: string, role: DatabaseRole) => {
      const secret = new DatabaseSecret(this, id, { username: DATABASE_ROLES[role] });
      // Kept with a production database, like its snapshot: a restore needs the logins.
      secret.applyRemovalPolicy(props.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY);
      return secret.attach(this.cluster);
    };
    this.roleCredentials = {
      app: roleSecret('AppRoleCredentials', 'app'),
      reader: roleSecret('ReaderRoleCredentials', 'reader'),
    };

    const migrator = new ProjectFunction(this, 'Migrator', {
      stage: props.stage,
      handler: 'migrate',
      description: 'Applies schema/ migrations through the Data API at deploy',
      // Waits out a cluster resuming from a long pause, then leaves room for every
      // migration's statements (each at most 45 s, the Data API's call limit).
      timeout: Duration.minutes(10),
      memorySize: 256,
      environment: {
        DATA_API_RETRY_BUDGET_SECONDS: String(DATA_API_RETRY_BUDGET_SECONDS.migration),
      },
      logRetention: props.logRetention,
      // Log groups cannot be snapshotted: kept in production, like every other log.
      removalPolicy: props.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      copyIntoBundle: ['schema'],
    })
      .bindDatabase(this, 'master')
      .bindSecret('APP_ROLE_SECRET_ARN', this.roleCredentials.app)
      .bindSecret('READER_ROLE_SECRET_ARN', this.roleCredentials.reader);
    // The framework's own function logs where ours do: with a retention, and never into a
    // group Lambda created on its own (which a CDK-managed group of that name would collide with).
    const provider = new Provider(this, 'MigrationProvider', {
      onEventHandler: migrator.fn,
      logGroup: new LogGroup(this, 'MigrationProviderLogs', {
        retention: props.logRetention,
        removalPolicy: props.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      }),
    });
    this.migrated = new CustomResource(this, 'Schema', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::ProvisioningSchema',
      // A new or changed migration, grant or role secret changes these, so the deploy
      // runs the migrator again.
      properties: {
        migrationsHash: migrationsHash(),
        grantsHash: createHash('sha256')
          .update(JSON.stringify([DATABASE_ROLES, TABLE_GRANTS]))
          .digest('hex'),
        roleSecrets: [this.roleCredentials.app.secretArn, this.roleCredentials.reader.secretArn],
      },
    });
    this.migrated.node.addDependency(this.cluster);
  }

  /** The secret of a login. */
  secretOf(login: DatabaseLogin): ISecret {
    return login === 'master' ? this.credentials : this.roleCredentials[login];
  }
}

function migrationsHash(): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(SCHEMA_DIR)
    .filter((name) => name.endsWith('.sql'))
    .sort()) {
    hash.update(file).update(readFileSync(`${SCHEMA_DIR}/${file}`));
  }
  return hash.digest('hex');
}
