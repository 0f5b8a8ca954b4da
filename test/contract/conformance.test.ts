import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { runConformanceCli } from '../../contract/conformance/cli.js';
import { freePort } from '../../local/free-port.js';
import { SandboxOrchestrator } from '../../local/sandbox-orchestrator.js';
import { type Flaw, startFlawedOrchestrator } from '../support/flawed-orchestrator.js';

/**
 * `npm run conformance`: the sandbox orchestrator (the reference the local runtime
 * uses) passes every check; an orchestrator with one flaw fails the check that names
 * it, with exit code 1; a usage mistake is one line and exit code 2.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SECRETS = {
  PROVISIONING_TRIGGER_SECRET: 'conformance-trigger-secret',
  PROVISIONING_CALLBACK_SECRET: 'conformance-callback-secret',
};
const ALL_CHECKS = [
  'signed trigger accepted',
  'unsigned trigger refused',
  'badly signed trigger refused',
  'replayed trigger (timestamp 600 s old) refused',
  'trigger timestamped 600 s ahead refused',
  'provisioned reported',
  'repeated Idempotency-Key: same tenant',
  'callbacks well-formed',
  'callbacks correctly signed',
];

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function conformance(argv: string[], env: Record<string, string> = SECRETS) {
  let out = '';
  let err = '';
  const code = await runConformanceCli(argv, env, {
    out: (text) => {
      out += text;
    },
    err: (text) => {
      err += text;
    },
  });
  return { code, out, err };
}

/** The checks the table marks FAIL, by name. */
function failed(out: string): string[] {
  return out
    .split('\n')
    .filter((line) => line.startsWith('FAIL'))
    .map((line) => line.split(/\s{2,}/)[1] ?? line);
}

async function sandbox(): Promise<string> {
  const orchestrator = new SandboxOrchestrator({
    mode: 'ok',
    triggerSecret: SECRETS.PROVISIONING_TRIGGER_SECRET,
    callbackSecret: SECRETS.PROVISIONING_CALLBACK_SECRET,
    delayMs: 10,
    sagaHeartbeats: 1,
    retryAfterSeconds: 30,
    log: () => {},
  });
  const url = await orchestrator.start();
  cleanups.push(() => orchestrator.stop());
  return `${url}/trigger/onboarding`;
}

async function flawed(flaw: Flaw): Promise<string> {
  const orchestrator = await startFlawedOrchestrator({
    flaw,
    triggerSecret: SECRETS.PROVISIONING_TRIGGER_SECRET,
    callbackSecret: SECRETS.PROVISIONING_CALLBACK_SECRET,
  });
  cleanups.push(() => orchestrator.stop());
  return orchestrator.url;
}

describe('an orchestrator that keeps the contract', () => {
  it('the sandbox orchestrator passes every check: exit 0 and a table of PASS', async () => {
    const { code, out } = await conformance(['--trigger-url', await sandbox(), '--timeout', '10']);

    expect(failed(out)).toEqual([]);
    expect(out.split('\n').filter((line) => line.startsWith('PASS'))).toHaveLength(
      ALL_CHECKS.length,
    );
    expect(out).toMatch(
      /provisioned reported\s+after [\d.]+ s \(dpl_sandbox_\w+, cell-sandbox-1\)/,
    );
    expect(out).toContain(`All ${ALL_CHECKS.length} checks passed.`);
    expect(code).toBe(0);
  });

  it('a correct orchestrator built with the kit passes, so the flaws below are all the failures', async () => {
    const { code, out } = await conformance(['--trigger-url', await flawed('none')]);

    expect(failed(out)).toEqual([]);
    expect(code).toBe(0);
  });
});

