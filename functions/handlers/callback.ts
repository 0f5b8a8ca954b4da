import type { Telemetry } from '../adapters/telemetry.js';
import {
  awsConfig,
  awsQuietMarker,
  awsSecrets,
  awsServiceDependencies,
  lazyHandler,
} from '../aws.js';
import { type HttpEvent, type HttpResult, header, json, rawBody } from '../http.js';
import { type CallbackDependencies, receiveCallback } from '../services/callback.js';
import { httpHandler } from './middleware.js';

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

/** Every answer by class, refusals and failures included: the orchestrator team's view. */
function countCallbackAnswer(telemetry: Telemetry, status: number): void {
  if (status >= 500) telemetry.count('CallbackAnswered5xx');
  else if (status >= 400) telemetry.count('CallbackAnswered4xx');
  else telemetry.count('CallbackAnswered2xx');
}

export function createCallbackHandler(deps: CallbackDependencies) {
  return httpHandler((event: HttpEvent) => answerCallback(deps, event), {
    route: 'callback',
    telemetry: deps.telemetry,
    onAnswer: (status) => countCallbackAnswer(deps.telemetry, status),
  });
}

export const handler = lazyHandler(() => {
  const config = awsConfig();
  return createCallbackHandler({
    ...awsServiceDependencies(config),
    secrets: awsSecrets(config),
    requireTimestamp: config.requireCallbackTimestamp,
    quiet: awsQuietMarker(config),
  });
});
