import type { MiddlewareObj, Request } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { ClientFacingError } from './core/errors.js';
import { DatabaseResumingError } from './db/executor.js';
import { logger } from './observability.js';

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = APIGatewayProxyStructuredResultV2;

export function json(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

/** The exact bytes the caller sent: signatures are computed over these, never over parsed JSON. */
export function rawBody(event: HttpEvent): Buffer {
  if (event.body === undefined) return Buffer.alloc(0);
  return Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
}

/** API Gateway HTTP APIs lowercase header names; so does the local runtime. */
export function header(event: HttpEvent, name: string): string | undefined {
  return event.headers?.[name.toLowerCase()];
}

/**
 * One error mapper for every HTTP handler: client-facing errors answer their status
 * with `{"error": message}`; a database still resuming from a pause answers 503 with
 * `Retry-After` (API Gateway would end the request at 30 s, with nothing said, before
 * the longest wake-up is over); anything else is logged and answered with a bare 500,
 * so internals never leak and Stripe (or the orchestrator) retries.
 */
export function httpErrors(): MiddlewareObj<HttpEvent, HttpResult> {
  return {
    onError: async (request) => {
      const { error } = request;
      if (error instanceof ClientFacingError) {
        if (error.status >= 500)
          logger.error('request refused', { status: error.status, reason: error.message });
        else logger.warn('request refused', { status: error.status, reason: error.message });
        request.response = json(error.status, { error: error.message });
        return;
      }
      const resuming = resumingCause(error);
      if (resuming) {
        logger.warn('database resuming; answered 503', { error: resuming.message });
        request.response = json(
          503,
          { error: 'the database is resuming from a pause; retry shortly' },
          { 'retry-after': String(resuming.retryAfterSeconds) },
        );
        return;
      }
      logger.error('request failed', { error: error as Error });
      request.response = json(500, { error: 'internal error; the request may be retried' });
    },
  };
}

/**
 * Hands every answer's status to `count` once the error mapper has answered, refusals
 * and failures included (register it before `httpErrors`: middy runs error steps
 * last-registered first).
 */
export function countAnswers(
  count: (status: number) => void,
): MiddlewareObj<HttpEvent, HttpResult> {
  const counted = async (request: Request<HttpEvent, HttpResult>) => {
    count(request.response?.statusCode ?? 500);
  };
  return { after: counted, onError: counted };
}

/** The resume behind an error, however deep a service wrapped it. */
function resumingCause(error: unknown): DatabaseResumingError | undefined {
  if (error instanceof DatabaseResumingError) return error;
  return error instanceof Error ? resumingCause(error.cause) : undefined;
}
