import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RECONCILE_TIMEOUT_SECONDS } from '../../functions/core/reconcile-timing.js';
import {
  DATA_API_RETRY_BUDGET_SECONDS,
  HTTP_INTEGRATION_LIMIT_SECONDS,
  LONGEST_REPORTED_RESUME_SECONDS,
} from '../../functions/core/resume-budget.js';
import {
  SWEEP_TIMEOUT_SECONDS,
  WATCHDOG_TIMEOUT_SECONDS,
} from '../../functions/core/scheduled-timeouts.js';
import { SWEEP_SAFETY_MARGIN_MS } from '../../functions/handlers/sweep.js';
import {
  BUNDLE_BUDGET_BYTES,
  STRIPE_BUNDLE_BUDGET_BYTES,
  TRACER_PACKAGES,
} from '../../lib/constructs/bundling.js';
import { ProvisioningStack } from '../../lib/provisioning-stack.js';
import { parseSettings } from '../../lib/settings.js';
import { bundleComposition } from '../support/bundle-composition.js';
import { cdkJsonContext, featureFlags } from '../support/cdk-context.js';
import { bundledHandler } from '../support/lambda-bundles.js';

type Resource = {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string[];
  Metadata?: Record<string, unknown>;
};

let outdir: string;
let stack: Stack;
let template: Template;
let resources: Record<string, Resource>;
let synthError: unknown;

/** Our functions (not CDK's own custom-resource helpers) carry the Powertools service name. */
function productFunctions(): [string, Resource][] {
  return Object.entries(resources).filter(
    ([, r]) =>
      r.Type === 'AWS::Lambda::Function' &&
      JSON.stringify(r.Properties?.Environment ?? {}).includes('POWERTOOLS_SERVICE_NAME'),
  );
}

/** A function's environment variables (none when it has no environment). */
function variablesOf(fn: Resource | undefined): Record<string, unknown> {
  const environment = fn?.Properties?.Environment as
    | { Variables?: Record<string, unknown> }
    | undefined;
  return environment?.Variables ?? {};
}

function byType(type: string): [string, Resource][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'provisioning-cdk-'));
  // One real synth, bundling included, with cdk.json's feature flags: what `cdk deploy`
  // would upload. Asset metadata names each function's bundle directory in the assembly.
  const app = new App({
    outdir,
    context: { ...featureFlags(cdkJsonContext()), 'aws:cdk:enable-asset-metadata': true },
  });
  stack = new ProvisioningStack(app, 'Provisioning-test', {
    settings: parseSettings({
      stage: 'test',
      alarmEmail: 'oncall@example.com',
      triggerUrl: 'https://orchestrator.example.com/trigger/onboarding',
    }),
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  try {
    app.synth();
  } catch (error) {
    synthError = error;
  }
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources;
}, 120_000);

afterAll(() => {
  rmSync(outdir, { recursive: true, force: true });
});

