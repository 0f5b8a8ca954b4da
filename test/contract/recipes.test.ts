import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallbackReceiver } from '../../contract/conformance/callback-receiver.js';
import { runConformanceCli } from '../../contract/conformance/cli.js';
import { verifyTrigger } from '../../contract/trigger.js';
import { hmacHex, signedContent, signProvisioningBody } from '../../functions/core/signatures.js';
import { freePort } from '../../local/free-port.js';

/**
 * The recipes of docs/orchestrator-contract.md, run as the doc shows them: a snippet
 * that drifts from the contract fails here, not in the orchestrator team's hands.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DOC = readFileSync(join(ROOT, 'docs/orchestrator-contract.md'), 'utf8');
const TRIGGER_SECRET = 'recipe-trigger-secret';
const CALLBACK_SECRET = 'recipe-callback-secret';
const run = promisify(execFile);

function recipe(name: string): string {
  const found = new RegExp(`<!-- recipe: ${name} -->\\n\`\`\`\\w+\\n([\\s\\S]*?)\\n\`\`\``).exec(
    DOC,
  );
  if (!found?.[1]) throw new Error(`no recipe '${name}' in docs/orchestrator-contract.md`);
  return found[1];
}

/** Runs a shell recipe with bash; the exit code and output, whatever they are. */
async function bash(script: string, env: Record<string, string>, cwd = ROOT) {
  try {
    const { stdout } = await run('bash', ['--norc', '--noprofile', '-c', script], {
      cwd,
      env: { PATH: process.env.PATH, ...env },
    });
    return { code: 0, stdout };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout + failure.stderr };
  }
}

// Under .data/ (ignored by git and Biome) and inside the package, so the TypeScript
// recipe resolves `provisioning-handoff/contract` as an installed package would.
let scratch: string;
beforeAll(() => {
  mkdirSync(join(ROOT, '.data'), { recursive: true });
  scratch = mkdtempSync(join(ROOT, '.data', 'recipes-'));
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe('the worked example', () => {
  it('is signed as the doc says, and verifyTrigger accepts it at its own time', () => {
    const value = (row: string) =>
      new RegExp(`\\| ${row} \\| \`([^\`]+)\` \\|`).exec(DOC)?.[1] ?? '';
    const [secret, timestamp, body, signature] = ['secret', 'timestamp', 'body', 'signature'].map(
      value,
    ) as [string, string, string, string];

    expect(hmacHex(secret, signedContent(body, timestamp))).toBe(signature);
    expect(
      verifyTrigger(
        {
          body,
          headers: { 'X-Provisioning-Timestamp': timestamp, 'X-Provisioning-Signature': signature },
        },
        { secret, now: new Date(Number(timestamp) * 1000) },
      ),
    ).toMatchObject({ ok: true });
  });
});

describe('the TypeScript recipe', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill();
  });

  it('is a whole orchestrator that passes npm run conformance', async () => {
    const file = join(scratch, 'orchestrator.ts');
    writeFileSync(file, recipe('typescript'));
    const port = await freePort();
    const env = {
      PROVISIONING_TRIGGER_SECRET: TRIGGER_SECRET,
      PROVISIONING_CALLBACK_SECRET: CALLBACK_SECRET,
    };
    child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: ROOT,
      env: { ...process.env, ...env, PORT: String(port) },
      stdio: 'ignore',
    });
    const url = `http://127.0.0.1:${port}/trigger/onboarding`;
    for (let tries = 0; tries < 200; tries += 1) {
      if (
        await fetch(url, { method: 'POST' }).then(
          () => true,
          () => false,
        )
      )
        break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    let out = '';
    const code = await runConformanceCli(['--trigger-url', url, '--timeout', '10'], env, {
      out: (text) => {
        out += text;
      },
      err: (text) => {
        out += text;
      },
    });

    expect(out).toContain('All 9 checks passed.');
    expect(code).toBe(0);
  }, 30_000);
});

describe('the openssl and curl recipes', () => {
  const SESSION_ID = 'cs_test_recipe';
  let receiver: CallbackReceiver;
  beforeAll(async () => {
    receiver = new CallbackReceiver({ port: 0, secrets: [CALLBACK_SECRET] });
    receiver.expect(SESSION_ID);
    await receiver.start();
  });
  afterAll(async () => {
    await receiver.stop();
  });

  it('sign-callback-curl sends a callback the callback route accepts', async () => {
    const sent = await bash(recipe('sign-callback-curl'), {
      SESSION_ID,
      CALLBACK_URL: receiver.url,
      PROVISIONING_CALLBACK_SECRET: CALLBACK_SECRET,
    });

    expect(sent).toEqual({ code: 0, stdout: '{"ok":true,"status":"provisioned"}' });
    expect(receiver.received.at(-1)).toMatchObject({
      signature: 'valid',
      timestamped: true,
      body: { ok: true, report: { deploymentId: 'dpl_by_hand', cellId: 'cell-1' } },
    });
  });

  it('sign-callback-curl with another secret is refused, and curl says so', async () => {
    const sent = await bash(recipe('sign-callback-curl'), {
      SESSION_ID,
      CALLBACK_URL: receiver.url,
      PROVISIONING_CALLBACK_SECRET: 'not-the-secret',
    });

    expect(sent.code).not.toBe(0);
    expect(sent.stdout).toContain('does not match');
  });

  describe('verify-trigger-openssl', () => {
    const body = JSON.stringify({ job_id: 'j', stripe_session_id: SESSION_ID, tokens_quota: 1 });
    const check = (signedBody: string, at: Date, receivedBody = signedBody) => {
      const { timestamp, signature } = signProvisioningBody(signedBody, TRIGGER_SECRET, at);
      writeFileSync(join(scratch, 'trigger.json'), receivedBody);
      return bash(
        recipe('verify-trigger-openssl'),
        {
          TIMESTAMP: timestamp,
          SIGNATURE: signature,
          PROVISIONING_TRIGGER_SECRET: TRIGGER_SECRET,
        },
        scratch,
      );
    };

    it('says valid for a trigger signed as the hand-off signs it', async () => {
      expect(await check(body, new Date())).toEqual({ code: 0, stdout: 'valid\n' });
    });

    it('refuses a body changed after signing, and a replay 400 s old', async () => {
      const tampered = await check(
        body,
        new Date(),
        body.replace('"tokens_quota":1', '"tokens_quota":9'),
      );
      const replayed = await check(body, new Date(Date.now() - 400_000));

      expect(tampered).toEqual({ code: 1, stdout: 'refused: the signature does not match\n' });
      expect(replayed.code).toBe(1);
      expect(replayed.stdout).toMatch(/^refused: signed -?\d+ s from now/);
    });
  });
});
