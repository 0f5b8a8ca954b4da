import {
  type CallbackBody,
  type SignedCallback,
  signCallback,
  verifyTrigger,
} from '../../../contract/index.js';
import type { OnboardingInput } from '../../../functions/core/onboarding-input.js';
import type { VirtualTime } from './virtual-time.js';

/**
 * The orchestrator of the fault matrix, on the trigger and callback contracts (SPEC 2.2,
 * 2.3) and on virtual time: it verifies every trigger with the contract kit, answers as
 * its script says, and reports back signed through the product's real callback route.
 *
 * It does not lean on the `Idempotency-Key`: every trigger it accepts starts a saga and
 * mints a tenant. So two tenants for one checkout can only be the product's doing (a job
 * accepted twice, or two jobs for one checkout), and the suite counts them.
 */

/** One step of a saga, `afterMs` after the trigger was accepted. */
export interface SagaStep {
  readonly afterMs: number;
  readonly status: 'provisioning' | 'provisioned';
  readonly phase?: string;
}

export type TriggerAnswer =
  /** 202 after `afterMs` (a slow acceptance), then the saga. */
  | { readonly kind: 'accept'; readonly afterMs?: number; readonly saga: readonly SagaStep[] }
  /** An HTTP refusal: 4xx or 5xx, with a Retry-After when given. */
  | { readonly kind: 'refuse'; readonly status: number; readonly retryAfterSeconds?: number }
  /** Takes the connection and never answers: the caller's timeout ends it. */
  | { readonly kind: 'hang' }
  /** Nobody listens: the connection is refused. */
  | { readonly kind: 'unreachable' };

export interface TriggerSeen {
  /** Virtual epoch milliseconds. */
  readonly at: number;
  readonly jobId: string;
  readonly sessionId: string;
  /** This job's 1st, 2nd… trigger. */
  readonly nth: number;
  readonly answer: TriggerAnswer;
}

export interface Tenant {
  readonly jobId: string;
  readonly sessionId: string;
  readonly deploymentId: string;
}

/** What the script decides from: when the trigger came, its verified body, and how many this job had. */
export type Script = (trigger: {
  /** Seconds since the scenario started. */
  readonly second: number;
  readonly input: OnboardingInput;
  readonly nth: number;
}) => TriggerAnswer;

/** POSTs a signed callback to a URL; the HTTP status, or undefined when nothing answers there. */
export type CallbackPoster = (url: string, callback: SignedCallback) => Promise<number | undefined>;

export interface ScriptedOrchestratorOptions {
  readonly time: VirtualTime;
  readonly triggerSecret: string;
  readonly callbackSecret: string;
  /** The caller's trigger timeout: a hang, or an answer later than this, ends as a timeout. */
  readonly triggerTimeoutMs: number;
  readonly post: CallbackPoster;
  readonly script: Script;
}

/** A saga that reports its first phase at once and provisions half a minute later. */
export const QUICK_SAGA: readonly SagaStep[] = [
  { afterMs: 1_000, status: 'provisioning', phase: 'cell' },
  { afterMs: 30_000, status: 'provisioned' },
];

/** A saga of `totalMs` that reports progress every `everyMs` before it provisions. */
export function heartbeatingSaga(totalMs: number, everyMs: number): SagaStep[] {
  const steps: SagaStep[] = [];
  for (let at = 1_000, beat = 1; at < totalMs; at += everyMs, beat += 1) {
    steps.push({ afterMs: at, status: 'provisioning', phase: `workloads ${beat}` });
  }
  steps.push({ afterMs: totalMs, status: 'provisioned' });
  return steps;
}

export class ScriptedOrchestrator {
  /** Every trigger that reached it, verified or not. */
  readonly triggers: TriggerSeen[] = [];
  readonly tenants: Tenant[] = [];
  /** Anything off the contract: a trigger it could not verify, a callback URL nobody serves, a callback refused. */
  readonly problems: string[] = [];
  script: Script;
  private readonly perJob = new Map<string, number>();
  private readonly startedAt: number;

  constructor(private readonly options: ScriptedOrchestratorOptions) {
    this.script = options.script;
    this.startedAt = options.time.now();
  }

  /** The `fetch` the product's trigger adapter calls: answers in virtual time. */
  readonly fetch = async (_url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const { time, triggerTimeoutMs } = this.options;
    const body = typeof init?.body === 'string' ? init.body : '';
    const verified = verifyTrigger(
      { body, headers: new Headers(init?.headers) },
      { secret: this.options.triggerSecret, now: time.clock() },
    );
    if (!verified.ok) {
      this.problems.push(`trigger refused: ${verified.reason}`);
      return new Response(verified.reason, { status: verified.status });
    }
    const input = verified.input;
    const nth = (this.perJob.get(input.job_id) ?? 0) + 1;
    this.perJob.set(input.job_id, nth);
    const answer = this.script({ second: (time.now() - this.startedAt) / 1000, input, nth });
    this.triggers.push({
      at: time.now(),
      jobId: input.job_id,
      sessionId: input.stripe_session_id,
      nth,
      answer,
    });
    switch (answer.kind) {
      case 'unreachable':
        throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') });
      case 'hang':
        return this.timeOut();
      case 'refuse':
        return new Response('refused by the script', {
          status: answer.status,
          headers:
            answer.retryAfterSeconds === undefined
              ? {}
              : { 'Retry-After': String(answer.retryAfterSeconds) },
        });
      case 'accept': {
        const afterMs = answer.afterMs ?? 0;
        if (afterMs >= triggerTimeoutMs) return this.timeOut();
        if (afterMs > 0) await time.sleep(afterMs);
        this.startSaga(input, answer.saga);
        return new Response('{"accepted":true}', {
          status: 202,
          headers: { 'content-type': 'application/json' },
        });
      }
    }
  };

  /** How many triggers each job received. */
  triggersPerJob(): Map<string, number> {
    return new Map(this.perJob);
  }

  private async timeOut(): Promise<never> {
    await this.options.time.sleep(this.options.triggerTimeoutMs);
    throw new DOMException('The operation was aborted due to timeout', 'TimeoutError');
  }

  private startSaga(input: OnboardingInput, steps: readonly SagaStep[]): void {
    const tenant = {
      jobId: input.job_id,
      sessionId: input.stripe_session_id,
      deploymentId: `dpl_scripted_${this.tenants.length + 1}`,
    };
    this.tenants.push(tenant);
    const { time } = this.options;
    time.spawn(async () => {
      let elapsed = 0;
      for (const step of steps) {
        await time.sleep(step.afterMs - elapsed);
        elapsed = step.afterMs;
        await this.report(input, {
          stripe_session_id: input.stripe_session_id,
          status: step.status,
          ...(step.phase ? { phase: step.phase } : {}),
          ...(step.status === 'provisioned'
            ? {
                deployment_id: tenant.deploymentId,
                cell_id: 'cell-1',
                tokens_quota: input.tokens_quota,
              }
            : {}),
        });
      }
    });
  }

  private async report(input: OnboardingInput, report: CallbackBody): Promise<void> {
    const signed = signCallback(report, this.options.callbackSecret, this.options.time.clock());
    const status = await this.options.post(input.callback_url, signed);
    if (status === undefined) this.problems.push(`nothing answers at ${input.callback_url}`);
    else if (status !== 200) this.problems.push(`callback ${report.status} answered ${status}`);
  }
}
