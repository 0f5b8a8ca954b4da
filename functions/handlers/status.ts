import * as z from 'zod';
import type { Telemetry } from '../adapters/telemetry.js';
import { awsConfig, awsExecutor, lazyHandler } from '../aws.js';
import { coarseState } from '../core/coarse-state.js';
import { describeIssues, InvalidInputError } from '../core/errors.js';
import { jobSessionId } from '../core/session-id.js';
import type { SqlExecutor } from '../db/executor.js';
import { readSessionStatus } from '../db/status-repository.js';
import { type HttpEvent, type HttpResult, json } from '../http.js';
import { PowertoolsTelemetry } from '../observability.js';
import { type HttpHandlerOptions, httpHandler } from './middleware.js';

/** What a read-only route needs: the database (its read-only role in AWS) and its counters. */
export interface ReadRouteDependencies {
  readonly db: SqlExecutor;
  readonly telemetry: Telemetry;
}

const statusQuery = z.object({
  session_id: jobSessionId,
});

/**
 * `GET /api/provisioning/status?session_id=cs_…`: the checkout success page polls this.
 * It reveals nothing but the coarse state, and answers 200 for an unknown session too.
 */
export async function answerStatus(
  deps: Pick<ReadRouteDependencies, 'db'>,
  event: HttpEvent,
): Promise<HttpResult> {
  const query = statusQuery.safeParse(event.queryStringParameters ?? {});
  if (!query.success) throw new InvalidInputError(describeIssues(query.error.issues));
  const sessionId = query.data.session_id;
  const found = await readSessionStatus(deps.db, sessionId);
  const state = coarseState(
    found?.job_status
      ? { status: found.job_status, parked: found.parked, capped: found.capped }
      : undefined,
    found ? { status: found.account_status } : undefined,
  );
  const phase = state === 'running' && found?.phase ? { phase: found.phase } : {};
  return json(200, { session_id: sessionId, state, ...phase }, { 'cache-control': 'no-store' });
}

export function createStatusHandler(
  deps: ReadRouteDependencies,
  options?: Pick<HttpHandlerOptions, 'allowedOrigins'>,
) {
  return httpHandler((event) => answerStatus(deps, event), {
    ...options,
    route: 'status',
    telemetry: deps.telemetry,
  });
}

export const handler = lazyHandler(() => {
  const telemetry = new PowertoolsTelemetry();
  return createStatusHandler(
    { db: awsExecutor(undefined, telemetry), telemetry },
    { allowedOrigins: awsConfig().allowedOrigins },
  );
});
