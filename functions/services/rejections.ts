import type { InputSource } from '../db/rejected-inputs-repository.js';
import { recordRejectedInput } from '../db/rejected-inputs-repository.js';
import type { ServiceDependencies } from './dependencies.js';

export interface Rejection {
  readonly source: InputSource;
  /** What it was about: an event, session or message id; never the body. */
  readonly reference: string | null;
  readonly reason: string;
}

/**
 * Keeps an input that failed validation where an operator sees it (`rejected_inputs`),
 * counts it and logs it. Throws when the record could not be kept; each caller decides
 * what that means for its caller.
 */
export async function keepRejection(
  deps: Pick<ServiceDependencies, 'db' | 'clock' | 'telemetry' | 'log'>,
  rejection: Rejection,
  context: Readonly<Record<string, unknown>> = {},
): Promise<void> {
  await recordRejectedInput(deps.db, rejection, deps.clock());
  deps.telemetry.count('InputRejected');
  deps.log.warn(`${rejection.source} input refused`, {
    ...context,
    reference: rejection.reference,
    reason: rejection.reason,
  });
}
