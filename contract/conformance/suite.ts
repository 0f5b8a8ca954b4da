import { randomBytes, randomUUID } from 'node:crypto';
import type { OnboardingInput } from '../../functions/core/onboarding-input.js';
import { hmacHex, signedContent } from '../../functions/core/signatures.js';
import { HEADERS, SIGNATURE_TOLERANCE_SECONDS } from '../headers.js';
import { CallbackReceiver, type ReceivedCallback } from './callback-receiver.js';

/**
 * Drives an orchestrator's trigger endpoint through the contract (SPEC 2.2, 2.3) as the
 * hand-off does, and judges it: a signed trigger is accepted; unsigned, badly signed
 * and out-of-tolerance ones are refused with a 4xx; repeating the Idempotency-Key
 * never makes a second tenant; and the callbacks it sends back, to a receiver that
 * answers like the real callback route, are well-formed and correctly signed.
 */

export interface ConformanceOptions {
  readonly triggerUrl: string;
  /** Signs the triggers; the orchestrator verifies with it. */
  readonly triggerSecret: string;
  /** What callbacks may be signed with (the callback secret, or the trigger secret while none is set). */
  readonly callbackSecrets: readonly string[];
  /** How long to wait for the `provisioned` callback. */
  readonly timeoutMs: number;
  /** Where the callback receiver listens on 127.0.0.1 (0: any free port). */
  readonly callbackPort: number;
  /** The callback URL to put in the payload, when the orchestrator reaches the receiver another way (a tunnel). */
  readonly callbackUrl?: string | undefined;
  readonly packageSlug: string;
  readonly tokensQuota: number;
}

export interface CheckResult {
  readonly check: string;
  readonly passed: boolean;
  readonly detail: string;
}

export interface ConformanceReport {
  readonly triggerUrl: string;
  readonly callbackUrl: string;
  readonly results: readonly CheckResult[];
}

/** How far outside the tolerance the replayed and early triggers are dated. */
const SKEW_SECONDS = 2 * SIGNATURE_TOLERANCE_SECONDS;
const REQUEST_TIMEOUT_MS = 10_000;

type Answer = { readonly status: number; readonly ms: number } | { readonly error: string };

export async function runConformance(options: ConformanceOptions): Promise<ConformanceReport> {
  const receiver = new CallbackReceiver({
    port: options.callbackPort,
    secrets: options.callbackSecrets,
  });
  const listening = await receiver.start();
  try {
    const callbackUrl = options.callbackUrl ?? listening;
    const input: OnboardingInput = {
      job_id: randomUUID(),
      stripe_session_id: `cs_conformance_${randomBytes(8).toString('hex')}`,
      account_id: randomUUID(),
      package_slug: options.packageSlug,
      tokens_quota: options.tokensQuota,
      customer_email: 'conformance@example.com',
      callback_url: callbackUrl,
    };
    receiver.expect(input.stripe_session_id);
    const results = await drive(options, input, receiver);
    return { triggerUrl: options.triggerUrl, callbackUrl, results };
  } finally {
    await receiver.stop();
  }
}

