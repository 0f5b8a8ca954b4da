/**
 * `npm run simulate:checkout -- --package growth`: sends the local runtime a
 * `checkout.session.completed` event signed the way Stripe signs it, as a real paid
 * checkout would, and prints where to watch it. Options: --package SLUG, --url URL,
 * --unpaid (a delayed payment method), --session cs_… (repeat a delivery), --email ADDRESS.
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
  },
});
const sent = await sendSimulatedCheckout({
  baseUrl: values.url.replace(/\/+$/, ''),
  secret: process.env.STRIPE_WEBHOOK_SECRET || 'whsec_local_provisioning_handoff_demo',
  packageSlug: values.package,
  email: values.email,
  unpaid: values.unpaid,
  ...(values.session ? { sessionId: values.session } : {}),
});
process.stdout.write(
  [
    `${sent.status} ${sent.body}`,
    `session ${sent.sessionId}`,
    `status  ${sent.statusUrl}`,
    `success ${sent.successUrl}`,
    '',
  ].join('\n'),
);
process.exitCode = sent.status >= 200 && sent.status < 300 ? 0 : 1;
