import { statusAnswer, stripeWebhookAnswer } from '../contract/bodies.js';
import { parseJson } from '../functions/core/json.js';
import type { SqlExecutor } from '../functions/db/executor.js';
import { type JobReport, readJob } from '../functions/db/jobs/operator-actions.js';
import type { Timer } from '../functions/services/reconcile.js';
import { sendSignedCheckoutEvent } from '../local/simulated-checkout.js';
import { TransportError } from './errors.js';

/**
 * One signed test checkout through a deployed stack, the way a paying customer's goes:
 * the webhook route (API Gateway, the webhook function, Aurora through the Data API,
 * SQS), the hand-off consumer and its trigger, the sandbox orchestrator's callbacks
 * through the callback route, and the status route the success page polls. Each hop
 * is timed; the database's own history times the ones inside the stack.
 */

export interface SmokeCheckout {
  readonly db: SqlExecutor;
  readonly fetch: typeof fetch;
  readonly timer: Timer;
  readonly webhookUrl: string;
  readonly statusUrl: string;
  readonly webhookSecret: string;
  readonly livemode: boolean;
  readonly sessionId: string;
  readonly packageSlug: string;
  /** How long to wait for `provisioned` once the webhook answered. */
  readonly maxWaitMs: number;
  readonly note: (text: string) => void;
}

export interface Hop {
  readonly hop: string;
  /** What it went through. */
  readonly via: string;
  readonly ms: number;
}

export interface SmokeResult {
  readonly hops: readonly Hop[];
  readonly deploymentId: string;
  /** Set when the webhook met Aurora resuming and was answered 503 first. */
  readonly resume: { readonly answered503: number; readonly waitedMs: number } | undefined;
}

/** Stripe retries a 503; so does the smoke test, with the same event, a few times. */
const WEBHOOK_TRIES = 4;

export async function runSmokeCheckout(smoke: SmokeCheckout): Promise<SmokeResult> {
  const { timer, note } = smoke;
  const started = timer.now();
  const send = (eventId?: string) =>
    sendSignedCheckoutEvent(
      { url: smoke.webhookUrl, secret: smoke.webhookSecret, fetch: smoke.fetch },
      {
        sessionId: smoke.sessionId,
        packageSlug: smoke.packageSlug,
        email: 'smoke-test@example.com',
        livemode: smoke.livemode,
        ...(eventId ? { eventId } : {}),
      },
    ).catch((error: unknown) => {
      throw new TransportError(`could not reach the webhook route ${smoke.webhookUrl}: ${error}`, [
        'Check the network path to the API (WebhookUrl output), and its custom domain’s DNS record if it has one.',
      ]);
    });

  let answer = await send();
  let resume: SmokeResult['resume'];
  for (let tries = 1; answer.status === 503 && tries < WEBHOOK_TRIES; tries += 1) {
    const waitSeconds = answer.retryAfterSeconds ?? 30;
    note(
      `webhook answered 503 (${answer.body}): sending the same event again in ${waitSeconds} s, as Stripe would`,
    );
    resume = { answered503: tries, waitedMs: (resume?.waitedMs ?? 0) + waitSeconds * 1000 };
    await timer.sleep(waitSeconds * 1000);
    answer = await send(answer.eventId);
  }
  const webhookMs = timer.now() - started;
  const outcome = stripeWebhookAnswer.safeParse(parseJson(answer.body)).data?.outcome;
  if (answer.status !== 200 || outcome !== 'recorded') {
    throw new TransportError(`the webhook route answered ${answer.status} ${answer.body}`, [
      answer.status === 400
        ? 'A signature refusal: the StripeWebhookSecretArn secret changed during the run, or another mode is served (StripeMode).'
        : 'Read the StripeWebhook function’s logs for this session.',
    ]);
  }
  note(`webhook: 200 recorded in ${seconds(webhookMs)}; waiting for the tenant…`);

  const report = await waitForProvisioned(smoke, timer.now() + smoke.maxWaitMs);
  const at = historyTimes(report);
  const statusStarted = timer.now();
  const status = await smoke.fetch(
    `${smoke.statusUrl}?session_id=${encodeURIComponent(smoke.sessionId)}`,
  );
  const statusBody = await status.text();
  const statusMs = timer.now() - statusStarted;
  if (!status.ok || statusAnswer.safeParse(parseJson(statusBody)).data?.state !== 'ready') {
    throw new TransportError(
      `the job is provisioned but the status route answered ${status.status} ${statusBody}`,
      ['Read the Status function’s logs: the success page would not show Ready.'],
    );
  }
  const deploymentId = String(report.job.deployment_id);
  return {
    resume,
    deploymentId,
    hops: [
      {
        hop: resume ? 'webhook: 200 recorded, after Aurora resumed' : 'webhook: 200 recorded',
        via: 'API Gateway → webhook function → Aurora (Data API) → SQS',
        ms: webhookMs,
      },
      {
        hop: 'trigger accepted by the orchestrator',
        via: 'SQS FIFO → hand-off consumer → signed POST to the sandbox',
        ms: at.accepted - at.recorded,
      },
      {
        hop: 'first callback (provisioning)',
        via: 'sandbox saga → callback route → callback function → Aurora',
        ms: at.firstCallback - at.accepted,
      },
      {
        hop: `provisioned (${deploymentId}, ${String(report.job.cell_id)})`,
        via: 'callback route: job provisioned and account active, one statement',
        ms: at.provisioned - at.firstCallback,
      },
      {
        hop: 'status route: ready',
        via: 'API Gateway → status function → Aurora, as the success page polls it',
        ms: statusMs,
      },
    ],
  };
}

