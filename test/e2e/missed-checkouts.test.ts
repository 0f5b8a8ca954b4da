import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RuntimeProcess, startRuntimeProcess } from '../support/local-runtime-process.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';

/**
 * `npm start` with the two paths beside the webhook: a checkout delivered through the
 * stand-in for Stripe's EventBridge destination, and a paid checkout no event ever
 * announces, which only Stripe's records (the runtime's stand-in) hold until the
 * sweep, on its own schedule, records it. Both through `npm run simulate:checkout`.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let runtime: RuntimeProcess;
let db: TestDatabase;

beforeAll(async () => {
  db = await freshDatabase({ migrated: false });
  runtime = await startRuntimeProcess({
    DATABASE_URL: db.connectionString,
    SWEEP_EVERY_SECONDS: '1',
    SANDBOX_DELAY_MS: '10',
  });
}, 90_000);

afterAll(async () => {
  await runtime?.stop('SIGTERM');
  await db?.close();
});

/** `npm run simulate:checkout -- …args` against the runtime: the session it created. */
async function simulateCheckout(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'bin/simulate-checkout.ts', '--url', runtime.url, ...args],
    { cwd: ROOT },
  );
  const session = /^session (cs_test_\w+)/m.exec(stdout)?.[1];
  if (!session) throw new Error(`no session in:\n${stdout}`);
  return session;
}

/** Who recorded the session's job, and its coarse state; undefined while there is none. */
async function jobOf(session: string): Promise<{ recordedBy: string; state: string } | undefined> {
  const read = await fetch(`${runtime.url}/api/internal/provisioning/jobs/${session}`);
  if (read.status === 404) return undefined;
  const { history } = (await read.json()) as { history: { kind: string; actor: string }[] };
  const status = await fetch(`${runtime.url}/api/provisioning/status?session_id=${session}`);
  const { state } = (await status.json()) as { state: string };
  return { recordedBy: String(history.find((e) => e.kind === 'recorded')?.actor), state };
}

describe('checkouts beside the webhook, in the local runtime', () => {
  it('provisions a checkout Stripe delivers through its EventBridge destination', async () => {
    const session = await simulateCheckout('--via', 'eventbridge', '--package', 'starter');

    await expect
      .poll(() => jobOf(session), { timeout: 20_000, interval: 200 })
      .toEqual({ recordedBy: 'stripe-eventbridge', state: 'ready' });
  });

  it('finds a paid checkout no event announced in Stripe’s records, and provisions it', async () => {
    const session = await simulateCheckout('--lost');

    // Recorded by the sweep: no event had recorded it.
    await expect
      .poll(() => jobOf(session), { timeout: 20_000, interval: 200 })
      .toEqual({ recordedBy: 'sweep', state: 'ready' });
  });
});
