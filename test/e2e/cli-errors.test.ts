import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** An entry point as a person runs it: its own process, a fresh DATA_DIR. */
async function run(entry: string, args: string[], env: Record<string, string> = {}) {
  const DATA_DIR = mkdtempSync(join(tmpdir(), 'provisioning-cli-'));
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', entry, ...args],
      { cwd: ROOT, env: { ...process.env, DATA_DIR, LOG_FORMAT: 'json', ...env } },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('CLI errors: one line that names the fix, never a stack trace', () => {
  it('simulate:checkout --help says what it sends and every option', async () => {
    const help = await run('bin/simulate-checkout.ts', ['--help']);

    expect(help.code).toBe(0);
    for (const option of ['--package', '--session', '--unpaid', '--email', '--url']) {
      expect(help.stdout).toContain(option);
    }
  });

  it('simulate:checkout names an unknown option, and says where the options are', async () => {
    const wrong = await run('bin/simulate-checkout.ts', ['--pkg', 'growth']);

    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toBe(
      "error: Unknown option '--pkg'; npm run simulate:checkout -- --help lists the options\n",
    );
  });

  it('simulate:checkout with no runtime running says to start it', async () => {
    const nothing = await run('bin/simulate-checkout.ts', ['--url', 'http://127.0.0.1:9']);

    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toBe(
      'error: nothing answers at http://127.0.0.1:9: start the local runtime (npm start), or pass --url\n',
    );
  });

  it('simulate:checkout without --url goes where npm start would listen: its PORT', async () => {
    const nothing = await run('bin/simulate-checkout.ts', [], { PORT: '9' });

    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toBe(
      'error: nothing answers at http://localhost:9: start the local runtime (npm start), or pass --url\n',
    );
  });

  it('simulate:checkout names a malformed setting before sending anything', async () => {
    const wrong = await run('bin/simulate-checkout.ts', [], { STRIPE_MODE: 'sandbox' });

    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/^error: Invalid local configuration: STRIPE_MODE: /);
  });

  it('npm start on a busy port names the port and how to pick another, before starting anything', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    try {
      const start = await run('bin/local.ts', [], { PORT: String(port) });
      const lines = `${start.stdout}${start.stderr}`.trim().split('\n');

      expect(start.code).toBe(1);
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({
        level: 'ERROR',
        error: `port ${port} is in use: stop what listens there, or start on another port (PORT=3001 npm start)`,
      });
    } finally {
      busy.close();
    }
  }, 30_000);
});
