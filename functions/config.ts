import * as z from 'zod';
import { DATA_API_RETRY_BUDGET_SECONDS } from './core/resume-budget.js';
import { DEFAULT_RULES, type ProvisioningRules } from './core/rules.js';
import { STRIPE_MODES, type StripeMode } from './core/stripe-mode.js';

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const optionalText = z
  .string()
  .trim()
  .transform((value) => value || undefined)
  .optional();
const optionalUrl = optionalText.pipe(z.url().optional());
const optionalArn = optionalText.pipe(z.string().startsWith('arn:', 'must be an ARN').optional());

/**
 * Every setting the functions and the local runtime read, from environment variables.
 * Secrets are never here as values in AWS: only their ARNs (`*_ARN`).
 */
const environment = z.object({
  // Aurora through the Data API (AWS) …
  DATABASE_RESOURCE_ARN: optionalArn,
  DATABASE_SECRET_ARN: optionalArn,
  DATABASE_NAME: z.string().trim().min(1).default('provisioning'),
  /** The migrator only: the secrets of the roles it creates (see database-roles.ts). */
  APP_ROLE_SECRET_ARN: optionalArn,
  READER_ROLE_SECRET_ARN: optionalArn,
  /** How long this function retries Data API faults that came before a statement ran (Aurora resuming). */
  DATA_API_RETRY_BUDGET_SECONDS: positiveInt(DATA_API_RETRY_BUDGET_SECONDS.background),
  // … or a PostgreSQL server (local runtime).
  DATABASE_URL: optionalUrl,
  HANDOFF_QUEUE_URL: optionalUrl,
  EVENT_BUS_NAME: optionalText,
  /** The SSM parameter that says whether anything may be in flight (see services/quiet.ts). */
  RECONCILER_QUIET_PARAMETER: optionalText,
  PROVISIONING_TRIGGER_URL: optionalUrl,
  /** The public base URL of the HTTP API: the callback URL in trigger payloads and status URLs derive from it. */
  PUBLIC_BASE_URL: optionalUrl,
  /** The Stripe mode the webhook serves (`live` or `test`); the stack sets it. */
  STRIPE_MODE: optionalText.pipe(z.enum(STRIPE_MODES).optional()),
  STRIPE_WEBHOOK_SECRET_ARN: optionalArn,
  STRIPE_API_KEY_ARN: optionalArn,
  /** Another Stripe API base for the sweep (a local stand-in); Stripe's own when unset. */
  STRIPE_API_URL: optionalUrl,
  /** How far back the missed-checkout sweep lists completed sessions (Stripe retries for 72 h). */
  SWEEP_LOOKBACK_HOURS: z.coerce.number().int().min(1).max(720).default(72),
  PROVISIONING_TRIGGER_SECRET_ARN: optionalArn,
  PROVISIONING_CALLBACK_SECRET_ARN: optionalArn,
  SECRETS_MAX_AGE_SECONDS: positiveInt(300),
  STALE_AFTER_SECONDS: positiveInt(DEFAULT_RULES.staleAfterSeconds),
  STUCK_AFTER_SECONDS: positiveInt(DEFAULT_RULES.stuckAfterSeconds),
  MAX_ATTEMPTS: positiveInt(DEFAULT_RULES.maxAttempts),
  RETRY_MAX_DELAY_SECONDS: positiveInt(DEFAULT_RULES.retryMaxDelaySeconds),
  BREAKER_FAILURE_THRESHOLD: positiveInt(DEFAULT_RULES.breakerFailureThreshold),
  /** Derived by the stack from the queue's visibility timeout; see ProvisioningRules. */
  HANDOFF_LEASE_SECONDS: positiveInt(DEFAULT_RULES.handoffLeaseSeconds),
  STALL_AFTER_SECONDS: positiveInt(DEFAULT_RULES.stallAfterSeconds),
  RENOTIFY_AFTER_SECONDS: positiveInt(DEFAULT_RULES.renotifyAfterSeconds),
  RECONCILE_BATCH_SIZE: z.coerce.number().int().min(1).max(1000).default(25),
  RECONCILE_MAX_REDRIVES_PER_SECOND: positiveInt(20),
  TRIGGER_TIMEOUT_MS: positiveInt(10_000),
  /** Page origins allowed to read the status route (CORS), comma-separated. */
  ALLOWED_ORIGINS: optionalText,
  /** Refuse callbacks without X-Provisioning-Timestamp (`false` only while an orchestrator migrates). */
  REQUIRE_CALLBACK_TIMESTAMP: z.enum(['true', 'false']).default('true'),
});

