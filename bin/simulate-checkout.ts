/**
 * `npm run simulate:checkout -- --package growth`: sends the local runtime a
 * `checkout.session.completed` event signed the way Stripe signs it, as a real paid
 * checkout would, and prints where to watch it. Options: --package SLUG, --url URL,
 * --unpaid (a delayed payment method), --session cs_… (repeat a delivery), --email ADDRESS,
 * --via webhook|eventbridge (Stripe's webhook, or its EventBridge destination), --lost
 * (paid, but no event arrives: only Stripe's records hold it, for the sweep to find).
 */
import { parseArgs } from 'node:util';
import { sendSimulatedCheckout } from '../local/simulated-checkout.js';

const { values } = parseArgs({
  options: {
    package: { type: 'string', default: 'growth' },
    url: { type: 'string', default: `http://localhost:${process.env.PORT ?? 3000}` },
    session: { type: 'string' },
    email: { type: 'string', default: 'customer@example.com' },
    unpaid: { type: 'boolean', default: false },
    via: { type: 'string', default: 'webhook' },
    lost: { type: 'boolean', default: false },
  },
});
if (values.via !== 'webhook' && values.via !== 'eventbridge') {
  process.stderr.write(`--via must be webhook or eventbridge, not ${values.via}\n`);
  process.exit(2);
}
const sent = await sendSimulatedCheckout({
  baseUrl: values.url.replace(/\/+$/, ''),
  secret: process.env.STRIPE_WEBHOOK_SECRET || 'whsec_local_provisioning_handoff_demo',
  packageSlug: values.package,
  email: values.email,
  unpaid: values.unpaid,
  via: values.via,
  lost: values.lost,
  ...(values.session ? { sessionId: values.session } : {}),
});
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