describe('the hand-off queue', () => {
  it('is FIFO with explicit dedup ids and a FIFO dead-letter queue', () => {
    const queues = byType('AWS::SQS::Queue').map(([, r]) => r.Properties ?? {});
    const handoff = queues.find((q) => q.RedrivePolicy !== undefined);
    const dlqs = queues.filter((q) => q.FifoQueue === true && q.RedrivePolicy === undefined);

    expect(handoff).toMatchObject({
      FifoQueue: true,
      ContentBasedDeduplication: false,
      SqsManagedSseEnabled: true,
    });
    expect(handoff?.RedrivePolicy).toMatchObject({ maxReceiveCount: 5 });
    expect(dlqs).toHaveLength(1);
    expect(dlqs[0]).toMatchObject({ ContentBasedDeduplication: false });
  });

  it('hides a message for at least six times the consumer timeout', () => {
    const [, consumer] = productFunctions().find(([id]) => id.startsWith('HandoffConsumer')) ?? [];
    const handoff = byType('AWS::SQS::Queue').find(([, r]) => r.Properties?.RedrivePolicy)?.[1];

    expect(Number(handoff?.Properties?.VisibilityTimeout)).toBeGreaterThanOrEqual(
      6 * Number(consumer?.Properties?.Timeout),
    );
  });

  it('holds a claimed attempt in flight as long as the queue may hold its message', () => {
    const handoff = byType('AWS::SQS::Queue').find(([, r]) => r.Properties?.RedrivePolicy)?.[1];
    const claimers = productFunctions().filter(([id]) =>
      ['StripeWebhook', 'Reconciler', 'OperatorJobCreate'].some((name) => id.startsWith(name)),
    );

    expect(claimers).toHaveLength(3);
    for (const [, fn] of claimers) {
      expect(variablesOf(fn).HANDOFF_LEASE_SECONDS).toBe(
        String(handoff?.Properties?.VisibilityTimeout),
      );
    }
  });

  it('sends each trigger with the callback URL the stack serves at dispatch', () => {
    const [, consumer] = productFunctions().find(([id]) => id.startsWith('HandoffConsumer')) ?? [];
    const variables = variablesOf(consumer);

    expect(variables.PUBLIC_BASE_URL).toBeDefined();
    expect(variables.BREAKER_FAILURE_THRESHOLD).toBe('5');
  });

  it('feeds the consumer with partial batch responses and a concurrency cap', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 5 },
    });
  });

  it('refuses plain-text access', () => {
    const policies = byType('AWS::SQS::QueuePolicy').map(([, r]) => JSON.stringify(r.Properties));
    expect(policies.length).toBeGreaterThanOrEqual(3);
    for (const policy of policies) expect(policy).toContain('"aws:SecureTransport":"false"');
  });
});

describe('the schedules', () => {
  it('run the reconciler every 10 minutes, the watchdog and the sweep hourly, with retries and a dead-letter queue', () => {
    const schedules = byType('AWS::Scheduler::Schedule').map(([, r]) => r.Properties ?? {});

    expect(schedules.map((s) => s.ScheduleExpression).sort()).toEqual([
      'cron(0 * * * ? *)',
      'rate(10 minutes)',
      'rate(60 minutes)',
    ]);
    for (const schedule of schedules) {
      expect(schedule.Target).toMatchObject({
        RetryPolicy: { MaximumRetryAttempts: 3 },
        DeadLetterConfig: { Arn: expect.anything() },
      });
    }
  });
});

describe('the reconciler', () => {
  const reconciler = () => productFunctions().find(([id]) => id.startsWith('Reconciler'))?.[1];

  it('has as long as a tick allows, one instance at most, so a backlog drains at one global pace', () => {
    const fn = reconciler();

    expect(Number(fn?.Properties?.Timeout)).toBe(RECONCILE_TIMEOUT_SECONDS);
    expect(RECONCILE_TIMEOUT_SECONDS).toBeLessThan(600);
    expect(fn?.Properties?.ReservedConcurrentExecutions).toBe(1);
    // 10,000 stranded jobs at the default 20/s, within the run's deadline.
    expect((RECONCILE_TIMEOUT_SECONDS - 20) * 20).toBeGreaterThanOrEqual(10_000);
  });

  it('shares its quiet marker with every writer: the reconciler reads and writes it, the watchdog reads, the writers only wake it', () => {
    const [parameterId] = byType('AWS::SSM::Parameter')[0] ?? [];
    const marked = productFunctions().filter(
      ([, fn]) => variablesOf(fn).RECONCILER_QUIET_PARAMETER !== undefined,
    );
    type Statement = { Action: string | string[]; Resource: unknown };
    const statementsOf = (policy: Resource) =>
      (policy.Properties?.PolicyDocument as { Statement?: Statement[] } | undefined)?.Statement ??
      [];
    const actionsOf = (fn: Resource) =>
      byType('AWS::IAM::Policy')
        .filter(([, policy]) =>
          JSON.stringify(policy.Properties?.Roles).includes(
            JSON.stringify(
              (fn.Properties?.Role as { 'Fn::GetAtt'?: string[] })?.['Fn::GetAtt']?.[0],
            ),
          ),
        )
        .flatMap(([, policy]) => statementsOf(policy))
        .filter((statement) => JSON.stringify(statement.Resource).includes(String(parameterId)))
        .flatMap((statement) => [statement.Action].flat())
        .sort();

    expect(marked.map(([id]) => id.replace(/[A-F0-9]{8}$/, '')).sort()).toEqual([
      'CallbackFunction',
      'OperatorJobCreateFunction',
      'ReconcilerFunction',
      'StripeWebhookFunction',
      'SweepFunction',
      'WatchdogFunction',
    ]);
    for (const [id, fn] of marked) {
      const actions = actionsOf(fn);
      if (id.startsWith('Reconciler')) expect(actions).toContain('ssm:PutParameter');
      if (id.startsWith('Watchdog')) expect(actions).not.toContain('ssm:PutParameter');
      if (!id.startsWith('Reconciler') && !id.startsWith('Watchdog')) {
        expect(actions, id).toEqual(['ssm:PutParameter']);
      }
    }
  });
});

