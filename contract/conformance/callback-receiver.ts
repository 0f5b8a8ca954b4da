import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type InvalidCallback,
  parseCallbackBody,
  type ValidCallback,
} from '../../functions/core/callback-body.js';
import type { JobStatus } from '../../functions/core/job.js';
import {
  checkProvisioningSignature,
  type SignatureCheck,
} from '../../functions/core/signatures.js';
import { ROUTES } from '../../functions/routes.js';
import { NO_JOB_FOR_SESSION } from '../../functions/services/callback.js';
import { readBody } from '../../local/read-body.js';
import { HEADERS, SIGNATURE_TOLERANCE_SECONDS } from '../headers.js';
import { headerOf, SIGNATURE_REFUSALS } from '../trigger.js';

/** One callback as received, with what the real route would have made of it. */
export interface ReceivedCallback {
  readonly receivedAt: Date;
  readonly signature: SignatureCheck | 'missing';
  readonly timestamped: boolean;
  readonly body: ValidCallback | InvalidCallback;
  /** The status this receiver answered, as the callback route would. */
  readonly answer: number;
}

export interface CallbackReceiverOptions {
  /** Where to listen on 127.0.0.1 (0: any free port). */
  readonly port: number;
  /** The secrets a callback may be signed with: the callback secret, or the trigger secret while none is set. */
  readonly secrets: readonly string[];
}

/**
 * Stands in for `POST /api/internal/provisioning/callback` during a conformance run:
 * the same checks in the same order as the real route (signature over the raw bytes,
 * then the body with the real `parseCallbackBody`, then the job) and the same answers
 * (401, 400, 404 for a session never triggered, 200 `{"ok":true,"status":…}`), but
 * with no database: it only knows the sessions the run triggered, and keeps every
 * callback for the checks.
 */
export class CallbackReceiver {
  readonly received: ReceivedCallback[] = [];
  private readonly statuses = new Map<string, JobStatus>();
  private server: Server | undefined;
  /** The callback URL to put in the trigger payload, once listening. */
  url = '';

  constructor(private readonly options: CallbackReceiverOptions) {}

  /** A session the run triggers: its callbacks are answered 200, others 404. */
  expect(stripeSessionId: string): void {
    this.statuses.set(stripeSessionId, 'enqueued');
  }

  async start(): Promise<string> {
    const server = createServer((request, response) => {
      const answer = (status: number, body: object) =>
        response
          .writeHead(status, { 'content-type': 'application/json' })
          .end(JSON.stringify(body));
      if (request.method !== 'POST' || request.url !== ROUTES.callback.path) {
        return void answer(404, { error: 'Not Found' });
      }
      readBody(request)
        .then((raw) => {
          const [status, body] = this.receive(raw, request.headers);
          answer(status, body);
        })
        .catch(() => answer(500, { error: 'internal error; the request may be retried' }));
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}${ROUTES.callback.path}`;
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }

  private receive(raw: Buffer, headers: Parameters<typeof headerOf>[0]): [number, object] {
    const receivedAt = new Date();
    const signature = headerOf(headers, HEADERS.signature);
    const timestamp = headerOf(headers, HEADERS.timestamp);
    const check = signature
      ? checkProvisioningSignature({
          rawBody: raw,
          signature,
          timestamp,
          secrets: this.options.secrets,
          now: receivedAt,
          toleranceSeconds: SIGNATURE_TOLERANCE_SECONDS,
        })
      : 'missing';
    const body = parseCallbackBody(raw);
    const keep = (answer: number) =>
      this.received.push({ receivedAt, signature: check, timestamped: !!timestamp, body, answer });

    if (check !== 'valid') {
      keep(401);
      return [
        401,
        {
          error:
            check === 'missing' ? `${HEADERS.signature} is missing` : SIGNATURE_REFUSALS[check],
        },
      ];
    }
    if (!body.ok) {
      keep(400);
      return [400, { error: body.reason }];
    }
    const prior = this.statuses.get(body.report.stripeSessionId);
    if (prior === undefined) {
      keep(404);
      return [404, { error: NO_JOB_FOR_SESSION }];
    }
    // As the route: a provisioned job is never downgraded.
    const status = prior === 'provisioned' ? prior : body.report.status;
    this.statuses.set(body.report.stripeSessionId, status);
    keep(200);
    return [200, { ok: true, status }];
  }
}
