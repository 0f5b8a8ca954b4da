import { Agent, createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { closeServer, listen } from '../../local/listen.js';

/** A server that answers every request 200 ms late, so that a request can be in flight. */
async function slowServer() {
  const server = createServer((_request, response) => {
    setTimeout(() => response.end('ok'), 200);
  });
  await listen(server, 0, '127.0.0.1');
  return { server, port: (server.address() as AddressInfo).port };
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
    const { server, port } = await slowServer();
    const agent = new Agent({ keepAlive: true });
    expect(await poll(port, agent)).toBe('ok');

    const inFlight = poll(port, agent);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // A grace far longer than the test's timeout: only ending idle connections can pass.
    const closed = closeServer(server, 60_000);
    let stopped = false;
    void closed.then(() => {
      stopped = true;
    });
    const answers: string[] = [];
    while (!stopped) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      answers.push(await poll(port, agent));
    }

    expect(await inFlight).toBe('ok');
    expect(answers.at(-1)).toBe('ECONNREFUSED');
    agent.destroy();
  }, 10_000);

  it('cuts a request still unanswered when the grace runs out', async () => {
    const server = createServer(() => {
      // Never answers.
    });
    await listen(server, 0, '127.0.0.1');
    const agent = new Agent({ keepAlive: true });
    const hung = poll((server.address() as AddressInfo).port, agent);
    await new Promise((resolve) => setTimeout(resolve, 50));

    await closeServer(server, 200);

    expect(await hung).toBe('ECONNRESET');
    agent.destroy();
  });
});
