import type { HandoffOutcome, OutcomeClass } from './job.js';

/**
 * What one trigger toward the orchestrator came to (SPEC 2.3 and 2.5), and what that
 * means for the job's next attempt.
 */
export interface TriggerResult {
  /** The class stored in `last_error` (or `accepted`). */
  readonly outcome: HandoffOutcome;
  /** The HTTP status the orchestrator answered, when it answered. */
  readonly httpStatus?: number | undefined;
  /** The orchestrator's `Retry-After`, in seconds, when it sent one. */
  readonly retryAfterSeconds?: number | undefined;
}

/** 4xx answers that say "not now" rather than "never": Request Timeout, Too Many Requests. */
const TRANSIENT_4XX: ReadonlySet<number> = new Set([408, 429]);

/**
 * 2xx is accepted. Timeouts, transport errors, 5xx, 408 and 429 are transient: the job
 * is re-driven after a backoff. Anything else (another 4xx, a redirect, no trigger URL
 * or secret) is permanent: replaying it would only meet the same refusal, so the job is
 * parked for an operator.
 */
export function outcomeClass(result: TriggerResult): Exclude<OutcomeClass, 'deferred'> {
  switch (result.outcome) {
    case 'accepted':
      return 'accepted';
    case 'timeout':
    case 'fetch_error':
    case 'http_5xx':
      return 'transient';
    case 'http_4xx':
      return result.httpStatus !== undefined && TRANSIENT_4XX.has(result.httpStatus)
        ? 'transient'
        : 'permanent';
    case 'trigger_not_configured':
      return 'permanent';
  }
}

/** 401 or 403: the orchestrator does not accept our signature: the trigger secret or URL is wrong. */
export function isCredentialRefusal(result: TriggerResult): boolean {
  return result.httpStatus === 401 || result.httpStatus === 403;
}

/**
 * Reads a `Retry-After` header: delay-seconds or an HTTP-date (RFC 9110 10.2.3).
 * Anything else, or a date in the past, says nothing.
 */
export function parseRetryAfter(value: string | null | undefined, now: Date): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d{1,9}$/.test(text)) return Number(text);
  const at = Date.parse(text);
  if (Number.isNaN(at) || !/[A-Za-z]/.test(text)) return undefined;
  const seconds = Math.ceil((at - now.getTime()) / 1000);
  return seconds > 0 ? seconds : undefined;
}
