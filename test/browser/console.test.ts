import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendSimulatedCheckout } from '../../local/simulated-checkout.js';
import { opsRunner } from '../ops/ops-harness.js';
import { type RuntimeProcess, startRuntimeProcess } from '../support/local-runtime-process.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';
import { launchChromium, pageErrors, until } from './chromium.js';

/**
 * The local console at `/` of the local runtime, in headless Chromium, as a developer
 * trying the product uses it. One runtime and one page for the file; each test leaves
 * the sandbox in `ok`.
 */
const WEBHOOK_SECRET = 'whsec_browser_console';

let browser: Browser;
let runtime: RuntimeProcess;
let db: TestDatabase;
let page: Page;
let errors: string[];
/** A checkout that will never be provisioned on its own (its package is unknown). */
let parked = '';

beforeAll(async () => {
  db = await freshDatabase({ migrated: false });
  [browser, runtime] = await Promise.all([
    launchChromium(),
    startRuntimeProcess({
      DATABASE_URL: db.connectionString,
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      RECONCILE_EVERY_SECONDS: '1',
      STALE_AFTER_SECONDS: '1',
      STUCK_AFTER_SECONDS: '2',
      SANDBOX_DELAY_MS: '10',
    }),
  ]);
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  errors = pageErrors(page);
  await page.goto(runtime.url);
}, 90_000);

afterAll(async () => {
  expect(errors).toEqual([]);
  await browser?.close();
  await runtime?.stop('SIGTERM');
  await db?.close();
});

async function checkout(packageSlug = 'growth') {
  const sent = await sendSimulatedCheckout({
    baseUrl: runtime.url,
    secret: WEBHOOK_SECRET,
    packageSlug,
  });
  expect(sent.status).toBe(200);
  return sent.sessionId;
}

const row = (session: string) => page.locator(`#jobs tr[data-session="${session}"]`);
const statusOf = (session: string) => row(session).getAttribute('data-status');

async function stuckOnMetrics(): Promise<number> {
  const text = await (await fetch(`${runtime.url}/api/metrics`)).text();
  return Number(/^provisioning_jobs_stuck (\d+)$/m.exec(text)?.[1]);
}

