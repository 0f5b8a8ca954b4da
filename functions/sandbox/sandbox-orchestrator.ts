import { createHash } from 'node:crypto';
import * as z from 'zod';
import { parseJson } from '../core/json.js';
import { onboardingInput } from '../core/onboarding-input.js';
import { checkProvisioningSignature, signProvisioningBody } from '../core/signatures.js';

/**
 * A stand-in for the external orchestrator, for trying and proving the product without
 * one: it verifies each trigger's signature as the real one must, answers by its mode,
 * and reports back signed through the product's real callback route. The local runtime
 * serves it over HTTP (local/sandbox-orchestrator.ts); a stack deployed with
 * `sandboxOrchestrator: true` serves it from a Lambda (handlers/sandbox-orchestrator.ts).
 *
 * How it answers a trigger, one mode for every branch of the runbook:
 * - ok: accepts and provisions; fail: accepts and reports a failed saga;
 * - down: 503; silent: accepts and never calls back;
 * - slow: accepts only after the delay (a trigger that takes long to be accepted);
 * - saga: accepts and runs long, reporting progress (heartbeats) before it provisions;
 * - reject: 422, a permanent refusal; unauthorized: 401, as for a wrong trigger secret;
 * - throttle: 429 with a Retry-After.
 */
export const SANDBOX_MODES = [
  'ok',
  'fail',
  'down',
  'silent',
  'slow',
  'saga',
  'reject',
  'unauthorized',
  'throttle',
] as const;
export type SandboxMode = (typeof SANDBOX_MODES)[number];

/** Where it takes triggers, wherever it runs (Lambda function URL or local server). */
export const TRIGGER_PATH = '/trigger/onboarding';

/** Its timings, from the environment wherever it runs. */
export const sandboxTimings = z.object({
  /** Pause before each callback (and before a slow acceptance), so a person can watch. */
  SANDBOX_DELAY_MS: z.coerce.number().int().min(0).default(500),
  /** Progress reports a `saga` sends before it provisions. */
  SANDBOX_SAGA_HEARTBEATS: z.coerce.number().int().min(1).max(1000).default(6),
  /** The Retry-After a `throttle` answers with. */
  SANDBOX_RETRY_AFTER_SECONDS: z.coerce.number().int().positive().default(30),
});

/** The refusals the sandbox answers with, by mode. */
const REFUSALS: Partial<Record<SandboxMode, { status: number; text: string }>> = {
  down: { status: 503, text: 'orchestrator down' },
  reject: { status: 422, text: 'sandbox: this onboarding is refused' },
  unauthorized: { status: 401, text: 'sandbox: unknown signing key' },
  throttle: { status: 429, text: 'sandbox: too many triggers' },
};

export interface TriggerRequest {
  readonly body: string;
  readonly signature: string | undefined;
  readonly timestamp: string | undefined;
}

export interface TriggerAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly text: string;
  /** Set when the trigger was accepted and a saga is to run (not in `silent` mode). */
  readonly saga?: SagaJob;
}

/** What the saga needs: the trigger's input, and the mode it was accepted in. */
export const sagaJob = z.object({ input: onboardingInput, mode: z.enum(SANDBOX_MODES) });
export type SagaJob = z.infer<typeof sagaJob>;

export interface TriggerSettings {
  readonly mode: SandboxMode;
  readonly triggerSecret: string;
  readonly delayMs: number;
  readonly retryAfterSeconds: number;
  /** While stopping, every trigger is answered as `down`. */
  readonly stopping?: boolean;
  readonly now: Date;
  readonly pause: (ms: number) => Promise<void>;
}

