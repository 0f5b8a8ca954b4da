import type { Logger } from '@aws-lambda-powertools/logger';
import type { Telemetry } from '../adapters/telemetry.js';

/**
 * What a failed Data API call says about its statement. AWS documents that a call can
 * time out after its statement ran ("Controlling Data API timeout behavior"), so only a
 * refusal that provably came before the statement reached the database may be repeated
 * blindly; anything that could have come after it leaves the outcome unknown.
 */
export type DataApiFault =
  /** Refused before the statement reached the database: repeating cannot apply it twice. */
  | 'before_run'
  /** The request may have reached the database and run, even committed, before the answer was lost. */
  | 'ambiguous'
  /** An answer about the statement itself (SQL error, refused type, unknown transaction): repeating changes nothing. */
  | 'final';

const BEFORE_RUN_ERRORS: ReadonlySet<string> = new Set([
  // "A request was cancelled because the Aurora Serverless v2 DB instance was paused."
  'DatabaseResumingException',
  'ThrottlingException',
  'TooManyRequestsException',
]);
/** No connection was ever made: the request never left this process. */
const BEFORE_RUN_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);

const AMBIGUOUS_ERRORS: ReadonlySet<string> = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ServiceUnavailableError',
  'InternalServerErrorException',
  'DatabaseUnavailableException',
]);
/** The connection broke or stalled while the request or its answer was in flight. */
const AMBIGUOUS_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

export function classifyDataApiFault(error: unknown): DataApiFault {
  if (!(error instanceof Error)) return 'final';
  const code = (error as { code?: unknown }).code;
  if (BEFORE_RUN_ERRORS.has(error.name)) return 'before_run';
  if (typeof code === 'string' && BEFORE_RUN_CODES.has(code)) return 'before_run';
  if (AMBIGUOUS_ERRORS.has(error.name)) return 'ambiguous';
  if (typeof code === 'string' && AMBIGUOUS_CODES.has(code)) return 'ambiguous';
  return 'final';
}

export function isDatabaseResuming(error: unknown): boolean {
  return error instanceof Error && error.name === 'DatabaseResumingException';
}

/**
 * The executor's `onRetry` in Lambda: counts every DatabaseResumingException, the time
 * waited and the replays, and logs each wait, so a resume shows on the dashboard.
 */
export function reportDataApiRetry(
  telemetry: Telemetry,
  log: Pick<Logger, 'warn'>,
): (error: unknown, attempt: number, delayMs: number) => void {
  return (error, attempt, delayMs) => {
    const resuming = isDatabaseResuming(error);
    if (resuming) telemetry.count('DatabaseResuming');
    if (classifyDataApiFault(error) === 'ambiguous') telemetry.count('DataApiReplayed');
    telemetry.count('DataApiRetryWaitMs', delayMs);
    log.warn(resuming ? 'database resuming; retrying' : 'Data API call failed; retrying', {
      fault: error instanceof Error ? error.name : String(error),
      attempt,
      delayMs,
    });
  };
}
