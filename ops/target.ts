import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import * as z from 'zod';
import {
  EventBridgeLifecycleEvents,
  type LifecycleEvents,
} from '../functions/adapters/lifecycle-events.js';
import {
  InMemoryQuietMarker,
  type QuietMarker,
  SsmQuietMarker,
} from '../functions/adapters/quiet-marker.js';
import {
  EnvironmentSecretSource,
  type SecretSource,
  SecretsManagerSource,
} from '../functions/adapters/secrets.js';
import { loadConfig } from '../functions/config.js';
import type { ProvisioningRules } from '../functions/core/rules.js';
import { STRIPE_MODES, type StripeMode } from '../functions/core/stripe-mode.js';
import { DataApiExecutor } from '../functions/db/data-api-executor.js';
import type { SqlExecutor } from '../functions/db/executor.js';
import { createPool, PgExecutor } from '../functions/db/pg-executor.js';
import { callbackUrlFor } from '../functions/routes.js';
import type { Log } from '../functions/services/dependencies.js';
import type { ReconcileSettings } from '../functions/services/reconcile.js';
import { LoggedLifecycleEvents } from '../local/logged-lifecycle-events.js';
import { withRuntimeSettings } from '../local/runtime-file.js';
import { parseLocalSettings } from '../local/settings.js';
import type { OpsCollaborators } from './collaborators.js';
import { TransportError } from './errors.js';
import type { OpsIo, Output } from './io.js';

/** The stack outputs the CLI reads (see lib/provisioning-stack.ts). */
export const STACK_OUTPUTS = [
  'DatabaseClusterArn',
  'DatabaseSecretArn',
  'HandoffQueueUrl',
  'HandoffDeadLetterQueueUrl',
  'CallbackUrl',
  'StripeApiKeySecretArn',
  'CallbackSecretArn',
  'TriggerSecretArn',
  'LifecycleBusName',
  'WebhookUrl',
  'StatusUrl',
  'StripeWebhookSecretArn',
  'StripeMode',
  'ReconcilerQuietParameter',
] as const;
export type StackOutput = (typeof STACK_OUTPUTS)[number];

/** The deployed stack's resources, for the commands that need more than its database. */
export interface StackResources {
  readonly name: string;
  readonly region: string | undefined;
  readonly sqs: SQSClient;
  /** An output's value; a missing one fails naming it (an older or foreign stack). */
  output(name: StackOutput): string;
  /** An output only some stacks have (`SandboxTriggerUrl`), or undefined. */
  optionalOutput(name: string): string | undefined;
}

/** Where a command acts: the local database, or a deployed stack through the operator's credentials. */
export interface OpsTarget {
  readonly kind: 'local' | 'stack';
  /** For plans and messages: `local database (.data/postgres)`, `stack Provisioning-prod (eu-west-1)`. */
  readonly description: string;
  /** The same executor class the functions use there: `PgExecutor` locally, `DataApiExecutor` in AWS. */
  readonly db: SqlExecutor;
  readonly secrets: SecretSource;
  readonly reconcile: ReconcileSettings & { readonly triggerTimeoutMs: number };
  /** Set for `--stack` only. */
  readonly stack: StackResources | undefined;
  /** Locally: the orchestrator's trigger URL: the running sandbox's, or `PROVISIONING_TRIGGER_URL`. */
  readonly triggerUrl: string | undefined;
  /** The STUCK/STALE thresholds the target's functions use. */
  rules(): ProvisioningRules;
  /** The callback route: where `link` replays, and the URL stored in trigger payloads. */
  callbackUrl(): string;
  /** The Stripe mode the target serves; undefined for a stack too old to say. */
  stripeMode(): StripeMode | undefined;
  /** Another Stripe API base (`STRIPE_API_URL`: a local stand-in); Stripe's own when undefined. */
  readonly stripeApiUrl: string | undefined;
  /** How far back the target's missed-checkout sweep lists sessions. */
  sweepLookbackSeconds(): number;
  /** Who the operator is: the caller's ARN on a stack, the OS user locally. */
  identity(): Promise<string>;
  /**
   * Where an operator's transitions are announced: the stack's lifecycle bus (as the
   * functions' are), or the operator's own log locally (as the local runtime does).
   */
  lifecycleEvents(log: Log): LifecycleEvents;
  /**
   * The reconciler's quiet marker, which a command that records jobs wakes (as the
   * functions do): the stack's SSM parameter, or one in memory locally (the local
   * reconciler reads the database on every tick).
   */
  quietMarker(): QuietMarker;
  close(): Promise<void>;
}

export interface TargetOptions {
  readonly stack: string | undefined;
  readonly region: string | undefined;
}

export async function openTarget(
  options: TargetOptions,
  io: OpsIo,
  out: Output,
  collaborators: OpsCollaborators,
): Promise<OpsTarget> {
  return options.stack
    ? openStack(options.stack, options.region ?? regionFrom(io.env), io, out, collaborators)
    : openLocal(io, collaborators);
}

function regionFrom(env: OpsIo['env']): string | undefined {
  return env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined;
}

