import { Agent, createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { closeServer, listen } from '../../local/listen.js';

/** Resolves when the server receives its next request: from then on, that request is in flight. */
function arrival(): { arrived: Promise<void>; arrive: () => void } {
  let arrive = () => {};
  const arrived = new Promise<void>((resolve) => {
    arrive = resolve;
  });
  return { arrived, arrive };
}

/** A server that answers every request 200 ms late, so that a request can be in flight. */
async function slowServer() {
  let next = arrival();
  const server = createServer((_request, response) => {
    next.arrive();
    setTimeout(() => response.end('ok'), 200);
  });
  await listen(server, 0, '127.0.0.1');
  return {
    server,
    port: (server.address() as AddressInfo).port,
    /** The next request's arrival: take it before sending that request. */
    nextRequest: () => {
      next = arrival();
      return next.arrived;
    },
  };
}

/** One GET over the shared keep-alive agent, as a browser's polls reuse one connection. */
function poll(port: number, agent: Agent): Promise<string> {
  return new Promise((resolve) => {
    get({ host: '127.0.0.1', port, agent, path: '/status' }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      response.on('end', () => resolve(body));
    }).on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

describe('closing a local server', () => {
  it('stops while a page keeps polling over keep-alive, answering the poll in flight first', async () => {
    const { server, port, nextRequest } = await slowServer();
    const agent = new Agent({ keepAlive: true });
    expect(await poll(port, agent)).toBe('ok');

    const arrived = nextRequest();
    const inFlight = poll(port, agent);
    await arrived;
    // A grace far longer than the test's timeout: only ending idle connections can pass.
    const closed = closeServer(server, 60_000);
    let stopped = false;
    void closed.then(() => {
      stopped = true;
    });
    while (!stopped) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await poll(port, agent);
    }

    expect(await inFlight).toBe('ok');
    // A new connection: one the page's agent kept may be reused just as the server ends it (ECONNRESET).
    expect(await poll(port, new Agent())).toBe('ECONNREFUSED');
    agent.destroy();
  }, 10_000);

  it('cuts a request still unanswered when the grace runs out', async () => {
    const { arrived, arrive } = arrival();
    // Never answers.
    const server = createServer(arrive);
    await listen(server, 0, '127.0.0.1');
    const agent = new Agent({ keepAlive: true });
    const hung = poll((server.address() as AddressInfo).port, agent);
    await arrived;

    await closeServer(server, 200);

    expect(await hung).toBe('ECONNRESET');
    agent.destroy();
  });
});
