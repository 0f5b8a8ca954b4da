import { randomUUID } from 'node:crypto';
import { SendMessageCommand, type SendMessageCommandInput } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse } from 'aws-lambda';
import { afterEach } from 'vitest';
import type { SignedCallback } from '../../../contract/index.js';
import {
  deduplicationId,
  type HandoffMessage,
  handoffMessage,
} from '../../../functions/adapters/handoff-queue.js';
import { HttpOrchestratorTrigger } from '../../../functions/adapters/http-orchestrator.js';
import {
  consumerTimeoutSeconds,
  dispatchLeaseSeconds,
  reserveFor,
} from '../../../functions/core/handoff-timing.js';
import { DATA_API_RETRY_BUDGET_SECONDS } from '../../../functions/core/resume-budget.js';
import { DEFAULT_RULES, type ProvisioningRules } from '../../../functions/core/rules.js';
import { createCallbackHandler } from '../../../functions/handlers/callback.js';
import { createHandoffConsumerHandler } from '../../../functions/handlers/handoff-consumer.js';
import { createReconcileHandler } from '../../../functions/handlers/reconcile.js';
import { createStripeWebhookHandler } from '../../../functions/handlers/stripe-webhook.js';
import { ROUTES } from '../../../functions/routes.js';
import type { ReconcileSummary } from '../../../functions/services/reconcile.js';
import { parseSettings } from '../../../lib/settings.js';
import { LocalFifoQueue } from '../../../local/fifo-queue.js';
import {
  CALLBACK_URL,
  type Harness,
  handlerHarness,
  lambdaContext,
  QUEUE_URL,
} from '../../support/handler-harness.js';
import { httpEvent } from '../../support/http-events.js';
import {
  freshEvent,
  paidCheckoutFile,
  sessionOf,
  stripeSignature,
} from '../../support/stripe-fixtures.js';
import { type Script, ScriptedOrchestrator } from './scripted-orchestrator.js';
import { VirtualTime } from './virtual-time.js';

/**
 * The whole hand-off on virtual time, as the stack deploys it: Stripe's deliveries reach
 * the webhook handler, its attempt goes through the production SQS adapter onto a FIFO
 * queue with SQS's semantics (dedup by MessageDeduplicationId for five minutes, message
 * groups, visibility timeout, dead letters), pollers feed the hand-off consumer in
 * batches at the stack's concurrency, the consumer triggers the scripted orchestrator
 * through the production HTTP adapter, the orchestrator calls back through the callback
 * handler, and the reconciler runs on its schedule. Every function uses the production
 * Data API executor over the bridge to PostgreSQL, and the stack's default settings.
 */

/** The stack's defaults (lib/settings.ts), as `cdk deploy` sets them with no context. */
export const STACK = parseSettings({});
/** The reconciler's Lambda timeout (lib/provisioning-handoff.ts). */
const RECONCILE_TIMEOUT_MS = 5 * 60_000;
/** The HTTP routes' Lambda timeout. */
const ROUTE_TIMEOUT_MS = 29_000;
/** How often an idle poller asks the queue again (Lambda long-polls; a message waits at most this). */
const POLL_MS = 1_000;
/** Stripe delivers every event at least once: here, each one twice, a minute apart. */
const STRIPE_REDELIVERY_SECONDS = 60;

const WEBHOOK_SECRET = 'whsec_fault_matrix';
export const TRIGGER_SECRET = 'fault-matrix-trigger-secret';
const CALLBACK_SECRET = 'fault-matrix-callback-secret';
const TRIGGER_URL = 'https://orchestrator.example.com/trigger/onboarding';

/**
 * The consumer's timeout and the queue's visibility timeout (the claim lease) as the stack
 * derives them from the trigger timeout (lib/provisioning-handoff.ts, HandoffQueue).
 */
function stackTimings(triggerTimeoutMs: number) {
  const consumerTimeoutS =
    consumerTimeoutSeconds(triggerTimeoutMs) + DATA_API_RETRY_BUDGET_SECONDS.background;
  return { consumerTimeoutMs: consumerTimeoutS * 1000, leaseSeconds: consumerTimeoutS * 6 };
}

export interface PipelineOptions {
  readonly script: Script;
  /** Rules beyond the stack's defaults (the lease is always derived as the stack does). */
  readonly rules?: Partial<Omit<ProvisioningRules, 'handoffLeaseSeconds'>>;
  readonly triggerTimeoutMs?: number;
  /** The reconcile schedule: every 10 minutes unless said otherwise, the first run after `firstReconcileSeconds`. */
  readonly reconcileEverySeconds?: number;
  readonly firstReconcileSeconds?: number;
}

export interface ReconcileRun {
  /** Virtual epoch milliseconds at its start. */
  readonly at: number;
  readonly summary: ReconcileSummary;
}

export interface SentMessage {
  readonly at: number;
  readonly message: HandoffMessage;
  /** SQS dropped it: its dedup id was sent within the last five minutes. */
  readonly swallowed: boolean;
}

