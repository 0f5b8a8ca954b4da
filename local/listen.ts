import type { Server } from 'node:http';

/** Listens, or fails with one line that says what to do (never an unhandled 'error' event). */
export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`port ${port} is in use: stop whatever listens there, or set PORT`)
          : error,
      );
    };
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
}

/**
 * Stops accepting and resolves once every connection has ended. `server.close()` alone
 * never ends a keep-alive connection that was busy when it was called: a success page
 * polling over it keeps a closing server serving for as long as the page stays open.
 * So connections are ended as soon as they go idle, and cut after `graceMs` regardless.
 */
export function closeServer(server: Server, graceMs = 5_000): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const endIdle = setInterval(() => server.closeIdleConnections(), 25);
  const cut = setTimeout(() => server.closeAllConnections(), graceMs);
  return closed.finally(() => {
    clearInterval(endIdle);
    clearTimeout(cut);
  });
}
