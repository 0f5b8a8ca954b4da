import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/free-port.js';
import { sendSimulatedCheckout } from '../../local/simulated-checkout.js';
import { type RuntimeProcess, startRuntimeProcess } from '../support/local-runtime-process.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';
import { launchChromium, pageErrors } from './chromium.js';

/**
 * The checkout success page as a paying customer sees it: the demo page of the local
 * runtime (`/success?session_id=…`) in headless Chromium, its `<provisioning-status>`
 * polling the real status route while the real pipeline provisions.
 */
const WEBHOOK_SECRET = 'whsec_browser_widget';
const BASE = { STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, SANDBOX_DELAY_MS: '10' };

let browser: Browser;
let runtime: RuntimeProcess | undefined;
let db: TestDatabase | undefined;

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});
afterEach(async () => {
  await runtime?.stop('SIGTERM');
  runtime = undefined;
  await db?.close();
  db = undefined;
});

async function start(env: Record<string, string>): Promise<RuntimeProcess> {
  db ??= await freshDatabase({ migrated: false });
  runtime = await startRuntimeProcess({ ...BASE, DATABASE_URL: db.connectionString, ...env });
  return runtime;
}

const newSession = () => `cs_test_${randomBytes(10).toString('hex')}`;

function checkout(url: string, sessionId: string) {
  return sendSimulatedCheckout({
    baseUrl: url,
    secret: WEBHOOK_SECRET,
    packageSlug: 'growth',
    sessionId,
  });
}

/** The widget's parts, read through its open shadow root as a person sees them. */
function widget(page: Page) {
  const label = page.locator('provisioning-status [part=label]');
  return {
    label,
    note: page.locator('provisioning-status [part=note]'),
    host: page.locator('provisioning-status'),
    shows: (text: string | RegExp, timeout = 20_000) =>
      page.locator('provisioning-status [part=label]', { hasText: text }).waitFor({ timeout }),
  };
}

/** Every label the widget shows from now on, in order, recorded in the page itself. */
async function recordLabels(page: Page): Promise<() => Promise<string[]>> {
  await page.evaluate(`(() => {
    const label = document.querySelector('provisioning-status').shadowRoot.querySelector('[part=label]');
    const seen = [label.textContent.trim()];
    new MutationObserver(() => {
      const text = label.textContent.trim();
      if (seen[seen.length - 1] !== text) seen.push(text);
    }).observe(label, { subtree: true, childList: true, characterData: true });
    window.seenLabels = seen;
  })()`);
  return () => page.evaluate('window.seenLabels') as Promise<string[]>;
}

