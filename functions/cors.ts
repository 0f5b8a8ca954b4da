import type { MiddlewareObj, Request } from '@middy/core';
import type { HttpEvent, HttpResult } from './http.js';

/**
 * CORS for a route read by pages of other origins (the checkout success page polls the
 * status route): a request from one of `origins` gets its origin allowed back, on every
 * answer, errors included, so the page can tell a 400 from a network failure. A simple
 * GET (what the status widget sends) needs no preflight; nothing else is allowed.
 */
export function allowOrigins(origins: readonly string[]): MiddlewareObj<HttpEvent, HttpResult> {
  const allowed = new Set(origins);
  const decorate = async (request: Request<HttpEvent, HttpResult>) => {
    const response = request.response;
    if (!response) return;
    const origin = request.event.headers?.origin;
    response.headers = {
      ...response.headers,
      // Caches must not serve one origin's answer to another.
      vary: 'origin',
      ...(origin && allowed.has(origin) ? { 'access-control-allow-origin': origin } : {}),
    };
  };
  return { after: decorate, onError: decorate };
}
