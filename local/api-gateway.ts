import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { readBody } from './read-body.js';

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

/**
 * Serves Lambda HTTP handlers the way API Gateway HTTP APIs (payload 2.0) invoke them:
 * lowercase headers, the raw body (base64-encoded unless it is text), the query
 * string and path parameters, the route key. The same handlers run in AWS.
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
    const url = new URL(request.url ?? '/', 'http://localhost');
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
    const event = toEvent(request, url, match.route, await readBody(request), match.params);
    const result = await invoke(match.route, event);
    const body = result.body ?? '';
    response.writeHead(
      result.statusCode ?? 200,
      result.headers as Record<string, string> | undefined,
    );
    response.end(result.isBase64Encoded ? Buffer.from(body, 'base64') : body);
  };
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
  const text = TEXT_BODY.test(headers['content-type'] ?? 'application/json');
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
