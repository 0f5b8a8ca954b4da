import { z } from 'zod';
import { STRIPE_MODES, type StripeMode } from '../functions/core/stripe-mode.js';

/**
 * The stack's settings, from CDK context (`cdk.json` or `-c key=value`), parsed at
 * synth: a bad value stops the synth with the key named.
 */
const flag = z.union([
  z.boolean(),
  z.enum(['true', 'false']).transform((value) => value === 'true'),
]);
const count = z.coerce.number().int().positive();

const contextSchema = z.object({
  stage: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,20}$/, 'lowercase letters, digits and dashes')
    .default('dev'),
  /** Production keeps the database on delete (snapshot), deletion protection and longer backups and logs. */
  production: flag.optional(),
  alarmEmail: z.email().optional(),
  /** The Stripe mode the webhook serves; events of the other mode are refused. */
  stripeMode: z.enum(STRIPE_MODES).optional(),
  triggerUrl: z.url().optional(),
  runbookBaseUrl: z
    .url()
    .default('https://github.com/your-org/provisioning-handoff/blob/main/docs/runbooks'),
  reconcileEnabled: flag.default(true),
  watchdogEnabled: flag.default(true),
  staleAfterSeconds: count.default(300),
  stuckAfterSeconds: count.default(900),
  maxAttempts: count.default(8),
  retryMaxDelaySeconds: count.default(3600),
  breakerFailureThreshold: count.default(5),
  stallAfterSeconds: count.default(1800),
  renotifyAfterSeconds: count.default(21_600),
  reconcileBatchSize: count.max(1000).default(25),
  reconcileMaxRedrivesPerSecond: count.default(20),
  triggerTimeoutMs: count.max(25_000).default(10_000),
  handoffMaxConcurrency: count.min(2).max(1000).default(5),
  handoffMaxReceiveCount: count.default(5),
  backlogWarning: count.default(10),
  backlogCritical: count.default(50),
  oldestMessageSeconds: count.default(300),
  databaseMaxCapacityAcu: z.coerce.number().min(0.5).max(256).default(4),
  apiRateLimit: count.default(50),
  apiBurstLimit: count.default(100),
});

export type StackSettings = z.infer<typeof contextSchema> & {
  readonly production: boolean;
  readonly stripeMode: StripeMode;
};

export function parseSettings(context: Record<string, unknown>): StackSettings {
  const parsed = contextSchema.safeParse(context);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.')}: ${issue.message}`,
    );
    throw new Error(`Invalid CDK context: ${problems.join('; ')}`);
  }
  const production = parsed.data.production ?? parsed.data.stage === 'prod';
  return {
    ...parsed.data,
    production,
    stripeMode: parsed.data.stripeMode ?? (production ? 'live' : 'test'),
  };
}

/** The context keys this stack reads, so bin/app.ts can pass exactly those. */
export const SETTING_KEYS = Object.keys(contextSchema.shape);
