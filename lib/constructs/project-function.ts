import { join } from 'node:path';
import type { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import { Grant, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import {
  NodejsFunction,
  type NodejsFunctionProps,
  OutputFormat,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IStringParameter } from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, serviceNameFor } from '../../functions/adapters/telemetry.js';
import { bundlingRoot, PACKAGE_ROOT, packagePathFromRoot } from '../package-paths.js';
import { LAMBDA_BUNDLING } from './bundling.js';
import type { Database, DatabaseLogin } from './database.js';

/**
 * The Data API calls a login makes. Every statement of the app and reader logins runs
 * on its own (a CTE where it must be atomic); only the migrator (the master login)
 * opens transactions (`migrator.ts`, `database-roles.ts`). No code sends a batch.
 */
function dataApiActionsOf(login: DatabaseLogin): string[] {
  const transactions = [
    'rds-data:BeginTransaction',
    'rds-data:CommitTransaction',
    'rds-data:RollbackTransaction',
  ];
  return ['rds-data:ExecuteStatement', ...(login === 'master' ? transactions : [])];
}

export interface ProjectFunctionProps {
  /** The handler module under `functions/handlers/`, without extension (e.g. `stripe-webhook`). */
  readonly handler: string;
  /** The stage: its metrics and logs carry it (`serviceNameFor`). */
  readonly stage: string;
  /** The exported function the runtime invokes, when a module exports several (default `handler`). */
  readonly exportName?: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  readonly environment?: Record<string, string>;
  /** Extra files the bundle needs, copied after bundling (paths relative to this package's root). */
  readonly copyIntoBundle?: readonly string[];
  readonly reservedConcurrentExecutions?: number;
}

/**
 * Every Lambda of the project: Node.js 22 on arm64, an esbuild-minified ESM bundle with
 * source maps and the AWS SDK v3 inside (so the code runs on the SDK it was tested
 * with), X-Ray tracing, JSON logs in a log group with a set retention, no VPC. The
 * `bind…` helpers set an environment variable and the matching grant in one call, so
 * a permission can be neither forgotten nor wider than the variable it serves.
 */
export class ProjectFunction extends Construct {
  readonly fn: NodejsFunction;

  constructor(scope: Construct, id: string, props: ProjectFunctionProps) {
    super(scope, id);
    const logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    // Its own role, allowed to write to its own log group only (not the AWS managed
    // basic execution policy, which can write to any log group).
    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
    });
    logGroup.grantWrite(role);
    const copies = props.copyIntoBundle ?? [];
    // This repository, or the app that installed this package from npm.
    const root = bundlingRoot();
    const bundling: NodejsFunctionProps['bundling'] = {
      ...LAMBDA_BUNDLING,
      mainFields: [...LAMBDA_BUNDLING.mainFields],
      format: OutputFormat.ESM,
      externalModules: [],
      ...(copies.length
        ? {
            commandHooks: {
              beforeBundling: () => [],
              beforeInstall: () => [],
              afterBundling: (inputDir: string, outputDir: string) =>
                copies.map(
                  (path) =>
                    `cp -r "${inputDir}/${packagePathFromRoot(root, path)}" "${outputDir}/${path}"`,
                ),
            },
          }
        : {}),
    };
    this.fn = new NodejsFunction(this, 'Function', {
      entry: join(PACKAGE_ROOT, 'functions', 'handlers', `${props.handler}.ts`),
      handler: props.exportName ?? 'handler',
      projectRoot: root.projectRoot,
      depsLockFilePath: root.lockFile,
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      timeout: props.timeout,
      memorySize: props.memorySize,
      tracing: Tracing.ACTIVE,
      role,
      logGroup,
      loggingFormat: LoggingFormat.JSON,
      bundling,
      ...(props.reservedConcurrentExecutions === undefined
        ? {}
        : { reservedConcurrentExecutions: props.reservedConcurrentExecutions }),
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: serviceNameFor(props.stage),
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        ...props.environment,
      },
    });
  }

  setEnvironment(name: string, value: string): this {
    this.fn.addEnvironment(name, value);
    return this;
  }

  /**
   * SQL through the Data API as one login: the cluster's ARN and that login's secret,
   * Data API calls on that cluster only, and read access to that one secret (the CDK's
   * `grantDataApiAccess` would also grant the master secret, to every function), and
   * transactions for the master login alone.
   */
  bindDatabase(database: Database, login: DatabaseLogin): this {
    const secret = database.secretOf(login);
    this.fn.addEnvironment('DATABASE_RESOURCE_ARN', database.cluster.clusterArn);
    this.fn.addEnvironment('DATABASE_SECRET_ARN', secret.secretArn);
    this.fn.addEnvironment('DATABASE_NAME', database.databaseName);
    Grant.addToPrincipal({
      grantee: this.fn,
      actions: dataApiActionsOf(login),
      resourceArns: [database.cluster.clusterArn],
    });
    secret.grantRead(this.fn);
    return this;
  }

  /** A secret by ARN (never its value), readable by this function only. */
  bindSecret(variable: string, secret: ISecret): this {
    this.fn.addEnvironment(variable, secret.secretArn);
    secret.grantRead(this.fn);
    return this;
  }

  bindQueueSend(queue: IQueue): this {
    this.fn.addEnvironment('HANDOFF_QUEUE_URL', queue.queueUrl);
    queue.grantSendMessages(this.fn);
    return this;
  }

  /**
   * The reconciler's quiet marker (`functions/services/quiet.ts`): `wake` for the
   * writers (put only), `read` for the watchdog, `settle` for the reconciler (both).
   */
  bindQuietMarker(parameter: IStringParameter, access: 'wake' | 'read' | 'settle'): this {
    this.fn.addEnvironment('RECONCILER_QUIET_PARAMETER', parameter.parameterName);
    if (access !== 'wake') parameter.grantRead(this.fn);
    if (access !== 'read') parameter.grantWrite(this.fn);
    return this;
  }

  bindEventBus(bus: IEventBus): this {
    this.fn.addEnvironment('EVENT_BUS_NAME', bus.eventBusName);
    bus.grantPutEventsTo(this.fn);
    return this;
  }
}
