import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';
import { recordCheckout } from './ops-harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let db: TestDatabase;

beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db.close();
});

/** `bin/ops.ts` as a person runs it: its own process, its own exit code. */
function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/ops.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: db.connectionString },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('bin/ops.ts as a process', () => {
  it('answers the gauge as JSON against DATABASE_URL, and exits 0', async () => {
    await recordCheckout(db.executor, 'cs_test_smoke', new Date(Date.now() - 3_600_000), 'nope');

    const result = await runCli(['gauge', '--json']);

    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      stuck: 1,
      stuck_after_seconds: 900,
      max_attempts: 8,
    });
  });

  it('exits with the code of a refusal, and does nothing, when a write is not confirmed', async () => {
    const result = await runCli(['rearm', 'cs_test_smoke', '--reason', 'smoke']);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--yes was not given; nothing was done');
  });
});