export interface Pipeline {
  readonly time: VirtualTime;
  /** Virtual epoch milliseconds when the scenario starts. */
  readonly t0: number;
  readonly h: Harness;
  readonly rules: ProvisioningRules;
  readonly orchestrator: ScriptedOrchestrator;
  /** Scheduled reconcile runs that completed, in order. */
  readonly runs: ReconcileRun[];
  /** The completed runs that started within [from, to) seconds of t0. */
  runsBetween(fromSeconds: number, toSeconds: number): ReconcileRun[];
  readonly sent: SentMessage[];
  /** Paid checkout sessions Stripe delivered (or will). */
  readonly sessions: string[];
  /**
   * What went wrong outside the product's retry model: a delivery the webhook refused, a
   * consumer invocation that failed as a whole, anything off the orchestrator's contract.
   * The figures mean something only when there is none.
   */
  problems(): string[];
  /** A paid checkout `afterSeconds` from t0; Stripe delivers it twice. Returns its session. */
  checkout(afterSeconds?: number): string;
  /** While `crashes` says so, a send to the queue kills the invocation making it, before the message is sent. */
  crashOnSend(crashes: ((message: HandoffMessage) => boolean) | undefined): void;
  /** Runs `work` as an activity `afterSeconds` from t0 (an operator at the keyboard). */
  at(afterSeconds: number, work: () => Promise<unknown>): void;
  /** Runs the scenario until `seconds` from t0. */
  runUntil(seconds: number): Promise<void>;
  close(): Promise<void>;
}

/** For a test file: each test starts its pipeline, closed after the test, pass or fail. */
export function pipelinePerTest(): (options: PipelineOptions) => Promise<Pipeline> {
  let open: Pipeline | undefined;
  afterEach(async () => {
    await open?.close();
    open = undefined;
  });
  return async (options) => {
    open = await startPipeline(options);
    return open;
  };
}