async function drive(
  options: ConformanceOptions,
  input: OnboardingInput,
  receiver: CallbackReceiver,
): Promise<CheckResult[]> {
  const body = JSON.stringify(input);
  const send = (signing: Signing) => postTrigger(options.triggerUrl, body, input.job_id, signing);
  const signed = { secret: options.triggerSecret };

  const startedAt = Date.now();
  const first = await send(signed);
  const accepted = isAccepted(first);
  // A re-delivery while the saga runs (the hand-off's queue retries this way).
  const inFlightRepeat = await send(signed);
  const refusals = await refusalChecks(send, options.triggerSecret);
  const results = [result('signed trigger accepted', describeAnswer(first, accepted)), ...refusals];
  if (!accepted) {
    const skipped = 'not run: the signed trigger was not accepted';
    return [
      ...results,
      ...CALLBACK_CHECKS.map((check) => result(check, { passed: false, detail: skipped })),
    ];
  }

  const provisioned = await waitFor(
    () => validReports(receiver.received).find((r) => r.status === 'provisioned'),
    startedAt + options.timeoutMs,
  );
  const sagaMs = Date.now() - startedAt;
  results.push(
    result(
      'provisioned reported',
      provisioned
        ? {
            passed: true,
            detail: `after ${seconds(sagaMs)} (${provisioned.deploymentId}, ${provisioned.cellId})`,
          }
        : {
            passed: false,
            detail: `no valid provisioned callback within ${seconds(options.timeoutMs)}; received: ${summarise(receiver.received)}`,
          },
    ),
  );

  // A re-drive after the callback was lost: the same job, so the same tenant. Wait as
  // long as the first saga took, so a second one would have time to report.
  const lateRepeat = provisioned ? await send(signed) : undefined;
  if (provisioned) await sleep(Math.max(2_000, 1.5 * sagaMs));
  results.push(
    result(
      'repeated Idempotency-Key: same tenant',
      sameTenant(inFlightRepeat, lateRepeat, receiver.received),
    ),
  );
  results.push(result('callbacks well-formed', wellFormed(receiver.received)));
  results.push(result('callbacks correctly signed', correctlySigned(receiver.received)));
  return results;
}

/** The same trigger, each time with something an orchestrator must refuse. */
async function refusalChecks(
  send: (signing: Signing) => Promise<Answer>,
  secret: string,
): Promise<CheckResult[]> {
  const now = () => Math.floor(Date.now() / 1000);
  const probes: [string, Signing][] = [
    ['unsigned trigger refused', { secret: undefined }],
    ['badly signed trigger refused', { secret: `${secret}-wrong` }],
    [
      `replayed trigger (timestamp ${SKEW_SECONDS} s old) refused`,
      { secret, timestamp: now() - SKEW_SECONDS },
    ],
    [
      `trigger timestamped ${SKEW_SECONDS} s ahead refused`,
      { secret, timestamp: now() + SKEW_SECONDS },
    ],
  ];
  const results: CheckResult[] = [];
  for (const [check, signing] of probes)
    results.push(result(check, expectRefused(await send(signing))));
  return results;
}

const CALLBACK_CHECKS = [
  'provisioned reported',
  'repeated Idempotency-Key: same tenant',
  'callbacks well-formed',
  'callbacks correctly signed',
];

interface Signing {
  /** Undefined: sent unsigned. */
  readonly secret: string | undefined;
  /** Unix seconds to sign with; now when absent. */
  readonly timestamp?: number;
}

async function postTrigger(
  url: string,
  body: string,
  jobId: string,
  signing: Signing,
): Promise<Answer> {
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    [HEADERS.idempotencyKey]: jobId,
  };
  if (signing.secret !== undefined) {
    const timestamp = String(signing.timestamp ?? Math.floor(Date.now() / 1000));
    headers[HEADERS.timestamp] = timestamp;
    headers[HEADERS.signature] = hmacHex(signing.secret, signedContent(body, timestamp));
  }
  const sentAt = Date.now();
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    await response.body?.cancel().catch(() => undefined);
    return { status: response.status, ms: Date.now() - sentAt };
  } catch (error) {
    const cause = error instanceof Error ? (error.cause ?? error) : error;
    return { error: cause instanceof Error ? cause.message : String(cause) };
  }
}

type Verdict = { readonly passed: boolean; readonly detail: string };

function result(check: string, verdict: Verdict): CheckResult {
  return { check, ...verdict };
}

function isAccepted(answer: Answer): boolean {
  return 'status' in answer && answer.status >= 200 && answer.status < 300;
}

function describeAnswer(answer: Answer, passed: boolean): Verdict {
  if ('error' in answer) return { passed, detail: `no answer: ${answer.error}` };
  return { passed, detail: `answered ${answer.status} in ${answer.ms} ms` };
}

