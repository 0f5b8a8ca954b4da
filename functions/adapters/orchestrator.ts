import type { TriggerResult } from '../core/attempts.js';

/**
 * The orchestrator's trigger endpoint (SPEC 2.3): POST the stored payload, signed,
 * with `Idempotency-Key: <job id>`, and classify what happened. Never throws for a
 * transport or HTTP failure: those are outcomes, recorded on the job.
 */
export interface OrchestratorTrigger {
  trigger(request: {
    readonly jobId: string;
    readonly payload: Readonly<Record<string, unknown>>;
  }): Promise<TriggerResult>;
}
