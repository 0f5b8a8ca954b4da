import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RuntimeProcess, startRuntimeProcess } from '../support/local-runtime-process.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';

/**
 * The README's five-minute tour, walked with its own commands: they are read from the
 * README, so the two cannot drift. `npm start` runs on a port of its own (never 3000)
 * and a DATA_DIR of its own, which the second terminal shares; nothing else is given
 * to any command, as a person following the README would give nothing else.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The shell commands of each numbered step of the tour, in order. */
function tourSteps(readme: string): string[][] {
  const start = readme.indexOf('### Five minutes with the local runtime');
  const tour = readme.slice(start, readme.indexOf('Real Stripe test-mode events', start));
  return tour
    .split(/\n(?=\d\. \*\*)/)
    .slice(1)
    .map((step) =>
      [...step.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap(([, block = '']) =>
        block
          .split('\n')
          .map((line) => line.trim())
          .filter(Boolean),
      ),
    );
}

const STEPS = tourSteps(README);

function commandOf(step: readonly string[], pattern: RegExp): string {
  const command = step.find((line) => pattern.test(line));
  if (!command) throw new Error(`the README's tour step has no command matching ${pattern}`);
  return command;
}

/** `A=1 B=2 npm start` as the environment it sets. */
function startEnvironment(command: string): Record<string, string> {
  const match = /^((?:[A-Z_]+=\S+\s+)*)npm start$/.exec(command);
  if (!match) throw new Error(`not an npm start line: ${command}`);
  return Object.fromEntries(
    (match[1] ?? '')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map((pair) => pair.split('=') as [string, string]),
  );
}

let db: TestDatabase;
let dataDir: string;
let runtime: RuntimeProcess | undefined;
let session = '';

async function restart(command: string) {
  await runtime?.stop();
  runtime = await startRuntimeProcess({
    ...startEnvironment(command),
    DATABASE_URL: db.connectionString,
    DATA_DIR: dataDir,
  });
  expect(new URL(runtime.url).port).not.toBe('3000');
}

/**
 * A command typed in the second terminal: a shell in a terminal (`script` gives it one,
 * so `ops` may ask), sharing only DATA_DIR with the first. `answers` are typed ahead.
 */
function type(line: string, answers: readonly string[] = []): Promise<string> {
  const command = line.replaceAll('<session id>', session);
  const { PORT: _port, DATABASE_URL: _db, ...inherited } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      cwd: ROOT,
      env: { ...inherited, DATA_DIR: dataDir, NO_COLOR: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    for (const answer of answers) child.stdin.write(`${answer}\n`);
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      child.stdin.end();
      if (code === 0) resolve(output.replaceAll('\r', ''));
      else reject(new Error(`${command} exited ${code}:\n${output}`));
    });
  });
}