/** A refusal is a 4xx: a 2xx obeyed it, a 5xx tells the hand-off to try again. */
function expectRefused(answer: Answer): Verdict {
  if ('error' in answer) return { passed: false, detail: `no answer: ${answer.error}` };
  if (answer.status >= 400 && answer.status < 500) {
    return { passed: true, detail: `answered ${answer.status}` };
  }
  const why =
    answer.status < 300
      ? 'accepted it: verify the signature and its timestamp before anything else'
      : 'a refusal must be a 4xx';
  return { passed: false, detail: `answered ${answer.status}: ${why}` };
}

interface Report {
  readonly status: string;
  readonly deploymentId: string | undefined;
  readonly cellId: string | undefined;
}

function validReports(received: readonly ReceivedCallback[]): Report[] {
  return received.flatMap(({ signature, body }) =>
    signature === 'valid' && body.ok
      ? [
          {
            status: body.report.status,
            deploymentId: body.report.deploymentId,
            cellId: body.report.cellId,
          },
        ]
      : [],
  );
}

function sameTenant(
  inFlight: Answer,
  afterProvisioned: Answer | undefined,
  received: readonly ReceivedCallback[],
): Verdict {
  for (const [when, answer] of [
    ['while in flight', inFlight],
    ['after provisioned', afterProvisioned],
  ] as const) {
    if (answer && !isAccepted(answer)) {
      const { detail } = describeAnswer(answer, false);
      return {
        passed: false,
        detail: `the repeat ${when} ${detail.replace(/ in \d+ ms$/, '')}: a repeat must be accepted (2xx), or the job is parked`,
      };
    }
  }
  const deployments = new Set(
    validReports(received)
      .filter((report) => report.status === 'provisioned')
      .map((report) => report.deploymentId),
  );
  if (deployments.size > 1) {
    return {
      passed: false,
      detail: `one job, ${deployments.size} tenants: ${[...deployments].join(', ')}`,
    };
  }
  if (!afterProvisioned) return { passed: false, detail: 'not run: nothing was provisioned' };
  return {
    passed: true,
    detail: `both repeats accepted; every provisioned report names ${[...deployments][0]}`,
  };
}

function wellFormed(received: readonly ReceivedCallback[]): Verdict {
  if (received.length === 0) return { passed: false, detail: 'no callback received' };
  const malformed = received.find((callback) => !callback.body.ok || callback.answer === 404);
  if (!malformed) return { passed: true, detail: `${received.length} of ${received.length} parse` };
  const why = malformed.body.ok
    ? `a callback for ${malformed.body.report.stripeSessionId}, which was never triggered`
    : malformed.body.reason;
  return {
    passed: false,
    detail: `${countOf(received, (c) => !c.body.ok || c.answer === 404)} of ${received.length} refused: ${why}`,
  };
}

function correctlySigned(received: readonly ReceivedCallback[]): Verdict {
  if (received.length === 0) return { passed: false, detail: 'no callback received' };
  const wrong = received.filter((callback) => callback.signature !== 'valid');
  if (wrong.length === 0) {
    const untimed = countOf(received, (callback) => !callback.timestamped);
    const note = untimed
      ? ` (${untimed} without ${HEADERS.timestamp}: sign "<timestamp>.<body>")`
      : '';
    return { passed: true, detail: `${received.length} of ${received.length} verify${note}` };
  }
  return {
    passed: false,
    detail: `${wrong.length} of ${received.length} refused: signature ${wrong[0]?.signature} (answered 401)`,
  };
}

function summarise(received: readonly ReceivedCallback[]): string {
  if (received.length === 0) return 'nothing';
  return received
    .map(
      (callback) =>
        `${callback.body.ok ? callback.body.report.status : 'malformed'} (${callback.answer})`,
    )
    .join(', ');
}

function countOf<T>(items: readonly T[], predicate: (item: T) => boolean): number {
  return items.filter(predicate).length;
}

async function waitFor<T>(probe: () => T | undefined, deadline: number): Promise<T | undefined> {
  for (;;) {
    const found = probe();
    if (found !== undefined || Date.now() >= deadline) return found;
    await sleep(50);
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