export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const triggerTimeoutMs = options.triggerTimeoutMs ?? STACK.triggerTimeoutMs;
  const timings = stackTimings(triggerTimeoutMs);
  const rules: ProvisioningRules = {
    ...DEFAULT_RULES,
    staleAfterSeconds: STACK.staleAfterSeconds,
    stuckAfterSeconds: STACK.stuckAfterSeconds,
    maxAttempts: STACK.maxAttempts,
    retryMaxDelaySeconds: STACK.retryMaxDelaySeconds,
    breakerFailureThreshold: STACK.breakerFailureThreshold,
    ...options.rules,
    handoffLeaseSeconds: timings.leaseSeconds,
  };
  const h = await handlerHarness({ rules });
  h.setSecret('stripeWebhookSecrets', WEBHOOK_SECRET);
  h.setSecret('triggerSecret', TRIGGER_SECRET);
  h.setSecret('callbackSecret', CALLBACK_SECRET);
  const time = new VirtualTime(h.now());
  const t0 = time.now();
  const random = seededRandom(9);
  const deps = { ...h.deps, clock: time.clock };
  const context = (timeoutMs: number): Context => {
    const deadline = time.now() + timeoutMs;
    return {
      ...lambdaContext(timeoutMs),
      getRemainingTimeInMillis: () => Math.max(0, deadline - time.now()),
    };
  };

  const queue = new LocalFifoQueue({
    clock: time.clock,
    visibilityTimeoutSeconds: timings.leaseSeconds,
    maxReceiveCount: STACK.handoffMaxReceiveCount,
  });
  const sent: SentMessage[] = [];
  let crashes: ((message: HandoffMessage) => boolean) | undefined;
  h.sqs.on(SendMessageCommand).callsFake(async (input: SendMessageCommandInput) => {
    const message = handoffMessage.parse(JSON.parse(input.MessageBody ?? ''));
    if (
      input.QueueUrl !== QUEUE_URL ||
      input.MessageGroupId !== message.jobId ||
      input.MessageDeduplicationId !== deduplicationId(message)
    ) {
      throw new Error(`not the queue, group or dedup id the stack uses: ${JSON.stringify(input)}`);
    }
    if (crashes?.(message)) return time.halt();
    const held = messagesHeld(queue);
    await queue.send(message);
    sent.push({ at: time.now(), message, swallowed: messagesHeld(queue) === held });
    return { MessageId: randomUUID() };
  });

  const webhook = createStripeWebhookHandler({
    ...deps,
    queue: h.queue,
    secrets: h.secrets,
    callbackUrl: CALLBACK_URL,
    stripeMode: STACK.stripeMode,
  });
  const callback = createCallbackHandler({ ...deps, secrets: h.secrets, random });
  const post = async (url: string, signed: SignedCallback) => {
    if (url !== CALLBACK_URL) return undefined;
    const answer = await callback(
      httpEvent({
        method: 'POST',
        path: ROUTES.callback.path,
        headers: { ...signed.headers },
        body: signed.body,
      }),
      context(ROUTE_TIMEOUT_MS),
    );
    return Number(answer.statusCode);
  };
  const orchestrator = new ScriptedOrchestrator({
    time,
    triggerSecret: TRIGGER_SECRET,
    callbackSecret: CALLBACK_SECRET,
    triggerTimeoutMs,
    post,
    script: options.script,
  });
  const consumer = createHandoffConsumerHandler(
    {
      ...deps,
      orchestrator: new HttpOrchestratorTrigger({
        url: TRIGGER_URL,
        secrets: h.secrets,
        timeoutMs: triggerTimeoutMs,
        clock: time.clock,
        fetch: orchestrator.fetch,
      }),
      callbackUrl: CALLBACK_URL,
      // As the stack derives it: the trigger, then a recording that may wait out a resume.
      dispatchLeaseSeconds: dispatchLeaseSeconds(
        triggerTimeoutMs,
        DATA_API_RETRY_BUDGET_SECONDS.background * 1000,
      ),
      random,
    },
    { reserveMs: reserveFor(triggerTimeoutMs) },
  );
  const reconciler = createReconcileHandler({
    ...deps,
    queue: h.queue,
    timer: time,
    settings: {
      batchSize: STACK.reconcileBatchSize,
      maxRedrivesPerSecond: STACK.reconcileMaxRedrivesPerSecond,
    },
  });

  const consumerFailures: unknown[] = [];
  // Lambda's pollers: at most `handoffMaxConcurrency` invocations at once, a batch each.
  for (let poller = 0; poller < STACK.handoffMaxConcurrency; poller += 1) {
    time.spawn(async () => {
      for (;;) {
        const batch = queue.receive();
        if (batch.Records.length === 0) {
          await time.sleep(POLL_MS);
          continue;
        }
        try {
          const response = (await consumer(batch, context(timings.consumerTimeoutMs))) as
            | SQSBatchResponse
            | undefined;
          queue.acknowledge(batch, response);
        } catch (error) {
          // As in Lambda: the whole batch returns once its visibility timeout passes.
          consumerFailures.push(error);
        }
      }
    });
  }

  const runs: ReconcileRun[] = [];
  const everyMs = (options.reconcileEverySeconds ?? 600) * 1000;
  time.spawn(
    async () => {
      for (;;) {
        time.spawn(async () => {
          const at = time.now();
          const summary = await reconciler(
            scheduledEvent(time.clock()),
            context(RECONCILE_TIMEOUT_MS),
          );
          runs.push({ at, summary });
        });
        await time.sleep(everyMs);
      }
    },
    (options.firstReconcileSeconds ?? 300) * 1000,
  );

  const sessions: string[] = [];
  const webhookRefusals: number[] = [];
  const deliver = async (body: string) => {
    const answer = await webhook(
      httpEvent({
        method: 'POST',
        path: ROUTES.stripeWebhook.path,
        headers: {
          'Content-Type': 'application/json',
          'Stripe-Signature': stripeSignature(body, WEBHOOK_SECRET, time.clock()),
        },
        body,
      }),
      context(ROUTE_TIMEOUT_MS),
    );
    if (answer.statusCode !== 200) webhookRefusals.push(Number(answer.statusCode));
  };

  return {
    time,
    t0,
    h,
    rules,
    orchestrator,
    runs,
    runsBetween: (from, to) =>
      runs.filter((run) => run.at >= t0 + from * 1000 && run.at < t0 + to * 1000),
    sent,
    sessions,
    problems: () => [
      ...webhookRefusals.map((status) => `the webhook answered ${status}`),
      ...consumerFailures.map((error) => `a consumer invocation failed: ${String(error)}`),
      ...orchestrator.problems,
    ],
    checkout(afterSeconds = 0) {
      const at = t0 + afterSeconds * 1000;
      const event = freshEvent(paidCheckoutFile('2026-07-29.dahlia'), new Date(at));
      const body = JSON.stringify(event);
      sessions.push(sessionOf(event));
      for (const delaySeconds of [0, STRIPE_REDELIVERY_SECONDS]) {
        time.spawn(() => deliver(body), at + delaySeconds * 1000 - time.now());
      }
      return sessionOf(event);
    },
    crashOnSend(predicate) {
      crashes = predicate;
    },
    at(afterSeconds, work) {
      time.spawn(work, t0 + afterSeconds * 1000 - time.now());
    },
    runUntil: (seconds) => time.runUntil(new Date(t0 + seconds * 1000)),
    close: () => h.close(),
  };
}

function messagesHeld(queue: LocalFifoQueue): number {
  const depth = queue.depth();
  return depth.visible + depth.inFlight;
}

/** What EventBridge Scheduler delivers to the reconciler. */
function scheduledEvent(now: Date) {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.scheduler',
    account: '123456789012',
    time: now.toISOString(),
    region: 'us-east-1',
    resources: ['arn:aws:scheduler:us-east-1:123456789012:schedule/default/provisioning-reconcile'],
    detail: '{}',
  };
}

/** Jitter that is the same on every run (mulberry32), so the figures are reproducible. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
