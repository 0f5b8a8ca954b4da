/**
 * `npm run simulate:checkout -- --package growth`: sends the local runtime a
 * `checkout.session.completed` event signed the way Stripe signs it, as a real paid
 * checkout would. Options: --package SLUG, --url URL, --unpaid (a delayed payment
 * method), --session cs_… (repeat a delivery), --email ADDRESS.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import Stripe from 'stripe';

const { values } = parseArgs({
  options: {
    package: { type: 'string', default: 'growth' },
    url: { type: 'string', default: `http://localhost:${process.env.PORT ?? 3000}` },
    session: { type: 'string' },
    email: { type: 'string', default: 'customer@example.com' },
    unpaid: { type: 'boolean', default: false },
  },
});
const secret = process.env.STRIPE_WEBHOOK_SECRET || 'whsec_local_provisioning_handoff_demo';
const sessionId = values.session ?? `cs_test_${randomBytes(12).toString('hex')}`;
const event = {
  id: `evt_${randomBytes(12).toString('hex')}`,
  object: 'event',
  api_version: '2025-09-30.clover',
  created: Math.floor(Date.now() / 1000),
  type: 'checkout.session.completed',
  livemode: false,
  pending_webhooks: 1,
  request: { id: null, idempotency_key: null },
  data: {
    object: {
      id: sessionId,
      object: 'checkout.session',
      mode: 'payment',
      status: 'complete',
      payment_status: values.unpaid ? 'unpaid' : 'paid',
      customer: `cus_${randomBytes(7).toString('hex')}`,
      customer_details: { email: values.email },
      metadata: { package_slug: values.package },
    },
  },
};
const payload = JSON.stringify(event);
const signature = new Stripe('sk_test_unused').webhooks.generateTestHeaderString({
  payload,
  secret,
});
const response = await fetch(`${values.url}/api/webhooks/stripe`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', 'stripe-signature': signature },
  body: payload,
});
process.stdout.write(`${response.status} ${await response.text()}\n`);
process.stdout.write(
  `session ${sessionId}\nstatus  ${values.url}/api/provisioning/status?session_id=${sessionId}\n`,
);
process.exitCode = response.ok ? 0 : 1;