describe('the watchdog and the sweep', () => {
  const timeoutOf = (prefix: string) =>
    Number(productFunctions().find(([id]) => id.startsWith(prefix))?.[1].Properties?.Timeout);

  it('have the timeouts the local runtime gives their runs', () => {
    expect(timeoutOf('Watchdog')).toBe(WATCHDOG_TIMEOUT_SECONDS);
    expect(timeoutOf('Sweep')).toBe(SWEEP_TIMEOUT_SECONDS);
    expect(SWEEP_TIMEOUT_SECONDS * 1000).toBeGreaterThan(SWEEP_SAFETY_MARGIN_MS);
  });
});

describe('the Lambda bundles', () => {
  const bundles = () =>
    productFunctions().map(([id, fn]) => {
      const entry = join(outdir, String(fn.Metadata?.['aws:asset:path']), 'index.mjs');
      const { bytes, packages } = bundleComposition(entry);
      const tracer = TRACER_PACKAGES.reduce((sum, name) => sum + (packages.get(name) ?? 0), 0);
      return { id, bytes, tracer, packages: new Set(packages.keys()) };
    });

  // The two whose work needs Stripe's library: the webhook's signature, the sweep's reads.
  const carriesStripe = (id: string) => id.startsWith('StripeWebhook') || id.startsWith('Sweep');

  it('stay within their cold-start budgets, the Tracer’s X-Ray SDK apart: 600 KB each, 900 KB with Stripe inside (webhook, sweep)', () => {
    for (const { id, bytes, tracer } of bundles()) {
      const budget = carriesStripe(id) ? STRIPE_BUNDLE_BUDGET_BYTES : BUNDLE_BUDGET_BYTES;
      expect(bytes - tracer, id).toBeLessThanOrEqual(budget);
      expect(tracer, id).toBeLessThan(150 * 1024);
    }
  });

  it('carry no pg driver, Stripe only in the webhook and the sweep, and each AWS SDK client only where it is used', () => {
    const clients = Object.fromEntries(
      bundles().map(({ id, packages }) => {
        expect(packages.has('pg'), id).toBe(false);
        expect(packages.has('stripe'), id).toBe(carriesStripe(id));
        const used = [...packages].filter((name) => name.startsWith('@aws-sdk/client-')).sort();
        return [id.replace(/Function[A-F0-9]{8}$/, ''), used.map((name) => name.slice(16))];
      }),
    );

    expect(clients).toMatchObject({
      StripeWebhook: ['eventbridge', 'rds-data', 'secrets-manager', 'sqs', 'ssm'],
      HandoffConsumer: ['eventbridge', 'rds-data', 'secrets-manager'],
      Callback: ['eventbridge', 'rds-data', 'secrets-manager', 'ssm'],
      Reconciler: ['eventbridge', 'rds-data', 'sqs', 'ssm'],
      Watchdog: ['rds-data', 'ssm'],
      Status: ['rds-data'],
      OperatorJobRead: ['rds-data'],
      OperatorJobCreate: ['eventbridge', 'rds-data', 'sqs', 'ssm'],
      OpenApi: [],
    });
  });
});

