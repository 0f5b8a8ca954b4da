import document from '../../contract/openapi.json' with { type: 'json' };
import type { Telemetry } from '../adapters/telemetry.js';
import type { HttpResult } from '../http.js';
import { PowertoolsTelemetry } from '../observability.js';
import { httpHandler } from './middleware.js';

/**
 * `GET /api/openapi.json`: the OpenAPI 3.1 document of the routes (`contract/`),
 * bundled with the function: no database, nothing to configure. Public, like the
 * contract it describes, so tools on any origin may read it.
 */
const body = JSON.stringify(document);

export function answerOpenApi(): HttpResult {
  return {
    statusCode: 200,
    headers: {
      'content-type': 'application/json',
      'cache-control': 'public, max-age=300',
      'access-control-allow-origin': '*',
    },
    body,
  };
}

export function createOpenApiHandler(telemetry: Telemetry) {
  return httpHandler(async () => answerOpenApi(), { route: 'openApi', telemetry });
}

export const handler = createOpenApiHandler(new PowertoolsTelemetry());
