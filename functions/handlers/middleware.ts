import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy, { type MiddyfiedHandler } from '@middy/core';
import type { Context } from 'aws-lambda';
import { ROUTE_DIMENSION, type Telemetry } from '../adapters/telemetry.js';
import { countAnswers, type HttpEvent, type HttpResult, httpErrors } from '../http.js';
import { logger, metrics } from '../observability.js';
import type { RouteName } from '../routes.js';

export interface HandlerOptions {
  /** Flush Powertools metrics as EMF after each invocation: in Lambda, not in tests or locally. */
  readonly flushMetrics?: boolean;
}

/**
 * The one middleware chain every Lambda uses: the Lambda context and per-request ids on
 * every log line (reset between invocations), metrics flushed as EMF when asked.
 */
export function lambdaHandler<E, R>(
  work: (event: E, context: Context) => Promise<R>,
  options: HandlerOptions = {},
): MiddyfiedHandler<E, R, Error, Context> {
  const chain = middy<E, R, Error, Context>().use(injectLambdaContext(logger, { resetKeys: true }));
  if (options.flushMetrics) chain.use(logMetrics(metrics));
  return chain.handler(work);
}

export interface HttpHandlerOptions extends HandlerOptions {
  /** The route served: every 5xx and 4xx answer is counted under its name. */
  readonly route: RouteName;
  readonly telemetry: Telemetry;
  /** Sees every answer's status too, after it is counted (a route's own counters). */
  readonly onAnswer?: (status: number) => void;
}

/**
 * The same chain for HTTP routes, with the one error mapper (client errors keep their
 * status), and every answer counted by class and route (`HttpServerError`, which the
 * alarms read: a 5xx the mapper answered never reaches Lambda's Errors metric).
 */
export function httpHandler(
  work: (event: HttpEvent, context: Context) => Promise<HttpResult>,
  options: HttpHandlerOptions,
): MiddyfiedHandler<HttpEvent, HttpResult, Error, Context> {
  const { route, telemetry, onAnswer } = options;
  return lambdaHandler(work, options)
    .use(
      countAnswers((status) => {
        if (status >= 500) telemetry.countFor('HttpServerError', { [ROUTE_DIMENSION]: route });
        else if (status >= 400) telemetry.countFor('HttpClientError', { [ROUTE_DIMENSION]: route });
        onAnswer?.(status);
      }),
    )
    .use(httpErrors());
}