describe('the Stripe webhook', () => {
  const stripeModeOf = (functions: [string, Resource][]) => {
    const [, webhook] = functions.find(([id]) => id.startsWith('StripeWebhook')) ?? [];
    return (webhook?.Properties?.Environment as { Variables?: Record<string, unknown> })?.Variables
      ?.STRIPE_MODE;
  };

  it('serves Stripe test mode outside production and live mode in production', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const prod = new ProvisioningStack(app, 'Provisioning-prod', {
      settings: parseSettings({ stage: 'prod', alarmEmail: 'oncall@example.com' }),
    });
    const prodFunctions = Object.entries(
      Template.fromStack(prod).toJSON().Resources as Record<string, Resource>,
    ).filter(([, r]) => r.Type === 'AWS::Lambda::Function');

    expect(stripeModeOf(productFunctions())).toBe('test');
    expect(stripeModeOf(prodFunctions)).toBe('live');
    // Only the webhook reads Stripe events, and the sweep Stripe's sessions.
    const others = productFunctions().filter(
      ([id]) => !id.startsWith('StripeWebhook') && !id.startsWith('Sweep'),
    );
    expect(others.map(([, r]) => JSON.stringify(r.Properties?.Environment))).not.toContainEqual(
      expect.stringContaining('STRIPE_MODE'),
    );
  });

  it('has an alarm that notifies when an event of the other Stripe mode is refused', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'StripeEventWrongMode',
      Statistic: 'Sum',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: [Match.anyValue()],
      AlarmDescription: Match.stringLikeRegexp('other mode.*secret-rotation\\.md'),
    });
  });
});

describe('the alarms', () => {
  it('page when jobs stay STUCK for 30 minutes, in periods that always hold a gauge datapoint', () => {
    const [, stuck] =
      byType('AWS::CloudWatch::Alarm').find(([id]) => id.includes('ProvisioningJobsStuck')) ?? [];
    const p = stuck?.Properties ?? {};

    expect(Number(p.Period) * Number(p.EvaluationPeriods)).toBe(1800);
    expect(Number(p.Period)).toBeGreaterThan(600); // the reconciler reports every 10 minutes
    expect(p).toMatchObject({
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      MetricName: 'ProvisioningJobsStuck',
    });
    expect(String(p.AlarmDescription)).toContain('provisioning-stuck.md');
    expect(p.AlarmActions).toHaveLength(1);
  });

  it('page when the breaker toward the orchestrator has been open for 15 minutes', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'BreakerOpenSeconds',
      Statistic: 'Maximum',
      Threshold: 900,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('page when the orchestrator refuses our signature, and when it reports a tenant for a cancelled job', () => {
    for (const metric of ['TriggerUnauthorized', 'CallbackForCancelledJob']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: metric,
        Threshold: 0,
      });
    }
  });

  it('page when the gauge stops being reported', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ProvisioningJobsStuck',
      Statistic: 'SampleCount',
      TreatMissingData: 'breaching',
    });
  });

  it('watch the backlog, its age, both dead-letter queues, failure spikes, and every function', () => {
    const descriptions = byType('AWS::CloudWatch::Alarm').map(([, r]) =>
      String(r.Properties?.AlarmDescription),
    );
    const thresholds = byType('AWS::CloudWatch::Alarm').map(([, r]) => r.Properties?.Threshold);

    expect(thresholds).toEqual(expect.arrayContaining([10, 50]));
    for (const phrase of [
      'waited over',
      'dead-letter queue',
      'could not invoke',
      'hand-offs to the orchestrator failed',
      'refused for their signature',
    ]) {
      expect(descriptions.some((d) => d.includes(phrase))).toBe(true);
    }
    // Every function but the migrator (a deploy that fails says so) and the OpenAPI
    // document (static: it strands no one).
    const alarmed = productFunctions().filter(([id]) => !/^(DatabaseMigrator|OpenApi)/.test(id));
    expect(descriptions.filter((d) => d.includes('function failed'))).toHaveLength(alarmed.length);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
    });
  });
});

