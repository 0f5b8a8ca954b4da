import type { HandoffOutcome } from '../core/job.js';
import { signTrigger } from '../core/signatures.js';
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
  }): Promise<HandoffOutcome> {
    const { url, secrets, timeoutMs, clock } = this.options;
    const secret = await secrets.get('triggerSecret');
    if (!url || !secret) return 'trigger_not_configured';
    const body = JSON.stringify(request.payload);
    const { timestamp, signature } = signTrigger(body, secret, clock());
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
      return error instanceof Error && error.name === 'TimeoutError' ? 'timeout' : 'fetch_error';
    }
    await response.body?.cancel().catch(() => undefined);
    if (response.status >= 200 && response.status < 300) return 'accepted';
    // A redirect (3xx) lands in http_4xx: like a refusal, it means the configured URL is wrong.
    return response.status >= 500 ? 'http_5xx' : 'http_4xx';
  }
}
