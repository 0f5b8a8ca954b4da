import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { BodyTooLargeError, readBody } from './read-body.js';
import { requestTarget } from './request-target.js';

export type HttpLambda = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

export interface LocalRoute {
  readonly method: 'GET' | 'POST';
  /** An API Gateway route path, e.g. `/api/internal/provisioning/jobs/{stripe_session_id}`. */
  readonly path: string;
  readonly handler: HttpLambda;
  readonly timeoutMs: number;
}

const TEXT_BODY = /^(application\/(json|x-www-form-urlencoded)|text\/)/i;

/** API Gateway HTTP APIs refuse a payload over 10 MB; so does the local runtime, with a 413. */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;

/**
 * Serves Lambda HTTP handlers the way API Gateway HTTP APIs (payload 2.0) invoke them:
 * lowercase headers, the raw body (base64-encoded unless it is text, so the bytes a
 * signature covers arrive unchanged), the query string and path parameters, the route
 * key. The same handlers run in AWS. What API Gateway refuses before any function runs
 * is refused here too: a body over its limit (413, never read past the limit), a
 * request target that does not decode (400).
 */
export function apiGateway(
  routes: readonly LocalRoute[],
  invoke: (
    route: LocalRoute,
    event: APIGatewayProxyEventV2,
  ) => Promise<APIGatewayProxyStructuredResultV2>,
) {
  const matchers = routes.map((route) => ({ route, ...compile(route.path) }));
  return async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const target = requestTarget(request);
    if ('refused' in target) return refuse(response, 400, target.refused, { close: true });
    const { url } = target;
    const match = matchers
      .filter((m) => m.route.method === request.method)
      .map((m) => ({ route: m.route, params: m.match(url.pathname), names: m.names }))
      .find((m) => m.params !== undefined);
    if (!match?.params) {
      response
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: 'Not Found' }));
      return;
    }
    let received: Buffer;
    try {
      received = await readBody(request, MAX_BODY_BYTES);
    } catch (error) {
      // A body refused from its length is never read; one cut off midway drains unkept,
      // so its sender reads the 413 rather than a reset connection.
      if (error instanceof BodyTooLargeError) {
        return refuse(response, 413, error.message, { close: error.declared });
      }
      throw error;
    }
    const event = toEvent(request, url, match.route, received, match.params);
    const result = await invoke(match.route, event);
    const body = result.body ?? '';
    response.writeHead(
      result.statusCode ?? 200,
      result.headers as Record<string, string> | undefined,
    );
    response.end(result.isBase64Encoded ? Buffer.from(body, 'base64') : body);
  };
}

/** An answer API Gateway would give itself, before any function runs. */
function refuse(
  response: ServerResponse,
  status: number,
  error: string,
  options: { readonly close: boolean },
): void {
  response
    .writeHead(status, {
      'content-type': 'application/json',
      ...(options.close ? { connection: 'close' } : {}),
    })
    .end(JSON.stringify({ error }));
}

function compile(path: string): {
  names: string[];
  match: (pathname: string) => Record<string, string> | undefined;
} {
  const names: string[] = [];
  const pattern = path.replace(/\{([^}]+)\}/g, (_all, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  const regex = new RegExp(`^${pattern}$`);
  return {
    names,
    match: (pathname) => {
      const found = regex.exec(pathname);
      if (!found) return undefined;
      return Object.fromEntries(
        names.map((name, i) => [name, decodeURIComponent(found[i + 1] ?? '')]),
      );
    },
  };
}

function toEvent(
  request: IncomingMessage,
  url: URL,
  route: LocalRoute,
  body: Buffer,
  pathParameters: Record<string, string>,
): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined)
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  // Text only when it is valid UTF-8: anything else travels as base64, byte for byte.
  const text = TEXT_BODY.test(headers['content-type'] ?? 'application/json') && isUtf8(body);
  const routeKey = `${route.method} ${route.path}`;
  const query = Object.fromEntries(url.searchParams.entries());
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.searchParams.toString(),
    headers,
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    ...(Object.keys(pathParameters).length ? { pathParameters } : {}),
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'localhost',
      http: {
        method: route.method,
        path: url.pathname,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    isBase64Encoded: !text,
    ...(body.length ? { body: text ? body.toString('utf8') : body.toString('base64') } : {}),
  };
}