describe('the dashboard', () => {
  it('shows Aurora resumes: the DatabaseResumingException answers, the replays and the time waited', () => {
    const [[, dashboard] = []] = byType('AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard?.Properties?.DashboardBody);

    for (const metric of ['DatabaseResuming', 'DataApiReplayed', 'DataApiRetryWaitMs']) {
      expect(body).toContain(`\\"ProvisioningHandoff\\",\\"${metric}\\"`);
    }
  });
});

describe('the HTTP API', () => {
  it('serves the routes of SPEC 2.1, operator routes only to IAM-signed callers', () => {
    const routes = Object.fromEntries(
      byType('AWS::ApiGatewayV2::Route').map(([, r]) => [
        r.Properties?.RouteKey,
        r.Properties?.AuthorizationType ?? 'NONE',
      ]),
    );

    expect(routes).toEqual({
      'POST /api/webhooks/stripe': 'NONE',
      'POST /api/internal/provisioning/callback': 'NONE',
      'GET /api/provisioning/status': 'NONE',
      'GET /api/internal/provisioning/jobs/{stripe_session_id}': 'AWS_IAM',
      'POST /api/internal/provisioning/jobs': 'AWS_IAM',
      'GET /api/openapi.json': 'NONE',
    });
  });

  it('is throttled and writes access logs without bodies or query strings', () => {
    const [, stage] = byType('AWS::ApiGatewayV2::Stage')[0] ?? [];
    const format = String(
      (stage?.Properties?.AccessLogSettings as { Format?: string } | undefined)?.Format,
    );

    expect(stage?.Properties?.DefaultRouteSettings).toEqual({
      ThrottlingRateLimit: 50,
      ThrottlingBurstLimit: 100,
    });
    expect(format).toContain('$context.status');
    expect(format).not.toMatch(/querystring|requestBody|\$input/i);
  });
});

describe('the functions', () => {
  it('run Node.js 22 on arm64, traced, outside any VPC', () => {
    expect(productFunctions().length).toBe(11);
    for (const [, fn] of productFunctions()) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
      });
      expect(fn.Properties?.VpcConfig).toBeUndefined();
    }
  });

  it('receive secrets as ARNs, never as values', () => {
    for (const [, fn] of productFunctions()) {
      const environment = fn.Properties?.Environment as
        | { Variables: Record<string, unknown> }
        | undefined;
      const variables = environment?.Variables ?? {};
      for (const [name, value] of Object.entries(variables)) {
        if (/SECRET|API_KEY|PASSWORD/.test(name)) {
          expect(name).toMatch(/_ARN$/);
          expect(typeof value).not.toBe('string');
        }
      }
    }
  });

  it('each outlast their Data API retry budget, which waits out the longest reported resume unless the function serves HTTP', () => {
    // Functions API Gateway invokes: they must answer within its integration limit.
    const served = new Set(
      byType('AWS::Lambda::Permission')
        .filter(([, p]) => p.Properties?.Principal === 'apigateway.amazonaws.com')
        .map(
          ([, p]) =>
            JSON.stringify(p.Properties?.FunctionName).match(/"([A-Za-z0-9]+)","Arn"/)?.[1],
        ),
    );
    const withDatabase = productFunctions().filter(
      ([, fn]) => 'DATABASE_RESOURCE_ARN' in variablesOf(fn),
    );

    expect(withDatabase).toHaveLength(10);
    expect(served.size).toBe(6);
    for (const [id, fn] of withDatabase) {
      const budget = Number(variablesOf(fn).DATA_API_RETRY_BUDGET_SECONDS);
      const timeout = Number(fn.Properties?.Timeout);
      // Time left, once the database answers, to do the work and answer.
      expect(timeout - budget, id).toBeGreaterThanOrEqual(9);
      if (served.has(id)) {
        expect(timeout, id).toBeLessThan(HTTP_INTEGRATION_LIMIT_SECONDS);
        expect(budget, id).toBe(DATA_API_RETRY_BUDGET_SECONDS.http);
      } else {
        expect(budget, id).toBeGreaterThanOrEqual(2 * LONGEST_REPORTED_RESUME_SECONDS);
      }
    }
  });

  it('start only after the schema is migrated (all that read the database)', () => {
    const [schemaId] = byType('Custom::ProvisioningSchema')[0] ?? [];
    const migrator = productFunctions().find(([id]) => id.includes('Migrator'))?.[0];

    for (const [id, fn] of productFunctions()) {
      if (id === migrator || id.startsWith('OpenApi')) continue;
      expect(fn.DependsOn ?? []).toContain(schemaId);
    }
  });

  it('ship every migration inside the migrator bundle, where the deploy-time migrator reads them', () => {
    const [, migrator] = productFunctions().find(([id]) => id.includes('Migrator')) ?? [];
    const bundled = readdirSync(
      join(outdir, String(migrator?.Metadata?.['aws:asset:path']), 'schema'),
    ).sort();
    const schema = readdirSync(fileURLToPath(new URL('../../schema', import.meta.url)))
      .filter((file) => file.endsWith('.sql'))
      .sort();

    expect(bundled).toEqual(schema);
  });

  it('bundle into modules that load in Node.js', async () => {
    for (const [, fn] of productFunctions()) {
      expect(typeof (await bundledHandler(outdir, fn))).toBe('function');
    }
  }, 60_000);
});