describe('an orchestrator with one flaw fails the check that names it', () => {
  const NOT_PROVISIONED = ['provisioned reported', 'repeated Idempotency-Key: same tenant'];
  it.each<[Flaw, string[], RegExp]>([
    [
      'accepts-old-timestamps',
      ['replayed trigger (timestamp 600 s old) refused', 'trigger timestamped 600 s ahead refused'],
      /600 s old\) refused\s+answered 202: accepted it: verify the signature and its timestamp/,
    ],
    [
      'accepts-unsigned',
      [
        'unsigned trigger refused',
        'badly signed trigger refused',
        'replayed trigger (timestamp 600 s old) refused',
        'trigger timestamped 600 s ahead refused',
      ],
      /unsigned trigger refused\s+answered 202/,
    ],
    [
      'new-tenant-per-trigger',
      ['repeated Idempotency-Key: same tenant'],
      /same tenant\s+one job, \d tenants: dpl_/,
    ],
    [
      'signs-callbacks-wrongly',
      [...NOT_PROVISIONED, 'callbacks correctly signed'],
      /callbacks correctly signed\s+\d+ of \d+ refused: signature mismatch \(answered 401\)/,
    ],
    [
      'omits-cell-id',
      [...NOT_PROVISIONED, 'callbacks well-formed'],
      /well-formed\s+\d+ of \d+ refused: cell_id: required when status is provisioned/,
    ],
  ])('%s', async (flaw, failing, detail) => {
    // Two seconds are plenty for a provisioned report that comes at all.
    const url = await flawed(flaw);
    const { code, out } = await conformance(['--trigger-url', url, '--timeout', '2']);

    expect(failed(out)).toEqual(failing);
    expect(out).toMatch(detail);
    expect(out).toContain(`${failing.length} of ${ALL_CHECKS.length} checks failed.`);
    expect(code).toBe(1);
  });

  it('an orchestrator that does not answer fails at once, without waiting out the timeout', async () => {
    const started = Date.now();
    const { code, out } = await conformance([
      '--trigger-url',
      `http://127.0.0.1:${await freePort()}/trigger/onboarding`,
      '--timeout',
      '120',
    ]);

    expect(failed(out)).toEqual(ALL_CHECKS);
    expect(out).toContain('not run: the signed trigger was not accepted');
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(code).toBe(1);
  });
});

describe('usage', () => {
  it.each([
    [[], /^conformance: --trigger-url is required: .*\n$/],
    [
      ['--trigger-url', 'ftp://x'],
      /^conformance: --trigger-url must be an http\(s\) URL, got 'ftp:\/\/x'\n$/,
    ],
    [
      ['--trigger-url', 'http://x', '--timeout', 'soon'],
      /^conformance: --timeout must be a whole number/,
    ],
    [
      ['--trigger-url', 'http://x', '--trigger-secret', 's'],
      /^conformance: Unknown option '--trigger-secret'.* \(see --help\)\n$/,
    ],
  ])('%j is one line on stderr and exit code 2', async (argv, message) => {
    const { code, out, err } = await conformance(argv);

    expect(err).toMatch(message);
    expect(out).toBe('');
    expect(code).toBe(2);
  });

  it('refuses a callback secret without the trigger secret that signs the triggers', async () => {
    const { code, err } = await conformance(['--trigger-url', 'http://x'], {
      PROVISIONING_CALLBACK_SECRET: 'only-this',
    });

    expect(err).toMatch(/^conformance: PROVISIONING_TRIGGER_SECRET is required when/);
    expect(code).toBe(2);
  });

  it('--help prints the options and exits 0', async () => {
    const { code, out } = await conformance(['--help']);

    expect(out).toContain('--trigger-url URL');
    expect(code).toBe(0);
  });
});

describe('npm run conformance', () => {
  function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn('npm', ['run', '--silent', 'conformance', '--', ...args], {
        cwd: ROOT,
        env: { ...process.env, ...SECRETS },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk;
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk;
      });
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  it('exits 0 against the sandbox and 2 on a usage error, as the process exit code', async () => {
    const passing = await run(['--trigger-url', await sandbox(), '--timeout', '10']);
    const usage = await run(['--timeout', '5']);

    expect(passing.stdout).toContain(`All ${ALL_CHECKS.length} checks passed.`);
    expect(passing.code).toBe(0);
    expect(usage.stderr.trim().split('\n')).toHaveLength(1);
    expect(usage.code).toBe(2);
  }, 60_000);
});
