/**
 * `npm run simulate:checkout -- --package growth`: sends the local runtime a
 * `checkout.session.completed` event signed the way Stripe signs it, as a real paid
 * checkout would, and prints where to watch it. It takes the running `npm start`'s
 * settings (DATA_DIR/runtime.json) as `ops` does: its port, webhook secret and Stripe mode.
 */
import { parseArgs } from 'node:util';
import {
  isProcessAlive,
  readRuntimeFile,
  runtimeFilePath,
  withRuntimeSettings,
} from '../local/runtime-file.js';
import { type LocalSettings, parseLocalSettings } from '../local/settings.js';
import { sendSimulatedCheckout } from '../local/simulated-checkout.js';

const HELP = `Usage: npm run simulate:checkout -- [--package SLUG] [--session cs_…] [--unpaid] [--email ADDRESS] [--via webhook|eventbridge] [--lost] [--url URL]

Sends the running local runtime (npm start) a checkout.session.completed event,
signed as Stripe signs it, and prints the session id, its status URL and its demo
success page.

  --package SLUG    the package bought, a row of the catalogue (default growth)
  --session cs_…    repeat a delivery for this session (default: a new session)
  --unpaid          a delayed payment method: the account waits for the payment
  --email ADDRESS   the customer's e-mail (default customer@example.com)
  --via CHANNEL     webhook (default): Stripe's webhook; eventbridge: its EventBridge destination
  --lost            paid, but no event arrives: only Stripe's records hold it, for the sweep
  --url URL         where the runtime listens (default: the running npm start's)
  --help            this help

The runtime's port, webhook secret and Stripe mode are the running npm start's (it
writes them to ${runtimeFilePath(process.env)}); --url, PORT, STRIPE_WEBHOOK_SECRET and
STRIPE_MODE override them.
`;

/** One line that says what is wrong and what to do, then the exit code. */
function fail(message: string, code: number): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(code);
}

function parse() {
  return parseArgs({
    options: {
      package: { type: 'string', default: 'growth' },
      url: { type: 'string' },
      session: { type: 'string' },
      email: { type: 'string', default: 'customer@example.com' },
      unpaid: { type: 'boolean', default: false },
      via: { type: 'string', default: 'webhook' },
      lost: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}
let values: ReturnType<typeof parse>['values'];
try {
  values = parse().values;
} catch (error) {
  const [first] = (error instanceof Error ? error.message : String(error)).split('. ');
  fail(`${first}; npm run simulate:checkout -- --help lists the options`, 2);
}
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const via = values.via;
if (via !== 'webhook' && via !== 'eventbridge') {
  fail(`--via must be webhook or eventbridge, not ${via}`, 2);
}

// The running npm start's settings under this command's own, as `ops` reads them.
let settings: LocalSettings;
try {
  settings = parseLocalSettings(withRuntimeSettings(process.env));
} catch (error) {
  fail(error instanceof Error ? error.message : String(error), 2);
}
const baseUrl = (values.url ?? `http://localhost:${settings.PORT}`).replace(/\/+$/, '');

let sent: Awaited<ReturnType<typeof sendSimulatedCheckout>>;
try {
  sent = await sendSimulatedCheckout({
    baseUrl,
    secret: settings.STRIPE_WEBHOOK_SECRET,
    livemode: settings.STRIPE_MODE === 'live',
    packageSlug: values.package,
    email: values.email,
    unpaid: values.unpaid,
    via,
    lost: values.lost,
    ...(values.session ? { sessionId: values.session } : {}),
  });
} catch {
  const last = readRuntimeFile(process.env);
  const stopped = !values.url && last && !isProcessAlive(last.pid) ? ' (it has stopped)' : '';
  fail(
    `nothing answers at ${baseUrl}${stopped}: start the local runtime (npm start), or pass --url`,
    1,
  );
}
process.stdout.write(
  [
    `${sent.status} ${sent.body}`,
    `session ${sent.sessionId}${values.lost ? ' (only in Stripe’s records: the sweep finds it, every SWEEP_EVERY_SECONDS or by npm run ops -- sweep)' : ''}`,
    `status  ${sent.statusUrl}`,
    `success ${sent.successUrl}`,
    '',
  ].join('\n'),
);
process.exitCode = sent.status >= 200 && sent.status < 300 ? 0 : 1;
