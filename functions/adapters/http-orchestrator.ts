import { parseRetryAfter, type TriggerResult } from '../core/attempts.js';
import { signProvisioningBody } from '../core/signatures.js';
import type { Clock } from './clock.js';
import type { OrchestratorTrigger } from './orchestrator.js';
import type { SecretSource } from './secrets.js';

export interface HttpOrchestratorOptions {
  /** `PROVISIONING_TRIGGER_URL`; unset means `trigger_not_configured`. */
  readonly url: string | undefined;
  readonly secrets: SecretSource;
  readonly timeoutMs: number;
  readonly clock: Clock;
  readonly fetch?: typeof fetch;
}

/** POSTs the stored OnboardingInput to the orchestrator (SPEC 2.3) and classifies the answer. */
export class HttpOrchestratorTrigger implements OrchestratorTrigger {
  constructor(private readonly options: HttpOrchestratorOptions) {}

  async trigger(request: {
    jobId: string;
    payload: Readonly<Record<string, unknown>>;
  }): Promise<TriggerResult> {
    const { url, secrets, timeoutMs, clock } = this.options;
    const secret = await secrets.get('triggerSecret');
    if (!url || !secret) return { outcome: 'trigger_not_configured' };
    const body = JSON.stringify(request.payload);
    const { timestamp, signature } = signProvisioningBody(body, secret, clock());
    let response: Response;
    try {
      response = await (this.options.fetch ?? fetch)(url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'X-Provisioning-Timestamp': timestamp,
          'X-Provisioning-Signature': signature,
          'Idempotency-Key': request.jobId,
        },
        body,
        // A redirect is not acceptance: the trigger URL is configured, not discovered.
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const timedOut = error instanceof Error && error.name === 'TimeoutError';
      return { outcome: timedOut ? 'timeout' : 'fetch_error' };
    }
    await response.body?.cancel().catch(() => undefined);
    const httpStatus = response.status;
    if (httpStatus >= 200 && httpStatus < 300) return { outcome: 'accepted', httpStatus };
    const retryAfterSeconds = parseRetryAfter(response.headers.get('retry-after'), clock());
    // A redirect (3xx) lands in http_4xx: like a refusal, it means the configured URL is wrong.
    return {
      outcome: httpStatus >= 500 ? 'http_5xx' : 'http_4xx',
      httpStatus,
      ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
    };
  }
}
