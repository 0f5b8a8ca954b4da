import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeServer } from './listen.js';

/**
 * A local stand-in for the part of Stripe's API the sweep reads: list and retrieve
 * checkout sessions, in Stripe's shapes (a `list` object with `has_more`, cursor
 * pagination by `starting_after`, newest first, the `created` range and `status`
 * filters, Stripe's error bodies, 429 with `Retry-After`), behind a bearer key. The
 * real `stripe` library is pointed at it (host, port, protocol), in the tests and in
 * the local runtime, where `simulate:checkout --lost` leaves a paid session only here.
 */

export type StandInSession = { readonly id: string; readonly created: number } & Record<
  string,
  unknown
>;

export interface StandInRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly status: number;
}

export interface StripeStandInOptions {
  /** The API key callers must present (`Authorization: Bearer …`). */
  readonly apiKey: string;
  /** 0 (default): a free port on 127.0.0.1. */
  readonly port?: number;
}

const MAX_LIMIT = 100;

export class StripeStandIn {
  private server: Server | undefined;
  private readonly sessions = new Map<string, StandInSession>();
  private throttled: { remaining: number; retryAfterSeconds: number | undefined } = {
    remaining: 0,
    retryAfterSeconds: undefined,
  };
  /** Every request answered, in order. */
  readonly requests: StandInRequest[] = [];
  url = '';

  constructor(private readonly options: StripeStandInOptions) {}

  async start(): Promise<string> {
    this.server = createServer((request, response) => this.serve(request, response));
    await new Promise<void>((resolve) =>
      this.server?.listen(this.options.port ?? 0, '127.0.0.1', resolve),
    );
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await closeServer(server);
  }

  /**
   * Keeps a checkout session as Stripe would hold it: a completed, paid, test-mode
   * session created now unless the fields say otherwise.
   */
  addSession(fields: Partial<StandInSession> = {}): StandInSession {
    const session: StandInSession = {
      id: `cs_test_${randomBytes(12).toString('hex')}`,
      object: 'checkout.session',
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      mode: 'payment',
      status: 'complete',
      payment_status: 'paid',
      customer: null,
      customer_details: null,
      metadata: {},
      ...fields,
    };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The next `count` requests are answered 429, with `Retry-After` when given. */
  throttleNext(count: number, retryAfterSeconds?: number): void {
    this.throttled = { remaining: count, retryAfterSeconds };
  }

  private serve(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://stand-in');
    const query = Object.fromEntries(url.searchParams);
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.requests.push({ method: request.method ?? '', path: url.pathname, query, status });
      response
        .writeHead(status, {
          'content-type': 'application/json',
          'request-id': requestId(),
          ...headers,
        })
        .end(JSON.stringify(body));
    };
    if (request.headers.authorization !== `Bearer ${this.options.apiKey}`) {
      answer(401, stripeError('invalid_request_error', 'Invalid API Key provided'));
      return;
    }
    if (this.throttled.remaining > 0) {
      this.throttled.remaining -= 1;
      const { retryAfterSeconds } = this.throttled;
      answer(
        429,
        stripeError('invalid_request_error', 'Request rate limit exceeded.', 'rate_limit'),
        retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) },
      );
      return;
    }
    if (request.method !== 'GET') {
      answer(405, stripeError('invalid_request_error', 'Only reads are served here'));
      return;
    }
    if (url.pathname === '/v1/checkout/sessions') {
      const listed = this.list(query);
      if ('error' in listed) answer(400, listed);
      else answer(200, listed);
      return;
    }
    const id = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(url.pathname)?.[1];
    const session = id ? this.sessions.get(decodeURIComponent(id)) : undefined;
    if (session) answer(200, session);
    else answer(404, noSuchSession(id ?? url.pathname));
  }

  /** Stripe's list: newest first, filtered, a page after the cursor. */
  private list(query: Readonly<Record<string, string>>) {
    const limit = Math.min(MAX_LIMIT, Math.max(1, Number(query.limit ?? 10) || 10));
    const bound = (name: string) =>
      query[`created[${name}]`] === undefined ? undefined : Number(query[`created[${name}]`]);
    const [gte, lte] = [bound('gte'), bound('lte')];
    const matching = [...this.sessions.values()]
      .filter(
        (s) => (gte === undefined || s.created >= gte) && (lte === undefined || s.created <= lte),
      )
      .filter((s) => query.status === undefined || s.status === query.status)
      // Newest first; sessions created in the same second keep a stable order.
      .sort((a, b) => b.created - a.created || (a.id < b.id ? 1 : -1));
    let start = 0;
    if (query.starting_after) {
      const index = matching.findIndex((s) => s.id === query.starting_after);
      if (index < 0) return noSuchSession(query.starting_after);
      start = index + 1;
    }
    const data = matching.slice(start, start + limit);
    return {
      object: 'list',
      url: '/v1/checkout/sessions',
      has_more: start + limit < matching.length,
      data,
    };
  }
}

function stripeError(type: string, message: string, code?: string) {
  return { error: { type, message, ...(code ? { code } : {}) } };
}

function noSuchSession(id: string) {
  return {
    error: {
      type: 'invalid_request_error',
      code: 'resource_missing',
      message: `No such checkout.session: '${id}'`,
    },
  };
}

function requestId(): string {
  return `req_${randomBytes(7).toString('hex')}`;
}