describe('the status widget on the checkout success page', () => {
  it('walks the customer through Request sent, Queued, Running: <phase> and Ready', async () => {
    // Each callback of the sandbox waits 2 s and the widget polls about every second, so
    // each state is on screen for a poll or two.
    const { url } = await start({ SANDBOX_DELAY_MS: '2000' });
    const sessionId = newSession();
    const page = await browser.newPage();
    const errors = pageErrors(page);
    const view = widget(page);

    // Stripe redirects to the success page, often before its webhook has arrived.
    await page.goto(`${url}/success?session_id=${sessionId}`);
    await view.shows('Request sent');
    const labels = await recordLabels(page);
    expect((await checkout(url, sessionId)).status).toBe(200);
    await view.shows('Ready', 30_000);

    const seen = await labels();
    const running = seen.slice(2, -1);
    expect(seen.slice(0, 2)).toEqual(['Request sent', 'Queued']);
    expect(seen.at(-1)).toBe('Ready');
    // The phases as the orchestrator reported them, in order; on a loaded machine a poll
    // can come late and see only the later one, never none.
    expect(running.length).toBeGreaterThan(0);
    expect(running).toEqual(
      ['Running: cell', 'Running: database'].filter((label) => running.includes(label)),
    );
    const live = page.getByRole('status');
    expect(await live.getAttribute('aria-live')).toBe('polite');
    expect(await live.textContent()).toContain('Your workspace is ready.');
    expect(await view.host.getAttribute('state')).toBe('ready');
    expect(await page.getByRole('link', { name: 'Continue to the console' }).isVisible()).toBe(
      true,
    );
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);

  it('shows Failed, and stops polling, for a job that will never be provisioned', async () => {
    // Every saga fails and one attempt is all the budget: nothing more will happen on its own.
    const { url } = await start({ SANDBOX_ORCHESTRATOR: 'fail', MAX_ATTEMPTS: '1' });
    const sessionId = newSession();
    await checkout(url, sessionId);
    const page = await browser.newPage();
    const errors = pageErrors(page);
    const view = widget(page);
    const polls: string[] = [];
    page.on('request', (request) => {
      if (request.url().includes('/api/provisioning/status')) polls.push(request.url());
    });

    await page.goto(`${url}/success?session_id=${sessionId}`);
    await view.shows(/^Failed: /);
    const pollsAtFailure = polls.length;
    await page.waitForTimeout(2_500);

    expect(await view.host.getAttribute('state')).toBe('failed');
    expect(await page.getByRole('status').textContent()).toContain('Our team has been alerted');
    expect(await page.getByRole('link', { name: 'support@example.com' }).isVisible()).toBe(true);
    expect(polls.length).toBe(pollsAtFailure);
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);

  it('says it is still working while the runtime is away, and shows Ready once it answers again', async () => {
    const port = await freePort();
    // Both runs listen on this address (the helper's own `url` names another port).
    const url = `http://localhost:${port}`;
    // A silent orchestrator accepts the trigger and never calls back: the job stays queued,
    // due again a second after the acceptance (no reconcile runs meanwhile).
    const first = await start({
      PORT: String(port),
      SANDBOX_ORCHESTRATOR: 'silent',
      STALE_AFTER_SECONDS: '1',
    });
    const sessionId = newSession();
    await checkout(url, sessionId);
    const page = await browser.newPage();
    const errors = pageErrors(page);
    const view = widget(page);
    await page.goto(`${url}/success?session_id=${sessionId}`);
    await view.shows('Queued');

    // The runtime goes away: the page's polls are refused.
    expect(await first.stop('SIGTERM')).toBe(0);
    await view.note.filter({ hasText: 'Still working' }).waitFor({ timeout: 15_000 });
    const labelWhileAway = await view.label.textContent();
    // It comes back on the same address, with an orchestrator that answers; the
    // reconciler re-drives the job within a second or two.
    await start({
      PORT: String(port),
      SANDBOX_ORCHESTRATOR: 'ok',
      RECONCILE_EVERY_SECONDS: '1',
      STALE_AFTER_SECONDS: '1',
    });
    await view.shows('Ready', 40_000);

    expect(labelWhileAway?.trim()).toBe('Queued');
    expect((await view.note.textContent())?.trim()).toBe('');
    expect(errors).toEqual([]);
    await page.close();
  }, 90_000);

  it('follows a changed session-id, and stops polling once removed, even mid-request', async () => {
    // No runtime: the browser answers for a made-up origin, each answer chosen, each
    // status answer 300 ms late so that a request is in flight when the element goes.
    const origin = 'http://shop.test';
    const widgetSource = await readFile(
      new URL('../../web/provisioning-status.js', import.meta.url),
    );
    const asked: string[] = [];
    const page = await browser.newPage();
    const errors = pageErrors(page);
    await page.route(`${origin}/**`, async (route) => {
      const url = new URL(route.request().url());
      if (url.pathname === '/provisioning-status.js')
        return route.fulfill({ contentType: 'text/javascript', body: widgetSource });
      if (url.pathname === '/api/provisioning/status') {
        const session = url.searchParams.get('session_id') ?? '';
        asked.push(session);
        await new Promise((resolve) => setTimeout(resolve, 300));
        const answer =
          session === 'cs_test_second' ? { state: 'running', phase: 'cell' } : { state: 'queued' };
        // The page may have aborted it meanwhile.
        return route.fulfill({ json: { session_id: session, ...answer } }).catch(() => {});
      }
      return route.fulfill({
        contentType: 'text/html',
        body: '<script type="module" src="/provisioning-status.js"></script><provisioning-status></provisioning-status>',
      });
    });
    const view = widget(page);

    await page.goto(`${origin}/thanks?session_id=cs_test_first`);
    await view.shows('Queued');
    await page.evaluate(
      `document.querySelector('provisioning-status').setAttribute('session-id', 'cs_test_second')`,
    );
    await view.shows('Running: cell');
    await page.waitForRequest((request) => request.url().includes('/api/provisioning/status'));
    await page.evaluate(`document.querySelector('provisioning-status').remove()`);
    const askedWhenRemoved = asked.length;
    await page.waitForTimeout(2_500);

    expect(asked[0]).toBe('cs_test_first');
    expect(asked.at(-1)).toBe('cs_test_second');
    expect(asked.length).toBe(askedWhenRemoved);
    expect(errors).toEqual([]);
    await page.close();
  });
});