export interface Config {
  readonly database:
    | {
        readonly kind: 'data-api';
        readonly resourceArn: string;
        readonly secretArn: string;
        readonly database: string;
        readonly retryBudgetMs: number;
      }
    | { readonly kind: 'postgres'; readonly url: string }
    | { readonly kind: 'none' };
  /** The migrator only: where the passwords of the database roles are. */
  readonly roleSecretArns: {
    readonly app?: string | undefined;
    readonly reader?: string | undefined;
  };
  readonly handoffQueueUrl: string | undefined;
  readonly eventBusName: string | undefined;
  readonly quietParameterName: string | undefined;
  readonly triggerUrl: string | undefined;
  readonly publicBaseUrl: string | undefined;
  readonly stripeMode: StripeMode | undefined;
  readonly stripeApiUrl: string | undefined;
  readonly sweep: { readonly lookbackSeconds: number };
  readonly secretArns: {
    readonly stripeWebhookSecrets?: string | undefined;
    readonly stripeApiKey?: string | undefined;
    readonly triggerSecret?: string | undefined;
    readonly callbackSecret?: string | undefined;
  };
  readonly secretsMaxAgeSeconds: number;
  readonly rules: ProvisioningRules;
  readonly reconcile: { readonly batchSize: number; readonly maxRedrivesPerSecond: number };
  readonly triggerTimeoutMs: number;
  readonly allowedOrigins: readonly string[];
  readonly requireCallbackTimestamp: boolean;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Parses the environment once; a bad value fails with every offending variable named
 * (never its value, which might be a secret someone misplaced).
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const parsed = environment.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.')}: ${issue.message}`,
    );
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  if (Boolean(e.DATABASE_RESOURCE_ARN) !== Boolean(e.DATABASE_SECRET_ARN)) {
    throw new ConfigError(
      'Invalid configuration: DATABASE_RESOURCE_ARN and DATABASE_SECRET_ARN go together',
    );
  }
  return {
    database:
      e.DATABASE_RESOURCE_ARN && e.DATABASE_SECRET_ARN
        ? {
            kind: 'data-api',
            resourceArn: e.DATABASE_RESOURCE_ARN,
            secretArn: e.DATABASE_SECRET_ARN,
            database: e.DATABASE_NAME,
            retryBudgetMs: e.DATA_API_RETRY_BUDGET_SECONDS * 1000,
          }
        : e.DATABASE_URL
          ? { kind: 'postgres', url: e.DATABASE_URL }
          : { kind: 'none' },
    roleSecretArns: { app: e.APP_ROLE_SECRET_ARN, reader: e.READER_ROLE_SECRET_ARN },
    handoffQueueUrl: e.HANDOFF_QUEUE_URL,
    eventBusName: e.EVENT_BUS_NAME,
    quietParameterName: e.RECONCILER_QUIET_PARAMETER,
    triggerUrl: e.PROVISIONING_TRIGGER_URL,
    publicBaseUrl: e.PUBLIC_BASE_URL?.replace(/\/+$/, ''),
    stripeMode: e.STRIPE_MODE,
    stripeApiUrl: e.STRIPE_API_URL,
    sweep: { lookbackSeconds: e.SWEEP_LOOKBACK_HOURS * 3600 },
    secretArns: {
      stripeWebhookSecrets: e.STRIPE_WEBHOOK_SECRET_ARN,
      stripeApiKey: e.STRIPE_API_KEY_ARN,
      triggerSecret: e.PROVISIONING_TRIGGER_SECRET_ARN,
      callbackSecret: e.PROVISIONING_CALLBACK_SECRET_ARN,
    },
    secretsMaxAgeSeconds: e.SECRETS_MAX_AGE_SECONDS,
    rules: {
      staleAfterSeconds: e.STALE_AFTER_SECONDS,
      stuckAfterSeconds: e.STUCK_AFTER_SECONDS,
      maxAttempts: e.MAX_ATTEMPTS,
      retryMaxDelaySeconds: e.RETRY_MAX_DELAY_SECONDS,
      breakerFailureThreshold: e.BREAKER_FAILURE_THRESHOLD,
      handoffLeaseSeconds: e.HANDOFF_LEASE_SECONDS,
      stallAfterSeconds: e.STALL_AFTER_SECONDS,
      renotifyAfterSeconds: e.RENOTIFY_AFTER_SECONDS,
    },
    reconcile: {
      batchSize: e.RECONCILE_BATCH_SIZE,
      maxRedrivesPerSecond: e.RECONCILE_MAX_REDRIVES_PER_SECOND,
    },
    triggerTimeoutMs: e.TRIGGER_TIMEOUT_MS,
    allowedOrigins: (e.ALLOWED_ORIGINS ?? '').split(',').flatMap((o) => o.trim() || []),
    requireCallbackTimestamp: e.REQUIRE_CALLBACK_TIMESTAMP === 'true',
  };
}

/** A setting a particular function cannot work without; fails with the variable's name. */
export function required<T>(value: T | undefined, variable: string): T {
  if (value === undefined)
    throw new ConfigError(`Invalid configuration: ${variable} is required here`);
  return value;
}
