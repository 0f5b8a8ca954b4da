import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  isProcessAlive,
  readRuntimeFile,
  runtimeFilePath,
  withRuntimeSettings,
  writeRuntimeFile,
} from '../../local/runtime-file.js';

// A pid no process has: the highest Linux allows, plus one.
const STOPPED = 4_194_305;

function runtimeOf(environment: Record<string, string>, pid = process.pid) {
  const DATA_DIR = mkdtempSync(join(tmpdir(), 'provisioning-runtime-file-'));
  writeRuntimeFile(
    { DATA_DIR },
    {
      pid,
      url: 'http://localhost:4321',
      sandboxUrl: 'http://127.0.0.1:40001',
      startedAt: new Date().toISOString(),
      environment: { PORT: '4321', STUCK_AFTER_SECONDS: '60', ...environment },
    },
  );
  return { DATA_DIR };
}

describe('the settings npm start leaves for the CLIs (DATA_DIR/runtime.json)', () => {
  it('give a CLI what the runtime runs with, under what the CLI’s own environment says', () => {
    const env = runtimeOf({ MAX_ATTEMPTS: '3' });

    expect(
      withRuntimeSettings({ ...env, MAX_ATTEMPTS: '5', STALE_AFTER_SECONDS: '' }),
    ).toMatchObject({
      PORT: '4321',
      STUCK_AFTER_SECONDS: '60',
      MAX_ATTEMPTS: '5',
    });
  });

  it('are ignored by a command pointed at another database', () => {
    const env = runtimeOf({});

    expect(
      withRuntimeSettings({ ...env, DATABASE_URL: 'postgres://elsewhere/db' }),
    ).not.toHaveProperty('STUCK_AFTER_SECONDS');
  });

  it('are readable by their owner only: they hold the local secrets', () => {
    const env = runtimeOf({ PROVISIONING_TRIGGER_SECRET: 'local-trigger-secret' });

    expect(statSync(runtimeFilePath(env)).mode & 0o077).toBe(0);
  });

  it('tell a runtime that still runs from one that stopped', () => {
    const running = readRuntimeFile(runtimeOf({}));
    const stopped = readRuntimeFile(runtimeOf({}, STOPPED));

    expect(running && isProcessAlive(running.pid)).toBe(true);
    expect(stopped && isProcessAlive(stopped.pid)).toBe(false);
  });

  it('are ignored once that npm start has stopped: its sandbox no longer listens', () => {
    const env = runtimeOf({ PROVISIONING_TRIGGER_URL: 'http://127.0.0.1:40001/trigger' }, STOPPED);

    expect(withRuntimeSettings(env)).toEqual(env);
  });

  it('are absent, not an error, before the first npm start', () => {
    expect(readRuntimeFile({ DATA_DIR: join(tmpdir(), 'no-such-dir') })).toBeUndefined();
    expect(withRuntimeSettings({ DATA_DIR: join(tmpdir(), 'no-such-dir'), PORT: '3000' })).toEqual({
      DATA_DIR: join(tmpdir(), 'no-such-dir'),
      PORT: '3000',
    });
  });
});
