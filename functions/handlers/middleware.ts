import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy, { type MiddyfiedHandler } from '@middy/core';
import type { Context } from 'aws-lambda';
import { type HttpEvent, type HttpResult, httpErrors } from '../http.js';
import { logger, metrics } from '../observability.js';

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

/** The same chain for HTTP routes, with the one error mapper (client errors keep their status). */
export function httpHandler(
  work: (event: HttpEvent, context: Context) => Promise<HttpResult>,
  options: HandlerOptions = {},
): MiddyfiedHandler<HttpEvent, HttpResult, Error, Context> {
  return lambdaHandler(work, options).use(httpErrors());
}