/** How the sandbox answers one trigger POST: a signature check, then its mode. */
export async function answerTrigger(
  request: TriggerRequest,
  settings: TriggerSettings,
): Promise<TriggerAnswer> {
  const signature = checkProvisioningSignature({
    rawBody: request.body,
    signature: request.signature,
    timestamp: request.timestamp,
    secrets: [settings.triggerSecret],
    now: settings.now,
  });
  if (signature !== 'valid') return { status: 401, headers: {}, text: `signature ${signature}` };
  const { mode } = settings;
  const refusal = settings.stopping ? REFUSALS.down : REFUSALS[mode];
  if (refusal) {
    const headers: Record<string, string> =
      mode === 'throttle' ? { 'retry-after': String(settings.retryAfterSeconds) } : {};
    return { status: refusal.status, headers, text: refusal.text };
  }
  const input = onboardingInput.safeParse(parseJson(request.body));
  if (!input.success) return { status: 422, headers: {}, text: 'not an OnboardingInput' };
  if (mode === 'slow') await settings.pause(settings.delayMs);
  return {
    status: 202,
    headers: { 'content-type': 'application/json' },
    text: JSON.stringify({ accepted: true }),
    ...(mode === 'silent' ? {} : { saga: { input: input.data, mode } }),
  };
}

/**
 * The deployment a job gets: derived from the job id, so a re-driven job (the same
 * Idempotency-Key) gets the same deployment, never a second tenant, in any process.
 */
function sandboxDeploymentId(jobId: string): string {
  return `dpl_sandbox_${createHash('sha256').update(jobId).digest('hex').slice(0, 12)}`;
}

export interface SagaSettings {
  /** Signs the callbacks: the callback secret, or the trigger secret while none is set. */
  readonly callbackSecret: string;
  readonly delayMs: number;
  readonly sagaHeartbeats: number;
  readonly clock: () => Date;
  readonly pause: (ms: number) => Promise<void>;
  readonly fetch?: typeof fetch;
  readonly log: (message: string, extra?: object) => void;
}

/** Reports the job's phases, then its tenant (or its failure), signed, to its callback URL. */
export async function runSaga({ input, mode }: SagaJob, settings: SagaSettings): Promise<void> {
  const databaseId = `db_${input.account_id.slice(0, 8)}`;
  const report = (extra: Record<string, unknown>) =>
    callBack(
      input.callback_url,
      { stripe_session_id: input.stripe_session_id, ...extra },
      settings,
    );
  await report({
    status: 'provisioning',
    phase: 'cell',
    database: { id: databaseId, status: 'provisioning' },
  });
  await report({
    status: 'provisioning',
    phase: 'database',
    database: { id: databaseId, status: 'migrating' },
  });
  if (mode === 'saga') {
    for (let beat = 1; beat <= settings.sagaHeartbeats; beat += 1) {
      await report({
        status: 'provisioning',
        phase: `workloads ${beat}/${settings.sagaHeartbeats}`,
      });
    }
  }
  if (mode === 'fail') {
    await report({
      status: 'failed',
      phase: 'database',
      error: 'sandbox: simulated saga failure',
      database: { id: databaseId, status: 'failed' },
    });
    return;
  }
  await report({
    status: 'provisioned',
    deployment_id: sandboxDeploymentId(input.job_id),
    cell_id: 'cell-sandbox-1',
    tokens_quota: input.tokens_quota,
    database: { id: databaseId, status: 'ready' },
  });
}

async function callBack(
  url: string,
  body: Record<string, unknown>,
  settings: SagaSettings,
): Promise<void> {
  await settings.pause(settings.delayMs);
  const raw = JSON.stringify(body);
  const { timestamp, signature } = signProvisioningBody(
    raw,
    settings.callbackSecret,
    settings.clock(),
  );
  try {
    const response = await (settings.fetch ?? fetch)(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-provisioning-timestamp': timestamp,
        'x-provisioning-signature': signature,
      },
      body: raw,
      signal: AbortSignal.timeout(10_000),
    });
    await response.body?.cancel().catch(() => undefined);
    settings.log('sandbox orchestrator called back', {
      status: body.status,
      answer: response.status,
    });
  } catch (error) {
    settings.log('sandbox orchestrator could not call back', { error: String(error) });
  }
}

/** Waits `ms`; an instant orchestrator (0) answers at once, not after a timer tick. */
export function pause(ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => setTimeout(resolve, ms));
}