// ---------------------------------------------------------------------------------
// Local

async function openLocal(io: OpsIo, collaborators: OpsCollaborators): Promise<OpsTarget> {
  // The settings the local runtime runs with (what npm start wrote in DATA_DIR, under this
  // command's own environment), so the CLI counts and signs exactly as it does.
  const env = withRuntimeSettings(io.env);
  let settings: ReturnType<typeof parseLocalSettings>;
  try {
    settings = parseLocalSettings(env);
  } catch (error) {
    throw new TransportError(messageOf(error));
  }
  const config = loadConfig(env);
  let connectionString: string;
  let stopDatabase = async () => {};
  let description: string;
  if (settings.DATABASE_URL) {
    connectionString = settings.DATABASE_URL;
    description = 'local database (DATABASE_URL)';
  } else {
    const dataDir = resolve(settings.DATA_DIR, 'postgres');
    if (!existsSync(resolve(dataDir, 'PG_VERSION'))) {
      throw new TransportError(`no local database in ${dataDir}`, [
        'Start the local runtime once (npm start), set DATABASE_URL, or use --stack NAME.',
      ]);
    }
    const database = await collaborators.openLocalDatabase(dataDir);
    connectionString = database.connectionString;
    stopDatabase = () => database.stop();
    description = `local database (${settings.DATA_DIR}/postgres)`;
  }
  const pool = createPool(connectionString, 2);
  const secrets = new EnvironmentSecretSource({
    STRIPE_WEBHOOK_SECRET: settings.STRIPE_WEBHOOK_SECRET,
    PROVISIONING_TRIGGER_SECRET: settings.PROVISIONING_TRIGGER_SECRET,
    PROVISIONING_CALLBACK_SECRET: settings.PROVISIONING_CALLBACK_SECRET,
    STRIPE_API_KEY: env.STRIPE_API_KEY,
  });
  const callbackUrl = callbackUrlFor(config.publicBaseUrl ?? `http://localhost:${settings.PORT}`);
  return {
    kind: 'local',
    description,
    db: new PgExecutor(pool),
    secrets,
    reconcile: { ...config.reconcile, triggerTimeoutMs: config.triggerTimeoutMs },
    stack: undefined,
    triggerUrl: config.triggerUrl,
    // A claimed attempt stays in flight as long as the local queue may hold its message.
    rules: () => ({
      ...config.rules,
      handoffLeaseSeconds: settings.QUEUE_VISIBILITY_TIMEOUT_SECONDS,
    }),
    callbackUrl: () => callbackUrl,
    stripeMode: () => settings.STRIPE_MODE,
    stripeApiUrl: config.stripeApiUrl,
    sweepLookbackSeconds: () => config.sweep.lookbackSeconds,
    identity: async () => collaborators.osUser(),
    lifecycleEvents: (log) => new LoggedLifecycleEvents(log),
    quietMarker: () => new InMemoryQuietMarker(),
    close: async () => {
      await pool.end();
      await stopDatabase();
    },
  };
}

// ---------------------------------------------------------------------------------
// A deployed stack

const seconds = z.number().int().positive();
/** A stack published before the retry model lacks its settings: those come from the fallback. */
const ruleValues = z.object({
  staleAfterSeconds: seconds,
  stuckAfterSeconds: seconds,
  maxAttempts: seconds,
  retryMaxDelaySeconds: seconds.optional(),
  breakerFailureThreshold: seconds.optional(),
  handoffLeaseSeconds: seconds.optional(),
  stallAfterSeconds: seconds,
  renotifyAfterSeconds: seconds,
});

/** The sweep's look-back as a stack publishes it (stacks before the sweep do not). */
function publishedLookbackSeconds(published: string | undefined): number | undefined {
  try {
    const { sweepLookbackHours } = z
      .object({ sweepLookbackHours: seconds.optional() })
      .parse(JSON.parse(published ?? '{}'));
    return sweepLookbackHours === undefined ? undefined : sweepLookbackHours * 3600;
  } catch {
    return undefined;
  }
}

