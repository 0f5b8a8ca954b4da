import * as z from 'zod';
import { STRIPE_MODES } from '../functions/core/stripe-mode.js';
import { SANDBOX_MODES, sandboxTimings } from '../functions/sandbox/sandbox-orchestrator.js';

const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/**
 * The local runtime's own knobs (environment variables, production defaults), and
 * local secrets that are fixed, printed, and never silently empty.
 */
const localEnvironment = z.object({
  PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
  DATABASE_URL: z.url().optional(),
  DATA_DIR: z.string().default('.data'),
  /** The embedded PostgreSQL's port on 127.0.0.1 (when DATABASE_URL is unset). */
  EMBEDDED_DATABASE_PORT: z.coerce.number().int().min(1024).max(65_535).default(54329),
  SANDBOX_ORCHESTRATOR: z.enum([...SANDBOX_MODES, 'off']).default('ok'),
  ...sandboxTimings.shape,
  RECONCILE_EVERY_SECONDS: seconds(600),
  WATCHDOG_EVERY_SECONDS: seconds(3600),
  /** The missed-checkout sweep's schedule, hourly as in AWS. */
  SWEEP_EVERY_SECONDS: seconds(3600),
  QUEUE_VISIBILITY_TIMEOUT_SECONDS: seconds(360),
  QUEUE_MAX_RECEIVE_COUNT: seconds(5),
  STRIPE_WEBHOOK_SECRET: z.string().trim().min(1).default('whsec_local_provisioning_handoff_demo'),
  /** Test mode: what `stripe listen` forwards and `simulate:checkout` sends. */
  STRIPE_MODE: z.enum(STRIPE_MODES).default('test'),
  PROVISIONING_TRIGGER_SECRET: z.string().trim().min(1).default('local-trigger-secret'),
  PROVISIONING_CALLBACK_SECRET: z.string().trim().min(1).default('local-callback-secret'),
  LOG_FORMAT: z.enum(['pretty', 'json']).optional(),
});

export type LocalSettings = z.infer<typeof localEnvironment>;

export function parseLocalSettings(
  env: Readonly<Record<string, string | undefined>>,
): LocalSettings {
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = localEnvironment.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.')}: ${issue.message}`,
    );
    throw new Error(`Invalid local configuration: ${problems.join('; ')}`);
  }
  return parsed.data;
}
