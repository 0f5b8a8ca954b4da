import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy, { type MiddlewareObj, type MiddyfiedHandler } from '@middy/core';
import type { Context } from 'aws-lambda';
import { ROUTE_DIMENSION, type Telemetry } from '../adapters/telemetry.js';
import { allowOrigins } from '../cors.js';
import { countAnswers, type HttpEvent, type HttpResult, httpErrors } from '../http.js';
import { logger, metrics, tracer } from '../observability.js';
import type { RouteName } from '../routes.js';

/**
 * The one middleware chain every Lambda uses: the invocation traced (its answer never
 * recorded in the trace: it can carry a customer's data), the Lambda context and
 * per-request ids on every log line (reset between invocations), and the metrics it
 * recorded published as EMF when it ends.
 */
export function lambdaHandler<E, R>(
  work: (event: E, context: Context) => Promise<R>,
): MiddyfiedHandler<E, R, Error, Context> {
  return middy<E, R, Error, Context>()
    .use(captureLambdaHandler(tracer, { captureResponse: false }))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(publishMetrics(metrics))
    .handler(work);
}

/**
 * Publishes the metrics an invocation buffered, whether it answered or failed: Powertools
 * flushes on its own only at 100 values, so a metric left in the buffer would wait for
 * later invocations or be lost with the instance. An invocation that recorded none
 * publishes nothing (Powertools' own `logMetrics` would log a warning for each).
 */
function publishMetrics<E, R>(target: Metrics): MiddlewareObj<E, R, Error, Context> {
  const publish = () => {
    if (target.hasStoredMetrics()) target.publishStoredMetrics();
  };
  return { after: publish, onError: publish };
}

export interface HttpHandlerOptions {
  /** The route served: every 5xx and 4xx answer is counted under its name. */
  readonly route: RouteName;
  readonly telemetry: Telemetry;
  /** Sees every answer's status too, after it is counted (a route's own counters). */
  readonly onAnswer?: (status: number) => void;
  /** Page origins allowed to read the route's answers (CORS); none by default. */
  readonly allowedOrigins?: readonly string[];
}

/**
 * The same chain for HTTP routes, with the one error mapper (client errors keep their
 * status), every answer counted by class and route (`HttpServerError`, which the alarms
 * read: a 5xx the mapper answered never reaches Lambda's Errors metric), and CORS for
 * the origins given. middy runs error steps last-registered first: the mapper answers,
 * then CORS decorates the answer, then it is counted.
 */
export function httpHandler(
  work: (event: HttpEvent, context: Context) => Promise<HttpResult>,
  options: HttpHandlerOptions,
): MiddyfiedHandler<HttpEvent, HttpResult, Error, Context> {
  const { route, telemetry, onAnswer } = options;
  const chain = lambdaHandler(work).use(
    countAnswers((status) => {
      if (status >= 500) telemetry.countFor('HttpServerError', { [ROUTE_DIMENSION]: route });
      else if (status >= 400) telemetry.countFor('HttpClientError', { [ROUTE_DIMENSION]: route });
      onAnswer?.(status);
    }),
  );
  if (options.allowedOrigins?.length) chain.use(allowOrigins(options.allowedOrigins));
  return chain.use(httpErrors());
}