/** Types the command again every few seconds until its output says what is awaited. */
async function until(line: string, awaited: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const output = await type(line);
    if (awaited.test(output)) return output;
    if (Date.now() > deadline) throw new Error(`${line} never said ${awaited}:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
}

/** Sends a simulated checkout and keeps its session id for the `<session id>` that follows. */
async function simulate(line: string): Promise<string> {
  const output = await type(line);
  session = /session (cs_test_\w+)/.exec(output)?.[1] ?? '';
  expect(session, output).not.toBe('');
  return output;
}

/** What a person answers an `ops` write: a reason when asked for one, then yes. */
const REASON_AND_YES = ['README tour', 'yes'];

async function metricsStuck(): Promise<number> {
  const text = await (await fetch(`${runtime?.url}/api/metrics`)).text();
  return Number(/^provisioning_jobs_stuck (\d+)$/m.exec(text)?.[1]);
}

beforeAll(async () => {
  db = await freshDatabase({ migrated: false });
  runtime = await startRuntimeProcess({ DATABASE_URL: db.connectionString });
  dataDir = runtime.dataDir;
}, 90_000);
afterAll(async () => {
  await runtime?.stop();
  await db?.close();
});

describe('the README tour, command by command, on a port that is not 3000', () => {
  it('has its seven steps', () => {
    expect(STEPS).toHaveLength(7);
  });

  it('1. a paid checkout becomes a tenant', async () => {
    const [step = []] = STEPS;

    const sent = await simulate(commandOf(step, /simulate:checkout -- --package/));

    expect(sent).toMatch(/^200 .*"recorded"/m);
    await until(commandOf(step, /ops -- show/), /status\s+provisioned/, 30_000);
  }, 120_000);

  it('2. a duplicate delivery is harmless', async () => {
    const output = await type(commandOf(STEPS[1] ?? [], /simulate:checkout -- --session/));

    expect(output).toMatch(/^200 .*"duplicate"/m);
  }, 60_000);

  it('3. the orchestrator goes down, comes back, and the reconciler re-drives the job alone', async () => {
    const step = STEPS[2] ?? [];
    await restart(commandOf(step, /npm start$/));

    await simulate(commandOf(step, /simulate:checkout -- --package/));
    await until(commandOf(step, /ops -- show/), /last_error\s+http_5xx/, 30_000);
    expect(await type(commandOf(step, /ops -- sandbox ok/))).toContain('switched to ok');
    await until(commandOf(step, /ops -- show/), /status\s+provisioned/, 150_000);
  }, 240_000);

  it('4. the callback never lands: the gauge counts it as /api/metrics does, and a hand-link clears it', async () => {
    const step = STEPS[3] ?? [];
    await restart(commandOf(step, /npm start$/));

    await simulate(commandOf(step, /simulate:checkout -- --package/));
    const gauge = commandOf(step, /ops -- gauge/);
    await until(gauge, /^1 STUCK/m, 120_000);
    expect(await metricsStuck()).toBe(1);
    const linked = await type(commandOf(step, /ops -- link/), REASON_AND_YES);
    expect(linked).toContain('provisioned');
    expect(await type(gauge)).toMatch(/^0 STUCK/m);
    expect(await metricsStuck()).toBe(0);
  }, 240_000);

  it('5. a saga keeps failing until the cap, waits on the gauge, and a re-arm provisions it', async () => {
    const step = STEPS[4] ?? [];
    await restart(commandOf(step, /npm start$/));

    await simulate(commandOf(step, /simulate:checkout -- --package/));
    // The cap is the MAX_ATTEMPTS npm start was given: ops reads it from DATA_DIR.
    await until(commandOf(step, /ops -- stuck/), new RegExp(`${session}.*3/3.*STUCK`), 240_000);
    expect(await type(commandOf(step, /ops -- sandbox ok/))).toContain('switched to ok');
    await type(commandOf(step, /ops -- rearm --capped/), REASON_AND_YES);
    await until(commandOf(step, /ops -- show/), /status\s+provisioned/, 90_000);
  }, 420_000);

  it('6. the orchestrator refuses: the job is parked at once, on the gauge', async () => {
    const step = STEPS[5] ?? [];
    await restart(commandOf(step, /npm start$/));

    await simulate(commandOf(step, /simulate:checkout -- --package/));

    await until(commandOf(step, /ops -- stuck/), new RegExp(`${session}.*STUCK`), 60_000);
  }, 120_000);

  it('7. Stripe’s EventBridge destination records a checkout, and the sweep finds one no event announced', async () => {
    const step = STEPS[6] ?? [];
    await restart(commandOf(step, /npm start$/));
    const show = commandOf(step, /ops -- show/);

    await simulate(commandOf(step, /--via eventbridge/));
    await until(show, /recorded by\s+stripe-eventbridge/, 30_000);
    await simulate(commandOf(step, /--lost/));
    await type(commandOf(step, /ops -- sweep/), ['yes']);
    await until(show, /recorded by\s+sweep/, 30_000);
  }, 180_000);
});