describe('the local console', () => {
  it('lists a new checkout within a second of its webhook', async () => {
    await page.locator('#jobs').waitFor();

    const session = await checkout();
    const delivered = Date.now();
    await row(session).waitFor({ timeout: 1_000 });

    expect(Date.now() - delivered).toBeLessThan(1_000);
    expect(await row(session).locator('button.session').textContent()).toBe(session);
  });

  it('sends a simulated checkout from its button and watches it become provisioned', async () => {
    await page.getByLabel('Test checkout').selectOption('starter');
    await page.getByRole('button', { name: 'Send a test checkout' }).click();

    const result = page.locator('#checkout-result', { hasText: /^Sent cs_test_/ });
    await result.waitFor();
    const session = /cs_test_\w+/.exec((await result.textContent()) ?? '')?.[0] ?? '';
    await until(
      () => statusOf(session),
      (status) => status === 'provisioned',
    );
    await page.locator('#timeline-history li[data-kind=callback]').first().waitFor();

    expect(await row(session).getAttribute('aria-selected')).toBe('true');
    expect(await page.locator('#timeline-command').textContent()).toBe(
      `npm run ops -- show ${session} --json`,
    );
  });

  it('switches the sandbox orchestrator, and the pipeline behaves accordingly', async () => {
    const mode = page.getByLabel('Sandbox orchestrator');
    await mode.selectOption('down');
    await page.locator('#sandbox-hint', { hasText: 'Switched to down.' }).waitFor();
    const refused = await checkout();
    // The orchestrator answers 503 now: the hand-off records it for the reconciler.
    await until(
      () => row(refused).locator('td[data-label="Last error"]').textContent({ timeout: 5_000 }),
      (error) => error === 'http_5xx',
    );

    await mode.selectOption('ok');
    await page.locator('#sandbox-hint', { hasText: 'Switched to ok.' }).waitFor();
    await until(
      () => statusOf(refused),
      (status) => status === 'provisioned',
    );

    expect(await mode.inputValue()).toBe('ok');
  });

  it('shows one job’s timeline exactly as `ops show --json` reports it', async () => {
    const session = await checkout('scale');
    await until(
      () => statusOf(session),
      (status) => status === 'provisioned',
    );
    await row(session).getByRole('button', { name: session }).click();
    await page.locator('#timeline-command', { hasText: session }).waitFor();

    const ops = opsRunner({ env: { DATABASE_URL: db.connectionString }, collaborators: {} });
    const shown = await ops(['show', session, '--json']);
    const report = shown.json() as {
      job: Record<string, unknown>;
      history: {
        occurred_at: string;
        kind: string;
        from_status: string | null;
        to_status: string;
        actor: string;
      }[];
    };
    const timeline = await page.locator('#timeline-history li').evaluateAll((items) =>
      items.map((item) => ({
        occurred_at: item.querySelector('time')?.dateTime,
        kind: item.querySelector('.kind')?.textContent,
        move: item.querySelector('.move')?.textContent,
        actor: item.querySelector('.actor')?.textContent,
      })),
    );
    const facts: Record<string, string | null> = await page
      .locator('#timeline-job')
      .evaluate((list) =>
        Object.fromEntries(
          [...list.querySelectorAll('dt')].map((term) => [
            term.textContent,
            term.nextElementSibling?.textContent,
          ]),
        ),
      );

    expect(shown.code).toBe(0);
    expect(report.history.length).toBeGreaterThanOrEqual(4);
    expect(timeline).toEqual(
      report.history.map((event) => ({
        occurred_at: event.occurred_at,
        kind: event.kind,
        move: `${event.from_status ?? '–'} → ${event.to_status ?? '–'}`,
        actor: event.actor,
      })),
    );
    for (const column of [
      'id',
      'status',
      'attempts',
      'deployment_id',
      'tokens_quota',
      'updated_at',
    ])
      expect(facts[column], column).toBe(String(report.job[column]));
  });

  it('shows the STUCK gauge as the metrics route counts it', async () => {
    // An unknown package is recorded without a payload and never replayed with a guess:
    // STUCK once it has made no progress for 2 s.
    parked = await checkout('no-such-package');
    const stuck = await until(stuckOnMetrics, (n) => n >= 1);

    await until(
      () => page.locator('#stuck').textContent(),
      (shown) => Number(shown) === stuck,
    );
    expect(await page.locator('#stuck-tile').getAttribute('class')).toContain('alarm');
    for (const gauge of ['#queue-visible', '#queue-in-flight', '#dead-letters'])
      expect(await page.locator(gauge).textContent()).toMatch(/^\d+$/);
  });

  it('shows the breaker toward the orchestrator, as `ops breaker` holds it', async () => {
    const ops = opsRunner({ env: { DATABASE_URL: db.connectionString }, collaborators: {} });
    const shownClosed = await until(
      () => page.locator('#breaker-state').textContent(),
      (shown) => shown === 'closed',
    );

    const held = await ops(['breaker', 'open', '--yes', '--reason', 'browser test']);
    const shownOpen = await until(
      () => page.locator('#breaker-state').textContent(),
      (shown) => shown === 'open (held)',
    );
    const alarmed = await page.locator('#breaker-tile').getAttribute('class');
    const closed = await ops(['breaker', 'close', '--yes', '--reason', 'browser test over']);
    await until(
      () => page.locator('#breaker-state').textContent(),
      (shown) => shown === 'closed',
    );

    expect([shownClosed, held.code, shownOpen, closed.code]).toEqual([
      'closed',
      0,
      'open (held)',
      0,
    ]);
    expect(alarmed).toContain('alarm');
  });

  it('filters the jobs by status and finds one by part of its session id', async () => {
    const statusesShown = () =>
      page.locator('#jobs tbody tr').evaluateAll((rows) => rows.map((row) => row.dataset.status));
    const parkedStatus = (await statusOf(parked)) ?? '';

    await page.locator('#filters button[data-status=provisioned]').click();
    const provisioned = await until(statusesShown, (shown) =>
      shown.every((status) => status === 'provisioned'),
    );
    await page.locator(`#filters button[data-status=${parkedStatus}]`).click();
    await row(parked).waitFor();
    const others = await statusesShown();
    await page.locator('#filters button[data-status=""]').click();
    await page.getByLabel('Search by session').fill(parked.slice(-12).toUpperCase());
    await until(
      () => page.locator('#jobs tbody tr').count(),
      (rows) => rows === 1,
    );

    expect(parkedStatus).not.toBe('provisioned');
    expect(provisioned.length).toBeGreaterThanOrEqual(3);
    expect(new Set(others)).toEqual(new Set([parkedStatus]));
    expect(await page.locator('#jobs tbody tr').getAttribute('data-session')).toBe(parked);
  });

  it('refuses bad requests to its routes with an error that names what is wrong, and writes nothing', async () => {
    const jobsBefore = await db.pool.query('SELECT count(*)::int AS jobs FROM provisioning_jobs');
    const ask = async (method: string, path: string, body?: unknown) => {
      const answer = await fetch(`${runtime.url}/console/api/${path}`, {
        method,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: answer.status, error: ((await answer.json()) as { error: string }).error };
    };

    const answers = {
      mode: await ask('PUT', 'sandbox/mode', { mode: 'sideways' }),
      slug: await ask('POST', 'checkouts', { package: 'Growth Plan' }),
      notJson: await ask('POST', 'checkouts', undefined),
      status: await ask('GET', 'jobs?status=done'),
      search: await ask('GET', 'jobs?search=%25'),
      session: await ask('GET', 'jobs/not-a-session'),
      unknown: await ask('GET', 'jobs/cs_test_never_seen'),
      route: await ask('DELETE', 'jobs'),
    };

    expect(answers.mode).toEqual({ status: 400, error: expect.stringMatching(/^mode: /) });
    expect(answers.slug).toEqual({ status: 400, error: expect.stringMatching(/^package: /) });
    expect(answers.notJson).toEqual({ status: 400, error: 'body: not JSON' });
    expect(answers.status).toEqual({ status: 400, error: expect.stringMatching(/^status: /) });
    expect(answers.search).toEqual({ status: 400, error: expect.stringMatching(/^search: /) });
    expect(answers.session.status).toBe(400);
    expect(answers.unknown).toEqual({
      status: 404,
      error: 'no provisioning job for stripe_session_id cs_test_never_seen',
    });
    expect(answers.route.status).toBe(404);
    const jobsAfter = await db.pool.query('SELECT count(*)::int AS jobs FROM provisioning_jobs');
    expect(jobsAfter.rows[0]).toEqual(jobsBefore.rows[0]);
    const overview = (await (await fetch(`${runtime.url}/console/api/overview`)).json()) as {
      sandbox: { mode: string };
    };
    expect(overview.sandbox.mode).toBe('ok');
  });
});
