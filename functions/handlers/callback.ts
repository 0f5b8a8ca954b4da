import type { MiddlewareObj, Request } from '@middy/core';
import type { Telemetry } from '../adapters/telemetry.js';
import {
  awsConfig,
  awsQuietMarker,
  awsSecrets,
  awsServiceDependencies,
  lazyHandler,
} from '../aws.js';
import { type HttpEvent, type HttpResult, header, httpErrors, json, rawBody } from '../http.js';
import { type CallbackDependencies, receiveCallback } from '../services/callback.js';
import { type HandlerOptions, lambdaHandler } from './middleware.js';

/**
 * `POST /api/internal/provisioning/callback`: the orchestrator's signed report on a job
 * (SPEC 2.2). Answers 200 `{"ok":true,"status":S}` with the job's status afterwards.
 */
export async function answerCallback(
  deps: CallbackDependencies,
  event: HttpEvent,
): Promise<HttpResult> {
  const { status } = await receiveCallback(deps, {
    rawBody: rawBody(event),
    signature: header(event, 'X-Provisioning-Signature'),
    timestamp: header(event, 'X-Provisioning-Timestamp'),
  });
  return json(200, { ok: true, status });
}

/** Counts every answer by class, refusals and failures included, once the mapper has answered. */
function countAnswers(telemetry: Telemetry): MiddlewareObj<HttpEvent, HttpResult> {
  const count = async (request: Request<HttpEvent, HttpResult>) => {
    const status = request.response?.statusCode ?? 500;
    if (status >= 500) telemetry.count('CallbackAnswered5xx');
    else if (status >= 400) telemetry.count('CallbackAnswered4xx');
    else telemetry.count('CallbackAnswered2xx');
  };
  return { after: count, onError: count };
}

export function createCallbackHandler(deps: CallbackDependencies, options?: HandlerOptions) {
  // middy runs onError steps last-registered first: the error mapper answers, then the
  // answer is counted.
  return lambdaHandler((event: HttpEvent) => answerCallback(deps, event), options)
    .use(countAnswers(deps.telemetry))
    .use(httpErrors());
}

export const handler = lazyHandler(() => {
  const config = awsConfig();
  return createCallbackHandler(
    {
      ...awsServiceDependencies(config),
      secrets: awsSecrets(config),
      quiet: awsQuietMarker(config),
    },
    { flushMetrics: true },
  );
});