async function waitForProvisioned(smoke: SmokeCheckout, deadline: number): Promise<JobReport> {
  for (;;) {
    const report = await readJob(smoke.db, smoke.sessionId);
    if (report?.job.status === 'provisioned') return report;
    if (smoke.timer.now() >= deadline) throw stalled(report, smoke);
    await smoke.timer.sleep(1000);
  }
}

type HistoryEvent = {
  kind?: unknown;
  to_status?: unknown;
  occurred_at?: unknown;
  detail?: unknown;
};

function historyTimes(report: JobReport) {
  const events = report.history as HistoryEvent[];
  const time = (found: HistoryEvent | undefined) => Date.parse(String(found?.occurred_at));
  const recorded = time(events.find((e) => e.kind === 'recorded'));
  const accepted = time(events.find(isAccepted));
  const firstCallback = time(events.find((e) => e.kind === 'callback'));
  const provisioned = time(
    events.find((e) => e.kind === 'callback' && e.to_status === 'provisioned'),
  );
  return { recorded, accepted, firstCallback, provisioned };
}

function isAccepted(event: HistoryEvent): boolean {
  const detail = event.detail as { outcome?: unknown } | null | undefined;
  return event.kind === 'handoff' && detail?.outcome === 'accepted';
}

/** Where the checkout stopped, from its history, and where to look next. */
function stalled(report: JobReport | undefined, smoke: SmokeCheckout): TransportError {
  const within = `within ${Math.round(smoke.maxWaitMs / 1000)} s`;
  const events = (report?.history ?? []) as HistoryEvent[];
  const handoffs = events.filter((e) => e.kind === 'handoff');
  if (!report) {
    return new TransportError(`the webhook answered recorded, but no job is readable ${within}`, [
      'The Data API reads another cluster or database than the functions write: check the DatabaseClusterArn output.',
    ]);
  }
  if (handoffs.length === 0) {
    return new TransportError(`no trigger was sent ${within}: the hand-off waits in SQS`, [
      'Look at the HandoffConsumer function’s logs and errors, the queue (HandoffBacklog alarms) and its dead-letter queue: npm run ops -- dlq list --stack NAME.',
    ]);
  }
  if (!events.some(isAccepted)) {
    return new TransportError(
      `the orchestrator did not accept the trigger ${within}: ${String(report.job.last_error)}`,
      [
        'The sandbox verifies the trigger with TriggerSecretArn, which the hand-off signs with: read the SandboxOrchestratorTrigger function’s logs.',
      ],
    );
  }
  if (!events.some((e) => e.kind === 'callback')) {
    return new TransportError(`the trigger was accepted but no callback came ${within}`, [
      'Read the SandboxOrchestratorSaga function’s logs (it calls back to CallbackUrl), and the Callback function’s.',
    ]);
  }
  // Its rows are removed when the smoke test ends: what `ops show` would print is said here.
  return new TransportError(
    `callbacks arrive but the job is ${String(report.job.status)}, not provisioned, ${within} (last_error ${String(report.job.last_error)}; last events: ${lastEvents(events)})`,
    [
      'Read the SandboxOrchestratorSaga function’s logs (what it reported), and the Callback function’s.',
    ],
  );
}

/** The last few history entries, oldest first: `callback → failed, …`. */
function lastEvents(events: readonly HistoryEvent[]): string {
  return events
    .slice(-3)
    .map((e) => (e.to_status ? `${String(e.kind)} → ${String(e.to_status)}` : String(e.kind)))
    .join(', ');
}

export function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
