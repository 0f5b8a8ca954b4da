import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as z from 'zod';
import { parseJson } from '../functions/core/json.js';
import {
  answerTrigger,
  pause,
  runSaga,
  SANDBOX_MODES,
  type SandboxMode,
  TRIGGER_PATH,
} from '../functions/sandbox/sandbox-orchestrator.js';
import { closeServer } from './listen.js';
import { readBody } from './read-body.js';

export { SANDBOX_MODES, type SandboxMode };

/** The body of `PUT /mode`, and the answer of `GET /mode`. */
export const sandboxModeBody = z.object({ mode: z.enum(SANDBOX_MODES) });

/**
 * Switches a running sandbox orchestrator through its control route (`PUT /mode`, 204
 * when done); throws with its answer when it refuses. `ops sandbox`, the console and
 * the tests switch it this one way.
 */
export async function switchSandboxMode(
  sandboxUrl: string,
  mode: SandboxMode,
  send: typeof fetch = fetch,
): Promise<void> {
  const answer = await send(`${sandboxUrl}/mode`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ mode }),
  });
  if (answer.status !== 204) throw new Error(`${answer.status} ${await answer.text()}`);
}

export interface SandboxOptions {
  mode: SandboxMode;
  readonly triggerSecret: string;
  readonly callbackSecret: string;
  /** Pause before each callback (and before a slow acceptance), so a person can watch. */
  readonly delayMs: number;
  /** Progress reports a `saga` sends before it provisions. */
  readonly sagaHeartbeats: number;
  /** The Retry-After a `throttle` answers with. */
  readonly retryAfterSeconds: number;
  readonly log: (message: string, extra?: object) => void;
}

/**
 * The sandbox orchestrator (functions/sandbox/) over HTTP on this machine, for the local
 * runtime and the tests: `POST /trigger/onboarding` answers by the mode and runs the
 * saga after answering; `GET /mode` tells the mode, and `PUT /mode` with `{"mode": …}`
 * switches it while it runs.
 */
export class SandboxOrchestrator {
  private server: Server | undefined;
  private readonly pending = new Set<Promise<void>>();
  private stopping = false;
  triggersReceived = 0;
  /** Where it listens, once started. */
  url: string | undefined;

  constructor(private readonly options: SandboxOptions) {}

  get mode(): SandboxMode {
    return this.options.mode;
  }

  async start(): Promise<string> {
    this.server = createServer((request, response) => {
      this.route(request, response).catch((error: unknown) => {
        this.options.log('sandbox orchestrator failed a request', { error: String(error) });
        if (!response.headersSent) response.writeHead(500).end();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return this.url;
  }

  /** Stops accepting triggers and waits for callbacks already under way. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.pending]);
    if (this.server) await closeServer(this.server);
  }

  private async route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = (await readBody(request)).toString('utf8');
    if (request.method === 'GET' && request.url === '/mode') {
      return void response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ mode: this.options.mode }));
    }
    if (request.method === 'PUT' && request.url === '/mode') {
      const mode = sandboxModeBody.safeParse(parseJson(body));
      if (!mode.success)
        return void response.writeHead(400).end(`mode must be one of ${SANDBOX_MODES.join(', ')}`);
      this.options.mode = mode.data.mode;
      this.options.log('sandbox orchestrator mode changed', { mode: mode.data.mode });
      return void response.writeHead(204).end();
    }
    if (request.method !== 'POST' || request.url !== TRIGGER_PATH)
      return void response.writeHead(404).end();
    this.triggersReceived += 1;
    const { options } = this;
    const answer = await answerTrigger(
      {
        body,
        signature: headerOf(request, 'x-provisioning-signature'),
        timestamp: headerOf(request, 'x-provisioning-timestamp'),
      },
      {
        mode: options.mode,
        triggerSecret: options.triggerSecret,
        delayMs: options.delayMs,
        retryAfterSeconds: options.retryAfterSeconds,
        stopping: this.stopping,
        now: new Date(),
        pause,
      },
    );
    response.writeHead(answer.status, answer.headers).end(answer.text);
    if (!answer.saga) return;
    const saga = runSaga(answer.saga, {
      callbackSecret: options.callbackSecret,
      delayMs: options.delayMs,
      sagaHeartbeats: options.sagaHeartbeats,
      clock: () => new Date(),
      pause,
      log: options.log,
    }).finally(() => this.pending.delete(saga));
    this.pending.add(saga);
  }
}

function headerOf(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
