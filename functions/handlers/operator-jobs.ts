import * as z from 'zod';
import {
  awsCallbackUrl,
  awsConfig,
  awsExecutor,
  awsHandoffQueue,
  awsQuietMarker,
  awsServiceDependencies,
  lazyHandler,
} from '../aws.js';
import { InvalidInputError, NotFoundError } from '../core/errors.js';
import type { Actor } from '../core/job.js';
import { isJobSessionId } from '../core/session-id.js';
import { readJob } from '../db/jobs/operator-actions.js';
import { type HttpEvent, type HttpResult, header, json, rawBody } from '../http.js';
import { PowertoolsTelemetry, tagLogs } from '../observability.js';
import type { CheckoutHandoffDependencies } from '../services/checkout-handoff.js';
import { submitOperatorJob } from '../services/operator-jobs.js';
import { httpHandler } from './middleware.js';
import type { ReadRouteDependencies } from './status.js';

/**
 * The operators' routes (IAM-authorised by API Gateway in AWS):
 * `GET /api/internal/provisioning/jobs/{stripe_session_id}` reads a job with its
 * account and history; `POST /api/internal/provisioning/jobs` asks for a job.
 */

export async function answerJobRead(
  deps: Pick<ReadRouteDependencies, 'db'>,
  event: HttpEvent,
): Promise<HttpResult> {
  const sessionId = event.pathParameters?.stripe_session_id;
  if (!sessionId || !isJobSessionId(sessionId)) {
    throw new InvalidInputError(
      'stripe_session_id: must be a checkout (cs_…) or operator (op_…) session id',
    );
  }
  const report = await readJob(deps.db, sessionId);
  if (!report) throw new NotFoundError('no provisioning job for stripe_session_id');
  return json(200, report, { 'cache-control': 'no-store' });
}

export async function answerJobCreate(
  deps: CheckoutHandoffDependencies,
  event: HttpEvent,
): Promise<HttpResult> {
  const job = await submitOperatorJob(deps, {
    idempotencyKey: header(event, 'Idempotency-Key'),
    body: rawBody(event).toString('utf8'),
    actor: operatorOf(event),
  });
  tagLogs({ stripeSessionId: job.stripeSessionId, jobId: job.jobId });
  return json(202, { jobId: job.jobId, statusUrl: job.statusUrl });
}

const iamCaller = z.object({
  authorizer: z.object({ iam: z.object({ userArn: z.string().min(1) }) }),
});

/** Who asked, from API Gateway's IAM authorizer, for the job's history. */
function operatorOf(event: HttpEvent): Actor {
  const caller = iamCaller.safeParse(event.requestContext);
  return `operator:${caller.success ? caller.data.authorizer.iam.userArn : 'unknown'}`;
}

export function createJobReadHandler(deps: ReadRouteDependencies) {
  return httpHandler((event) => answerJobRead(deps, event), {
    route: 'jobRead',
    telemetry: deps.telemetry,
  });
}

export function createJobCreateHandler(deps: CheckoutHandoffDependencies) {
  return httpHandler((event) => answerJobCreate(deps, event), {
    route: 'jobCreate',
    telemetry: deps.telemetry,
  });
}

// Pure: the job read's own entry (operator-job-read.ts) then bundles neither this module's
// create route nor the SQS, EventBridge and SSM clients that route needs.
export const readHandler = /* @__PURE__ */ lazyHandler(() => {
  const telemetry = new PowertoolsTelemetry();
  return createJobReadHandler({ db: awsExecutor(undefined, telemetry), telemetry });
});

export const createHandler = /* @__PURE__ */ lazyHandler(() => {
  const config = awsConfig();
  return createJobCreateHandler({
    ...awsServiceDependencies(config),
    queue: awsHandoffQueue(config),
    callbackUrl: awsCallbackUrl(config),
    quiet: awsQuietMarker(config),
  });
});
