import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeRuntimeFile } from '../../local/runtime-file.js';
import { loopbackServer, opsRunner } from './ops-harness.js';

/**
 * `ops sandbox`: the running npm start's sandbox orchestrator, found through
 * DATA_DIR/runtime.json, here a loopback server standing in for its control route.
 */
let sandbox: Awaited<ReturnType<typeof loopbackServer>> | undefined;
afterEach(async () => {
  await sandbox?.close();
});

/** A sandbox whose GET /mode still says `ok`, as one that has not switched would. */
async function runtimeWithSandbox(): Promise<{ DATA_DIR: string }> {
  sandbox = await loopbackServer((request) =>
    request.method === 'PUT' ? { status: 204, body: '' } : { status: 200, body: '{"mode":"ok"}' },
  );
  const DATA_DIR = mkdtempSync(join(tmpdir(), 'provisioning-ops-sandbox-'));
  writeRuntimeFile(
    { DATA_DIR },
    {
      pid: process.pid,
      url: 'http://localhost:4321',
      sandboxUrl: sandbox.url,
      startedAt: new Date().toISOString(),
      environment: { PORT: '4321' },
    },
  );
  return { DATA_DIR };
}

describe('ops sandbox', () => {
  it('switches the mode with one PUT and reports the mode the switch set', async () => {
    const env = await runtimeWithSandbox();

    const result = await opsRunner({ env, collaborators: {} })(['sandbox', 'down', '--json']);

    expect(result.code, result.stderr).toBe(0);
    expect(result.json()).toEqual({ mode: 'down', switched: true });
    expect(sandbox?.requests.map((request) => [request.path, request.body])).toEqual([
      ['/mode', '{"mode":"down"}'],
    ]);
  });

  it('shows the mode the sandbox reports when asked for none', async () => {
    const env = await runtimeWithSandbox();

    const result = await opsRunner({ env, collaborators: {} })(['sandbox']);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('sandbox orchestrator: ok');
  });

  it('refuses a mode that does not exist, asking the sandbox nothing', async () => {
    const env = await runtimeWithSandbox();

    const result = await opsRunner({ env, collaborators: {} })(['sandbox', 'sideways']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('sideways is not a mode');
    expect(sandbox?.requests).toEqual([]);
  });
});
