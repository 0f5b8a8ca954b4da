import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import type { Config } from '../functions/config.js';
import { parseJson } from '../functions/core/json.js';
import type { LocalSettings } from './settings.js';

/**
 * What `npm start` writes under DATA_DIR once it serves: where it listens and the
 * settings it runs with (port, thresholds, trigger URL, its local secrets), as the
 * environment variables that set them. `ops` and `simulate:checkout` read it, so a
 * person never repeats on every command what they gave `npm start` once.
 */
const runtimeFile = z.object({
  pid: z.int().positive(),
  url: z.url(),
  sandboxUrl: z.url().optional(),
  startedAt: z.iso.datetime(),
  environment: z.record(z.string(), z.string()),
});
export type RuntimeFile = z.infer<typeof runtimeFile>;

type Environment = Readonly<Record<string, string | undefined>>;

export function runtimeFilePath(env: Environment): string {
  return join(env.DATA_DIR || '.data', 'runtime.json');
}

/** Written whole (a rename), readable by this user only: it holds the local secrets. */
export function writeRuntimeFile(env: Environment, contents: RuntimeFile): void {
  const path = runtimeFilePath(env);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(`${path}.tmp`, `${JSON.stringify(contents, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

/** The last `npm start` of this DATA_DIR, running or not; undefined when there is none. */
export function readRuntimeFile(env: Environment): RuntimeFile | undefined {
  let text: string;
  try {
    text = readFileSync(runtimeFilePath(env), 'utf8');
  } catch {
    return undefined;
  }
  const parsed = runtimeFile.safeParse(parseJson(text));
  return parsed.success ? parsed.data : undefined;
}

/** The `npm start` of this DATA_DIR while it runs; undefined when none does. */
export function readRunningRuntime(env: Environment): RuntimeFile | undefined {
  const file = readRuntimeFile(env);
  return file && isProcessAlive(file.pid) ? file : undefined;
}

/** Whether a process with this id exists (signal 0 probes without signalling). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The environment a CLI works with: what the running `npm start` runs with, under what
 * this command's own environment sets (a variable given here wins). A stopped runtime
 * gives nothing: its trigger URL names a sandbox that no longer listens. Nor does a
 * command pointed at another database (its own DATABASE_URL).
 */
export function withRuntimeSettings(env: Environment): Environment {
  const file = readRunningRuntime(env);
  if (!file) return env;
  if (env.DATABASE_URL && env.DATABASE_URL !== file.environment.DATABASE_URL) return env;
  const given = Object.fromEntries(Object.entries(env).filter(([, value]) => value));
  return { ...file.environment, ...given };
}

/** The environment variables that reproduce a running local runtime's settings. */
export function effectiveEnvironment(runtime: {
  readonly url: string;
  readonly settings: LocalSettings;
  readonly config: Config;
  readonly triggerUrl: string | undefined;
  readonly stripe: {
    readonly apiUrl: string | undefined;
    readonly apiKey: string;
    readonly standIn: boolean;
  };
}): Record<string, string> {
  const { settings: s, config: c } = runtime;
  const defined = (entries: Record<string, string | number | undefined>) =>
    Object.fromEntries(
      Object.entries(entries).flatMap(([name, value]) =>
        value === undefined ? [] : [[name, String(value)]],
      ),
    );
  return defined({
    PORT: new URL(runtime.url).port,
    DATA_DIR: s.DATA_DIR,
    DATABASE_URL: s.DATABASE_URL,
    EMBEDDED_DATABASE_PORT: s.DATABASE_URL ? undefined : s.EMBEDDED_DATABASE_PORT,
    PUBLIC_BASE_URL: c.publicBaseUrl,
    PROVISIONING_TRIGGER_URL: runtime.triggerUrl,
    // The stand-in for Stripe's records and its made-up key (a real key is never written).
    STRIPE_API_URL: runtime.stripe.apiUrl,
    STRIPE_API_KEY: runtime.stripe.standIn ? runtime.stripe.apiKey : undefined,
    STRIPE_MODE: s.STRIPE_MODE,
    STRIPE_WEBHOOK_SECRET: s.STRIPE_WEBHOOK_SECRET,
    PROVISIONING_TRIGGER_SECRET: s.PROVISIONING_TRIGGER_SECRET,
    PROVISIONING_CALLBACK_SECRET: s.PROVISIONING_CALLBACK_SECRET,
    QUEUE_VISIBILITY_TIMEOUT_SECONDS: s.QUEUE_VISIBILITY_TIMEOUT_SECONDS,
    STALE_AFTER_SECONDS: c.rules.staleAfterSeconds,
    STUCK_AFTER_SECONDS: c.rules.stuckAfterSeconds,
    MAX_ATTEMPTS: c.rules.maxAttempts,
    RETRY_MAX_DELAY_SECONDS: c.rules.retryMaxDelaySeconds,
    BREAKER_FAILURE_THRESHOLD: c.rules.breakerFailureThreshold,
    STALL_AFTER_SECONDS: c.rules.stallAfterSeconds,
    RENOTIFY_AFTER_SECONDS: c.rules.renotifyAfterSeconds,
    RECONCILE_BATCH_SIZE: c.reconcile.batchSize,
    RECONCILE_MAX_REDRIVES_PER_SECOND: c.reconcile.maxRedrivesPerSecond,
    TRIGGER_TIMEOUT_MS: c.triggerTimeoutMs,
  });
}
