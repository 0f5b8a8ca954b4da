import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../local/free-port.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface RuntimeProcess {
  readonly url: string;
  /** Its DATA_DIR (a fresh one unless given): where it writes runtime.json for the CLIs. */
  readonly dataDir: string;
  readonly sandboxUrl: string | undefined;
  readonly child: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /**
   * Sends the signal and waits for the exit code. `ctrlC` sends SIGINT to the whole
   * process group, embedded PostgreSQL included, as a terminal's Ctrl-C does.
   */
  stop(signal?: NodeJS.Signals | 'ctrlC'): Promise<number | null>;
}

/** Starts `npm start`'s entry point as a user would, on a free port, and waits until it serves. */
export async function startRuntimeProcess(env: Record<string, string>): Promise<RuntimeProcess> {
  const port = await freePort();
  // Never the repository's .data/: a developer's own runtime keeps its files.
  const dataDir = env.DATA_DIR ?? mkdtempSync(join(tmpdir(), 'provisioning-runtime-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/local.ts'], {
    cwd: ROOT,
    env: { ...process.env, LOG_FORMAT: 'json', PORT: String(port), DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, like a program started from a terminal.
    detached: true,
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const deadline = Date.now() + 60_000;
  while (!output.includes('Provisioning hand-off is running on')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the local runtime did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const sandboxUrl = /curl -X PUT (http:\/\/127\.0\.0\.1:\d+)\/mode/.exec(output)?.[1];
  return {
    url: `http://localhost:${port}`,
    dataDir,
    sandboxUrl,
    child,
    output: () => output,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) {
        if (signal === 'ctrlC') process.kill(-(child.pid as number), 'SIGINT');
        else child.kill(signal);
      }
      const forced = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(forced);
      return code;
    },
  };
}