describe('the database', () => {
  it('is Aurora PostgreSQL 16 Serverless v2 with the Data API, scaling to zero, encrypted', () => {
    template.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      EngineVersion: Match.stringLikeRegexp('^16\\.'),
      EnableHttpEndpoint: true,
      StorageEncrypted: true,
      ServerlessV2ScalingConfiguration: { MinCapacity: 0, MaxCapacity: 4 },
    });
  });

  it('sits in isolated subnets with no NAT', () => {
    expect(byType('AWS::EC2::NatGateway')).toHaveLength(0);
    expect(byType('AWS::EC2::InternetGateway')).toHaveLength(0);
  });

  it('keeps data on delete and refuses deletion in production', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const prod = new ProvisioningStack(app, 'Provisioning-prod', {
      settings: parseSettings({ stage: 'prod', alarmEmail: 'oncall@example.com' }),
    });
    const cluster = Object.values(
      Template.fromStack(prod).toJSON().Resources as Record<
        string,
        Resource & { DeletionPolicy?: string }
      >,
    ).find((r) => r.Type === 'AWS::RDS::DBCluster');

    expect(cluster?.Properties).toMatchObject({
      DeletionProtection: true,
      BackupRetentionPeriod: 14,
    });
    expect(cluster?.DeletionPolicy).toBe('Snapshot');
    const snapshotted = Object.values(
      Template.fromStack(prod).toJSON().Resources as Record<
        string,
        Resource & { DeletionPolicy?: string }
      >,
    )
      .filter((r) => r.DeletionPolicy === 'Snapshot')
      .map((r) => r.Type);
    // Only resources CloudFormation can snapshot may carry the policy.
    expect(snapshotted).toEqual(['AWS::RDS::DBCluster']);
  });
});