async function openStack(
  name: string,
  region: string | undefined,
  io: OpsIo,
  out: Output,
  collaborators: OpsCollaborators,
): Promise<OpsTarget> {
  const clientConfig = region ? { region } : {};
  const cloudFormation = new CloudFormationClient(clientConfig);
  const outputs = await readOutputs(cloudFormation, name, region).finally(() =>
    cloudFormation.destroy(),
  );
  const output = (key: StackOutput) => {
    const value = outputs.get(key);
    if (!value) {
      throw new TransportError(`stack ${name} has no output ${key}`, [
        'Is it a provisioning hand-off stack, deployed from this version (npx cdk deploy)?',
      ]);
    }
    return value;
  };
  const config = loadConfig(io.env);
  const rds = collaborators.rdsDataClient(region);
  let warnedResume = false;
  const db = new DataApiExecutor(
    rds,
    {
      resourceArn: output('DatabaseClusterArn'),
      secretArn: output('DatabaseSecretArn'),
      // The Database construct's name; an output can override it for a renamed database.
      database: outputs.get('DatabaseName') ?? 'provisioning',
    },
    {
      ...(collaborators.dataApiRetry ? { retry: collaborators.dataApiRetry } : {}),
      onRetry: (error) => {
        if (warnedResume) return;
        warnedResume = true;
        const resuming = error instanceof Error && error.name === 'DatabaseResumingException';
        out.note(
          resuming
            ? 'The database is resuming from zero capacity (up to ~15 s); retrying…'
            : 'The Data API answered a transient error; retrying…',
        );
      },
    },
  );
  const secretsManager = new SecretsManagerClient(clientConfig);
  const secrets = new SecretsManagerSource(
    {
      stripeWebhookSecrets: outputs.get('StripeWebhookSecretArn'),
      stripeApiKey: outputs.get('StripeApiKeySecretArn'),
      triggerSecret: outputs.get('TriggerSecretArn'),
      callbackSecret: outputs.get('CallbackSecretArn'),
    },
    secretsManager,
    0,
  );
  const sqs = new SQSClient(clientConfig);
  const sts = new STSClient(clientConfig);
  const eventBridge = new EventBridgeClient(clientConfig);
  const ssm = new SSMClient(clientConfig);
  let rules: ProvisioningRules | undefined;
  let identity: Promise<string> | undefined;
  return {
    kind: 'stack',
    description: `stack ${name}${region ? ` (${region})` : ''}`,
    db,
    secrets,
    reconcile: { ...config.reconcile, triggerTimeoutMs: config.triggerTimeoutMs },
    stack: { name, region, sqs, output, optionalOutput: (key) => outputs.get(key) },
    triggerUrl: undefined,
    rules: () => {
      rules ??= stackRules(outputs.get('ProvisioningRules'), config.rules, name, out);
      return rules;
    },
    callbackUrl: () => output('CallbackUrl'),
    stripeMode: () => STRIPE_MODES.find((mode) => mode === outputs.get('StripeMode')),
    stripeApiUrl: config.stripeApiUrl,
    sweepLookbackSeconds: () =>
      publishedLookbackSeconds(outputs.get('ProvisioningRules')) ?? config.sweep.lookbackSeconds,
    identity: () => {
      identity ??= callerArn(sts);
      return identity;
    },
    lifecycleEvents: () => new EventBridgeLifecycleEvents(eventBridge, output('LifecycleBusName')),
    // Named only when used: a stack deployed before the parameter existed fails then,
    // naming the output, and only for a command that must wake the reconciler.
    quietMarker: () => {
      const marker = () => new SsmQuietMarker(ssm, output('ReconcilerQuietParameter'));
      return { read: () => marker().read(), write: (state) => marker().write(state) };
    },
    close: async () => {
      for (const client of [rds, secretsManager, sqs, sts, eventBridge, ssm]) client.destroy();
    },
  };
}

async function readOutputs(
  client: CloudFormationClient,
  name: string,
  region: string | undefined,
): Promise<Map<string, string>> {
  try {
    const { Stacks } = await client.send(new DescribeStacksCommand({ StackName: name }));
    const stack = Stacks?.[0];
    if (!stack) throw new TransportError(`no stack named ${name}`);
    return new Map(
      (stack.Outputs ?? []).flatMap((o) =>
        o.OutputKey && o.OutputValue ? [[o.OutputKey, o.OutputValue] as const] : [],
      ),
    );
  } catch (error) {
    if (error instanceof TransportError) throw error;
    throw new TransportError(
      `cannot read the outputs of stack ${name}${region ? ` in ${region}` : ''}: ${messageOf(error)}`,
      ['Check the stack name, --region (or AWS_REGION) and your AWS credentials (AWS_PROFILE).'],
    );
  }
}

/** The thresholds the stack's functions run with, when it publishes them; else this machine's. */
function stackRules(
  published: string | undefined,
  fallback: ProvisioningRules,
  name: string,
  out: Output,
): ProvisioningRules {
  if (published) {
    try {
      const values = ruleValues.parse(JSON.parse(published));
      return {
        ...fallback,
        ...Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)),
      };
    } catch {
      out.warn(`stack ${name} publishes unreadable thresholds (output ProvisioningRules)`);
    }
  }
  out.warn(
    `stack ${name} does not publish its thresholds (output ProvisioningRules): using ` +
      `STUCK ${fallback.stuckAfterSeconds}s, STALE ${fallback.staleAfterSeconds}s, cap ${fallback.maxAttempts} ` +
      '(the defaults, or STUCK_AFTER_SECONDS, STALE_AFTER_SECONDS, MAX_ATTEMPTS from your environment)',
  );
  return fallback;
}

async function callerArn(sts: STSClient): Promise<string> {
  try {
    const { Arn } = await sts.send(new GetCallerIdentityCommand({}));
    if (!Arn) throw new Error('STS answered no ARN');
    return Arn;
  } catch (error) {
    throw new TransportError(
      `cannot tell who you are (STS GetCallerIdentity): ${messageOf(error)}`,
    );
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
