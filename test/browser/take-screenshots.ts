/**
 * `npx tsx test/browser/take-screenshots.ts`: the README's pictures of the status
 * widget and the local console, at desktop and phone widths, in `docs/`. It runs the
 * local runtime on a scratch embedded database, sends a few simulated checkouts (one
 * with a package nobody sells, so the STUCK gauge has something to show) and takes
 * each picture in headless Chromium once the page shows what it should.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { freePort } from '../../local/free-port.js';
import { parseLocalSettings } from '../../local/settings.js';
import { sendSimulatedCheckout } from '../../local/simulated-checkout.js';
import { startRuntimeProcess } from '../support/local-runtime-process.js';
import { launchChromium, until } from './chromium.js';

const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

const dataDir = mkdtempSync(join(tmpdir(), 'provisioning-screenshots-'));
// Run as root, PostgreSQL runs as another user, who must reach the directory.
chmodSync(dataDir, 0o755);
const runtime = await startRuntimeProcess({
  DATA_DIR: dataDir,
  DATABASE_URL: '',
  EMBEDDED_DATABASE_PORT: String(await freePort()),
  SANDBOX_DELAY_MS: '1500',
  STUCK_AFTER_SECONDS: '3',
});
const browser = await launchChromium();
try {
  const secret = parseLocalSettings({}).STRIPE_WEBHOOK_SECRET;
  const send = (packageSlug: string) =>
    sendSimulatedCheckout({ baseUrl: runtime.url, secret, packageSlug });
  const status = async (sessionId: string) =>
    (
      (await (
        await fetch(`${runtime.url}/api/provisioning/status?session_id=${sessionId}`)
      ).json()) as {
        state: string;
      }
    ).state;

  const done = await Promise.all(['starter', 'growth', 'scale'].map(send));
  await send('enterprise');
  for (const sent of done)
    await until(
      () => status(sent.sessionId),
      (state) => state === 'ready',
    );

  const running = await send('growth');
  const widgetDesktop = await browser.newPage({ viewport: DESKTOP });
  await widgetDesktop.goto(running.successUrl);
  await labelShows(widgetDesktop, 'Running: database');
  await widgetDesktop.screenshot({ path: `${DOCS}status-widget-desktop.png` });

  const widgetPhone = await browser.newPage({ viewport: PHONE });
  await widgetPhone.goto(running.successUrl);
  await labelShows(widgetPhone, 'Ready');
  await widgetPhone.screenshot({ path: `${DOCS}status-widget-phone.png` });

  const consoleDesktop = await browser.newPage({ viewport: DESKTOP });
  await consoleDesktop.goto(`${runtime.url}/#${running.sessionId}`);
  await consoleDesktop.locator('#timeline-history li[data-kind=callback]').nth(2).waitFor();
  await consoleDesktop.locator('#stuck', { hasText: '1' }).waitFor({ timeout: 10_000 });
  await consoleDesktop.screenshot({ path: `${DOCS}console-desktop.png` });

  const consolePhone = await browser.newPage({ viewport: PHONE });
  await consolePhone.goto(runtime.url);
  await consolePhone.locator('#jobs tbody tr').nth(4).waitFor();
  await consolePhone.screenshot({ path: `${DOCS}console-phone.png` });
  process.stdout.write(`screenshots written to ${DOCS}\n`);
} finally {
  await browser.close();
  await runtime.stop('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
}

function labelShows(page: Page, text: string) {
  return page
    .locator('provisioning-status [part=label]', { hasText: text })
    .waitFor({ timeout: 20_000 });
}
