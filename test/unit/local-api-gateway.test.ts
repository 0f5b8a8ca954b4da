import { createServer, request as httpRequest, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiGateway, MAX_BODY_BYTES } from '../../local/api-gateway.js';

/**
 * The local runtime's stand-in for API Gateway, over a real socket: what it refuses
 * before a handler runs, and the bytes it hands over.
 */

const received: APIGatewayProxyEventV2[] = [];
let server: Server;
let port: number;

beforeAll(async () => {
  const serve = apiGateway(
    [
      { method: 'POST', path: '/api/webhooks/stripe', handler: echo, timeoutMs: 5_000 },
      { method: 'GET', path: '/api/provisioning/status', handler: echo, timeoutMs: 5_000 },
      {
        method: 'GET',
        path: '/api/internal/provisioning/jobs/{stripe_session_id}',
        handler: echo,
        timeoutMs: 5_000,
      },
    ],
    (route, event) => route.handler(event, {} as never),
  );
  server = createServer((request, response) => {
    serve(request, response).catch(() => response.writeHead(500).end('{"error":"internal"}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function echo(event: APIGatewayProxyEventV2) {
  received.push(event);
  return { statusCode: 200, body: '{}' };
}

interface Answer {
  readonly status: number;
  readonly body: string;
  /** Bytes of the body written when the answer came. */
  readonly sent: number;
}

/** Sends a request; `body` may be an endless generator, written until the answer comes. */
function send(
  method: string,
  path: string,
  body?: Buffer | (() => Buffer | undefined),
  headers: Record<string, string | number> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const req = httpRequest(
      { host: '127.0.0.1', port, method, path, headers, agent: false },
      (response) => {
        answered = true;
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            sent,
          }),
        );
      },
    );
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    if (typeof body === 'function') {
      const pump = () => {
        while (!answered) {
          const chunk = body();
          if (!chunk) return void req.end();
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
      };
      pump();
    } else {
      if (body) sent += body.length;
      req.end(body);
    }
  });
}

/**
 * A chunked POST whose body goes on (up to `max` bytes) until an answer arrives, over
 * a raw socket: the server may close the connection once it has answered, and the
 * answer is read as it arrives.
 */
function endlessChunkedPost(
  path: string,
  max: number,
): Promise<{ head: string; body: string; sent: number }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    let sent = 0;
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    const frame = Buffer.concat([
      Buffer.from(`${chunk.length.toString(16)}\r\n`),
      chunk,
      Buffer.from('\r\n'),
    ]);
    const finish = () => {
      const [head = '', body = ''] = answer.split('\r\n\r\n');
      resolve({ head, body, sent });
    };
    socket.on('data', (data) => {
      answer += data.toString();
    });
    socket.on('error', () => {});
    socket.on('close', finish);
    socket.write(
      `POST ${path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`,
    );
    const pump = () => {
      while (answer === '' && sent < max && !socket.destroyed) {
        sent += chunk.length;
        if (!socket.write(frame)) return void socket.once('drain', pump);
      }
      if (answer !== '' || sent >= max) setTimeout(() => socket.destroy(), 50);
    };
    pump();
  });
}

describe('the local API Gateway', () => {
  it('answers 413 from a Content-Length over the API’s limit, without reading the body', async () => {
    const before = received.length;

    const answer = await send('POST', '/api/webhooks/stripe', Buffer.alloc(16), {
      'content-length': MAX_BODY_BYTES + 1,
    }).catch((error: Error) => ({ status: -1, body: error.message, sent: 0 }));

    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toEqual({ error: `body: larger than ${MAX_BODY_BYTES} bytes` });
    expect(received.length).toBe(before);
  });

  it('answers 413 to an endless chunked body as soon as it passes the limit, never holding the rest', async () => {
    const before = received.length;

    const answer = await endlessChunkedPost('/api/webhooks/stripe', 400 * 1024 * 1024);

    expect(answer.head).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.body).toContain(`body: larger than ${MAX_BODY_BYTES} bytes`);
    // Answered near the limit, not once 400 MB had been taken in.
    expect(answer.sent).toBeLessThan(MAX_BODY_BYTES * 4);
    expect(received.length).toBe(before);
  });

  it('hands a body that is not UTF-8 over byte for byte, base64-encoded, whatever its content type', async () => {
    const bytes = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0xff, 0xfe, 0x00, 0x7d]);

    const answer = await send('POST', '/api/webhooks/stripe', bytes, {
      'content-type': 'application/json',
    });

    const event = received.at(-1);
    expect(answer.status).toBe(200);
    expect(event?.isBase64Encoded).toBe(true);
    expect(Buffer.from(event?.body ?? '', 'base64')).toEqual(bytes);
  });

  it('keeps a UTF-8 JSON body as text, exactly', async () => {
    const text = '{"name":"préparé ✓"}';

    await send('POST', '/api/webhooks/stripe', Buffer.from(text), {
      'content-type': 'application/json',
    });

    expect(received.at(-1)).toMatchObject({ isBase64Encoded: false, body: text });
  });

  it.each([
    ['a broken escape in a path parameter', '/api/internal/provisioning/jobs/cs_%E0%A4%A', 'path'],
    ['a lone % in a path', '/api/internal/provisioning/jobs/cs_%zz', 'path'],
    ['a broken escape in the query', '/api/provisioning/status?session_id=%FF', 'query'],
    ['a request target that is not a URL', '//', 'path'],
  ])('answers 400 to %s, naming it, before any handler runs', async (_case, path, field) => {
    const before = received.length;

    const answer = await send('GET', path);

    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body).error).toMatch(new RegExp(`^${field}: `));
    expect(received.length).toBe(before);
  });
});
