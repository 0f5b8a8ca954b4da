import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { SqsHandoffQueue } from '../../functions/adapters/handoff-queue.js';
import { EventBridgeLifecycleEvents } from '../../functions/adapters/lifecycle-events.js';
import { InMemoryQuietMarker } from '../../functions/adapters/quiet-marker.js';
import { type SecretName, SecretsManagerSource } from '../../functions/adapters/secrets.js';
import { TelemetryRegistry } from '../../functions/adapters/telemetry.js';
import { DEFAULT_RULES, type ProvisioningRules } from '../../functions/core/rules.js';
import { upsertPackage } from '../../functions/db/catalogue-repository.js';
import type { Log, ServiceDependencies } from '../../functions/services/dependencies.js';
import { lambdaContext as localLambdaContext } from '../../local/handler-stand-ins.js';
import type { DataApiBridge } from './data-api-bridge.js';
import { bridgedExecutor } from './executors.js';
import { freshDatabase, type TestDatabase } from './postgres.js';

export const QUEUE_URL =
  'https://sqs.us-east-1.amazonaws.com/123456789012/provisioning-handoff.fifo';
export const EVENT_BUS = 'provisioning-lifecycle';
export const PUBLIC_BASE_URL = 'https://handoff.example.com';
export const CALLBACK_URL = `${PUBLIC_BASE_URL}/api/internal/provisioning/callback`;
export const SECRET_ARNS: Record<SecretName, string> = {
  stripeWebhookSecrets:
    'arn:aws:secretsmanager:us-east-1:123456789012:secret:stripe-webhook-AbCdEf',
  stripeApiKey: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:stripe-api-key-AbCdEf',
  triggerSecret: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:trigger-AbCdEf',
  callbackSecret: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:callback-AbCdEf',
};

/** The demo catalogue every handler test starts with. */
export const PACKAGES = [
  { slug: 'starter', tier: 'starter', tokensQuota: 100_000 },
  { slug: 'growth', tier: 'growth', tokensQuota: 1_100_000 },
  { slug: 'scale', tier: 'scale', tokensQuota: 10_000_000 },
];

type LogArgs = Parameters<Log['info']>;

export interface LogEntry {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly message: LogArgs[0];
  readonly extra: unknown[];
}

/** Keeps what a service logged, so tests can assert on it (and that no secret is in it). */
export class CapturingLog implements Log {
  readonly entries: LogEntry[] = [];
  debug(...[message, ...extra]: LogArgs) {
    this.entries.push({ level: 'debug', message, extra });
  }
  info(...[message, ...extra]: LogArgs) {
    this.entries.push({ level: 'info', message, extra });
  }
  warn(...[message, ...extra]: LogArgs) {
    this.entries.push({ level: 'warn', message, extra });
  }
  error(...[message, ...extra]: LogArgs) {
    this.entries.push({ level: 'error', message, extra });
  }
  /** Everything logged, as one string to search. */
  text(): string {
    return JSON.stringify(this.entries, (_key, value) =>
      value instanceof Error ? value.message : value,
    );
  }
}

export interface Harness {
  readonly db: TestDatabase;
  readonly bridge: DataApiBridge;
  /** The collaborators every service takes: the Data API executor over the bridge, AWS adapters over mocked clients. */
  readonly deps: ServiceDependencies & { readonly quiet: InMemoryQuietMarker };
  readonly queue: SqsHandoffQueue;
  readonly secrets: SecretsManagerSource;
  readonly sqs: AwsClientStub<SQSClient>;
  readonly eventBridge: AwsClientStub<EventBridgeClient>;
  readonly secretsManager: AwsClientStub<SecretsManagerClient>;
  readonly telemetry: TelemetryRegistry;
  readonly log: CapturingLog;
  now(): Date;
  advance(seconds: number): void;
  /** Stores a secret value in the mocked Secrets Manager (undefined: not set). */
  setSecret(name: SecretName, value: string | undefined): void;
  close(): Promise<void>;
}

/**
 * A fresh migrated database with the demo catalogue, the production Data API
 * executor over the bridge (logged in as the application role), and real AWS adapters
 * over aws-sdk-client-mock clients.
 */
export async function handlerHarness(
  options: { rules?: Partial<ProvisioningRules> } = {},
): Promise<Harness> {
  const db = await freshDatabase();
  for (const pkg of PACKAGES) await upsertPackage(db.executor, pkg);
  // As the application role, as every function but the two read routes runs in AWS:
  // a statement that needs a grant the role lacks fails here.
  const { executor, bridge } = bridgedExecutor(db, { as: 'app' });
  const sqs = mockClient(SQSClient);
  const eventBridge = mockClient(EventBridgeClient);
  const secretsManager = mockClient(SecretsManagerClient);
  sqs.resolves({});
  eventBridge.resolves({ FailedEntryCount: 0, Entries: [] });
  secretsManager.rejects(
    Object.assign(new Error('Secrets Manager can’t find the specified secret.'), {
      name: 'ResourceNotFoundException',
    }),
  );
  let now = new Date('2026-11-23T10:00:00.000Z');
  const telemetry = new TelemetryRegistry();
  const log = new CapturingLog();
  const region = {
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' },
  };
  const queue = new SqsHandoffQueue(new SQSClient(region), QUEUE_URL);
  const events = new EventBridgeLifecycleEvents(new EventBridgeClient(region), EVENT_BUS);
  // maxAge 0: every read goes to (mocked) Secrets Manager, so tests can rotate values.
  const secrets = new SecretsManagerSource(SECRET_ARNS, new SecretsManagerClient(region), 0);
  return {
    db,
    bridge,
    deps: {
      db: executor,
      clock: () => now,
      rules: { ...DEFAULT_RULES, ...options.rules },
      telemetry,
      events,
      log,
      quiet: new InMemoryQuietMarker(),
    },
    queue,
    secrets,
    sqs,
    eventBridge,
    secretsManager,
    telemetry,
    log,
    now: () => now,
    advance: (seconds) => {
      now = new Date(now.getTime() + seconds * 1000);
    },
    setSecret: (name, value) => {
      const call = secretsManager.on(GetSecretValueCommand, { SecretId: SECRET_ARNS[name] });
      if (value === undefined)
        call.rejects(Object.assign(new Error('not found'), { name: 'ResourceNotFoundException' }));
      else call.resolves({ SecretString: value });
    },
    close: async () => {
      sqs.restore();
      eventBridge.restore();
      secretsManager.restore();
      await bridge.close();
      await db.close();
    },
  };
}

/** A test invocation's context: a minute left unless told. */
export function lambdaContext(remainingMs = 60_000): Context {
  return localLambdaContext('provisioning-test', remainingMs);
}
