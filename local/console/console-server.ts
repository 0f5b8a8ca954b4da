import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ClientFacingError, InvalidInputError } from '../../functions/core/errors.js';
import { BodyTooLargeError, readBody } from '../read-body.js';
import { requestTarget } from '../request-target.js';
import {
  type ConsoleAnswer,
  type ConsoleDependencies,
  job,
  jobs,
  overview,
  simulateCheckout,
  switchSandboxMode,
} from './console-api.js';

/** Files served as they are: the console's page, the demo success page and the status widget. */
const FILES: Record<string, { readonly file: URL; readonly type: string }> = {
  '/': { file: new URL('./static/index.html', import.meta.url), type: 'text/html' },
  '/console/console.js': {
    file: new URL('./static/console.js', import.meta.url),
    type: 'text/javascript',
  },
  '/console/timeline.js': {
    file: new URL('./static/timeline.js', import.meta.url),
    type: 'text/javascript',
  },
  '/console/console.css': {
    file: new URL('./static/console.css', import.meta.url),
    type: 'text/css',
  },
  '/success': { file: new URL('./static/success.html', import.meta.url), type: 'text/html' },
  '/provisioning-status.js': {
    file: new URL('../../web/provisioning-status.js', import.meta.url),
    type: 'text/javascript',
  },
};

const JSON_BODY_LIMIT = 16 * 1024;
const JOB_PATH = /^\/console\/api\/jobs\/([^/]+)$/;

/** What the pages load: their own scripts, styles and the API of this origin, nothing inline. */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

export interface LocalConsole {
  /** Whether the request is the console's (its pages, scripts and JSON routes). */
  handles(request: IncomingMessage): boolean;
  serve(request: IncomingMessage, response: ServerResponse): Promise<void>;
}

/**
 * The local runtime's console at `/` (jobs, one job's timeline, the STUCK gauge, the
 * queue, the sandbox's mode, a test checkout button) over JSON routes under
 * `/console/api/`, and the demo success page at `/success?session_id=…`. Local only:
 * nothing here is deployed.
 */
export function createLocalConsole(deps: ConsoleDependencies): LocalConsole {
  return {
    handles(request) {
      // A request target that does not decode is the API's to refuse (400).
      const target = requestTarget(request);
      if ('refused' in target) return false;
      const path = target.url.pathname;
      return path in FILES || path.startsWith('/console/');
    },
    async serve(request, response) {
      const path = pathOf(request);
      const file = FILES[path];
      if (file) {
        if (request.method !== 'GET' && request.method !== 'HEAD')
          return send(response, 405, { error: `${request.method} ${path}: only GET` });
        const content = await readFile(file.file);
        response.writeHead(200, { 'content-type': `${file.type}; charset=utf-8`, ...PAGE_HEADERS });
        response.end(request.method === 'HEAD' ? undefined : content);
        return;
      }
      try {
        const answer = await route(deps, request, path);
        send(response, answer.status, answer.body);
      } catch (error) {
        if (!(error instanceof ClientFacingError)) throw error;
        send(response, error.status, { error: error.message });
      }
    },
  };
}

async function route(
  deps: ConsoleDependencies,
  request: IncomingMessage,
  path: string,
): Promise<ConsoleAnswer> {
  const method = request.method ?? 'GET';
  const url = new URL(request.url ?? '/', 'http://localhost');
  const session = JOB_PATH.exec(path)?.[1];
  if (method === 'GET' && path === '/console/api/overview') return overview(deps);
  if (method === 'GET' && path === '/console/api/jobs') return jobs(deps, url.searchParams);
  if (method === 'GET' && session) return job(deps, decodeURIComponent(session));
  if (method === 'PUT' && path === '/console/api/sandbox/mode')
    return switchSandboxMode(deps, await jsonBody(request));
  if (method === 'POST' && path === '/console/api/checkouts')
    return simulateCheckout(deps, await jsonBody(request));
  return { status: 404, body: { error: `no console route ${method} ${path}` } };
}

async function jsonBody(request: IncomingMessage): Promise<unknown> {
  const body = await readBody(request, JSON_BODY_LIMIT).catch((error: unknown) => {
    throw error instanceof BodyTooLargeError ? new InvalidInputError(error.message) : error;
  });
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new InvalidInputError('body: not JSON');
  }
}

function pathOf(request: IncomingMessage): string {
  return new URL(request.url ?? '/', 'http://localhost').pathname;
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response
    .writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    .end(JSON.stringify(body));
}
