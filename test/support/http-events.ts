import type { APIGatewayProxyEventV2 } from 'aws-lambda';

export interface HttpRequest {
  readonly method: 'GET' | 'POST';
  /** The path with any query string, e.g. `/api/provisioning/status?session_id=cs_1`. */
  readonly path: string;
  /** The route template when it has path parameters, e.g. `/api/internal/provisioning/jobs/{stripe_session_id}`. */
  readonly route?: string;
  readonly pathParameters?: Record<string, string>;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly base64?: boolean;
}

/** An API Gateway HTTP API (payload v2.0) event as AWS delivers it: lowercase headers, raw body. */
export function httpEvent(request: HttpRequest): APIGatewayProxyEventV2 {
  const url = new URL(request.path, 'https://handoff.example.com');
  const query = Object.fromEntries(url.searchParams.entries());
  const headers = Object.fromEntries(
    Object.entries(request.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]),
  );
  const body =
    request.body === undefined
      ? undefined
      : request.base64
        ? Buffer.from(request.body).toString('base64')
        : request.body;
  return {
    version: '2.0',
    routeKey: `${request.method} ${request.route ?? url.pathname}`,
    rawPath: url.pathname,
    rawQueryString: url.searchParams.toString(),
    headers,
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    ...(request.pathParameters ? { pathParameters: request.pathParameters } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'api123',
      domainName: 'handoff.example.com',
      domainPrefix: 'handoff',
      http: {
        method: request.method,
        path: url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: '203.0.113.7',
        userAgent: 'test',
      },
      requestId: `req-${Math.random().toString(36).slice(2)}`,
      routeKey: `${request.method} ${request.route ?? url.pathname}`,
      stage: '$default',
      time: '23/Nov/2026:10:00:00 +0000',
      timeEpoch: Date.parse('2026-11-23T10:00:00Z'),
    },
    isBase64Encoded: Boolean(request.base64),
    ...(body === undefined ? {} : { body }),
  };
}