describe('least privilege', () => {
  // Actions that have no resource-level permissions in IAM: '*' is the only choice.
  const NO_RESOURCE_LEVEL = new Set(['xray:PutTraceSegments', 'xray:PutTelemetryRecords']);

  it('grants no wildcard resource where a resource can be named', () => {
    const offending: string[] = [];
    for (const [id, policy] of byType('AWS::IAM::Policy')) {
      const document = policy.Properties?.PolicyDocument as
        | { Statement: { Action: string | string[]; Resource: unknown }[] }
        | undefined;
      const statements = document?.Statement ?? [];
      for (const statement of statements) {
        const resources = [statement.Resource].flat();
        if (!resources.includes('*')) continue;
        const actions = [statement.Action].flat();
        const named = actions.filter((action) => !NO_RESOURCE_LEVEL.has(action));
        if (named.length) offending.push(`${id}: ${named.join(', ')}`);
      }
    }
    expect(offending).toEqual([]);
  });

  it('lets each function read only its own secrets', () => {
    const reads = (prefix: string) => {
      const policy = byType('AWS::IAM::Policy').find(([id]) => id.startsWith(prefix))?.[1];
      return (
        JSON.stringify(policy?.Properties?.PolicyDocument ?? {}).match(
          /(StripeWebhookSecret|StripeApiKey|TriggerSecret|CallbackSecret)[A-Z0-9]{8}/g,
        ) ?? []
      );
    };

    expect(new Set(reads('StripeWebhook').map((s) => s.replace(/[A-Z0-9]{8}$/, '')))).toEqual(
      new Set(['StripeWebhookSecret']),
    );
    // The public callback route verifies with the callback secret only: never the trigger secret.
    expect(new Set(reads('Callback').map((s) => s.replace(/[A-Z0-9]{8}$/, '')))).toEqual(
      new Set(['CallbackSecret']),
    );
    expect(new Set(reads('HandoffConsumer').map((s) => s.replace(/[A-Z0-9]{8}$/, '')))).toEqual(
      new Set(['TriggerSecret']),
    );
    expect(new Set(reads('Sweep').map((s) => s.replace(/[A-Z0-9]{8}$/, '')))).toEqual(
      new Set(['StripeApiKey']),
    );
    expect(reads('Status')).toEqual([]);
  });
});

