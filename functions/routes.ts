/**
 * The HTTP routes of SPEC 2.1, the same in AWS (API Gateway) and in the local runtime:
 * one list, so the two can never drift apart.
 */
export interface Route {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  /** Operators only: IAM-signed requests in AWS. */
  readonly operator: boolean;
}

export const ROUTES = {
  stripeWebhook: { method: 'POST', path: '/api/webhooks/stripe', operator: false },
  callback: { method: 'POST', path: '/api/internal/provisioning/callback', operator: false },
  status: { method: 'GET', path: '/api/provisioning/status', operator: false },
  jobRead: {
    method: 'GET',
    path: '/api/internal/provisioning/jobs/{stripe_session_id}',
    operator: true,
  },
  jobCreate: { method: 'POST', path: '/api/internal/provisioning/jobs', operator: true },
  openApi: { method: 'GET', path: '/api/openapi.json', operator: false },
} as const satisfies Record<string, Route>;

export type RouteName = keyof typeof ROUTES;

/** Served by the local runtime only: in AWS the same numbers are CloudWatch metrics. */
export const LOCAL_ROUTES = {
  metrics: { method: 'GET', path: '/api/metrics', operator: false },
} as const satisfies Record<string, Route>;

/**
 * A route's URL under the API's public base URL (trailing slashes dropped). The base
 * may be a CDK token, which passes through unchanged: the stack's outputs use this too.
 */
export function routeUrl(publicBaseUrl: string, route: Route): string {
  return `${publicBaseUrl.replace(/\/+$/, '')}${route.path}`;
}

/** The callback URL stored in every trigger payload, from the API's public base URL. */
export function callbackUrlFor(publicBaseUrl: string): string {
  return routeUrl(publicBaseUrl, ROUTES.callback);
}