describe('database logins', () => {
  /** The logical id of the generated secret of a database user, and of its attachment. */
  function loginIds(username: string): string[] {
    const secrets = byType('AWS::SecretsManager::Secret')
      .filter(([, r]) =>
        JSON.stringify(r.Properties?.GenerateSecretString ?? {}).includes(
          `\\"username\\":\\"${username}\\"`,
        ),
      )
      .map(([id]) => id);
    const attachments = byType('AWS::SecretsManager::SecretTargetAttachment')
      .filter(([, r]) => secrets.includes((r.Properties?.SecretId as { Ref?: string })?.Ref ?? ''))
      .map(([id]) => id);
    return [...secrets, ...attachments];
  }

  /** The database logins a function's environment and policies name. */
  function loginsOf(functionId: string): { variable: string; readable: string[] } {
    const fn = resources[functionId];
    const role = (fn?.Properties?.Role as { 'Fn::GetAtt'?: string[] })?.['Fn::GetAtt']?.[0] ?? '';
    const policies = byType('AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Properties?.Roles).includes(`"${role}"`))
      .map(([, p]) => JSON.stringify(p.Properties?.PolicyDocument));
    const logins = {
      master: loginIds('provisioning_admin'),
      app: loginIds('provisioning_app'),
      reader: loginIds('provisioning_reader'),
    };
    const named = (text: string) =>
      Object.entries(logins)
        .filter(([, ids]) => ids.some((id) => text.includes(`"${id}"`)))
        .map(([login]) => login);
    return {
      variable: named(JSON.stringify(variablesOf(fn).DATABASE_SECRET_ARN ?? '')).join(),
      readable: named(policies.join('')).sort(),
    };
  }

  it('gives each function only its own login: the read routes the read-only role, the master the migrator alone', () => {
    const withDatabase = productFunctions().filter(
      ([, fn]) => 'DATABASE_RESOURCE_ARN' in variablesOf(fn),
    );
    const logins = Object.fromEntries(
      withDatabase.map(([id]) => [id.replace(/Function[0-9A-F]{8}$/, ''), loginsOf(id)]),
    );

    expect(logins).toEqual({
      DatabaseMigrator: { variable: 'master', readable: ['app', 'master', 'reader'] },
      StripeWebhook: { variable: 'app', readable: ['app'] },
      HandoffConsumer: { variable: 'app', readable: ['app'] },
      Callback: { variable: 'app', readable: ['app'] },
      Reconciler: { variable: 'app', readable: ['app'] },
      Watchdog: { variable: 'app', readable: ['app'] },
      Sweep: { variable: 'app', readable: ['app'] },
      Status: { variable: 'reader', readable: ['reader'] },
      OperatorJobRead: { variable: 'reader', readable: ['reader'] },
      OperatorJobCreate: { variable: 'app', readable: ['app'] },
    });
  });

  it('lets only the migrator open Data API transactions: every other login runs single statements', () => {
    const dataApiActions = Object.fromEntries(
      productFunctions()
        .filter(([, fn]) => 'DATABASE_RESOURCE_ARN' in variablesOf(fn))
        .map(([id, fn]) => {
          const role = (fn.Properties?.Role as { 'Fn::GetAtt'?: string[] })?.['Fn::GetAtt']?.[0];
          const actions = byType('AWS::IAM::Policy')
            .filter(([, p]) => JSON.stringify(p.Properties?.Roles).includes(`"${role}"`))
            .flatMap(
              ([, p]) =>
                (p.Properties?.PolicyDocument as { Statement?: { Action: string | string[] }[] })
                  ?.Statement ?? [],
            )
            .flatMap((statement) => [statement.Action].flat())
            .filter((action) => action.startsWith('rds-data:'))
            .sort();
          return [id.replace(/Function[0-9A-F]{8}$/, ''), actions];
        }),
    );
    const transactions = [
      'rds-data:BeginTransaction',
      'rds-data:CommitTransaction',
      'rds-data:ExecuteStatement',
      'rds-data:RollbackTransaction',
    ];

    expect(Object.keys(dataApiActions)).toHaveLength(10);
    for (const [id, actions] of Object.entries(dataApiActions)) {
      expect(actions, id).toEqual(
        id === 'DatabaseMigrator' ? transactions : ['rds-data:ExecuteStatement'],
      );
    }
  });

  it('re-runs the migrator when the grants or the role secrets change, not only the migrations', () => {
    const [, schema] = byType('Custom::ProvisioningSchema')[0] ?? [];

    expect(Object.keys(schema?.Properties ?? {}).sort()).toEqual([
      'ServiceToken',
      'grantsHash',
      'migrationsHash',
      'roleSecrets',
    ]);
  });

  it('requires the callback timestamp by default', () => {
    const [, callback] = productFunctions().find(([id]) => id.startsWith('Callback')) ?? [];

    expect(variablesOf(callback).REQUIRE_CALLBACK_TIMESTAMP).toBe('true');
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('passes the stack: every finding is fixed or acknowledged with its reason', () => {
    expect(synthError).toBeUndefined();
  });

  it('passes a stack with every optional part: sandbox orchestrator, custom domain, CORS', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    new ProvisioningStack(app, 'Provisioning-smoke', {
      settings: parseSettings({
        stage: 'smoke',
        sandboxOrchestrator: true,
        domainName: 'billing-api.example.com',
        certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0f7bc0e2',
        allowedOrigins: 'https://shop.example.com',
      }),
      env: { account: '123456789012', region: 'eu-west-1' },
    });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    expect(() => app.synth()).not.toThrow();
  });

  it('fails the synth on a finding nobody acknowledged', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const careless = new Stack(app, 'Careless');
    new Queue(careless, 'PlainQueue');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    expect(() => app.synth()).toThrow(/AwsSolutions-SQS/);
  });
});

describe('the template', () => {
  it('matches the reviewed snapshot (asset hashes masked)', () => {
    const masked = JSON.stringify(template.toJSON(), null, 2)
      .replace(/[a-f0-9]{64}(\.zip)?/g, '<hash>')
      .replace(/"aws:asset:path": "[^"]+"/g, '"aws:asset:path": "<asset>"');

    expect(masked).toMatchSnapshot();
  });
});
