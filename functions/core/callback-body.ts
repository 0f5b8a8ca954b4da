import * as z from 'zod';
import { describeIssues } from './errors.js';
import type { CallbackReport } from './job.js';
import { jobSessionId } from './session-id.js';
import { boundedText, referenceOf } from './text.js';

/**
 * The orchestrator's callback body (SPEC 2.2), validated once the signature has been
 * checked. Unknown fields are ignored (the orchestrator may add some), and `null` reads
 * as absent, so a client that serialises empty optionals as null is not refused. The
 * contract documents (`contract/`) are generated from `callbackBody`.
 */

export const DATABASE_STATUSES = ['provisioning', 'migrating', 'ready', 'failed'] as const;
export type DatabaseStatus = (typeof DATABASE_STATUSES)[number];

/**
 * The longest orchestrator error kept: diagnostic text, never worth refusing a report
 * over its length, so a longer one is cut (up to the hard cap, which bounds what is read).
 */
const MAX_ERROR_LENGTH = 1000;
const MAX_ERROR_RECEIVED = 100_000;

// The orchestrator reports on checkout and operator jobs alike.
const sessionId = jobSessionId;
const identifier = (what: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$/, `must be ${what} (1–255 of A–Z a–z 0–9 _ . : -)`);

export const callbackBody = z
  .object({
    stripe_session_id: sessionId.describe('The session of the trigger payload being reported on'),
    status: z
      .enum(['provisioning', 'provisioned', 'failed'])
      .describe(
        'provisioning: progress (keeps the job alive); provisioned: done; failed: the saga failed',
      ),
    deployment_id: z
      .string()
      .regex(/^dpl_[A-Za-z0-9_-]{1,251}$/, 'must be a deployment id (dpl_…)')
      .nullish()
      .describe('The tenant deployment (dpl_…); required when provisioned'),
    cell_id: identifier('a cell id')
      .nullish()
      .describe('The cell hosting it; required when provisioned'),
    tokens_quota: z
      .int()
      .nonnegative()
      .nullish()
      .describe("The quota granted; 0 or absent leaves the account's quota as it is"),
    phase: boundedText(200)
      .nullish()
      .describe('The saga step under way, shown to the customer as running'),
    error: boundedText(MAX_ERROR_RECEIVED, { multiline: true })
      .transform((text) => text.slice(0, MAX_ERROR_LENGTH))
      .nullish()
      .describe(
        `Why the saga failed; kept up to ${MAX_ERROR_LENGTH} characters (tabs and line breaks allowed)`,
      ),
    database: z
      .object({ id: identifier('a database id'), status: z.enum(DATABASE_STATUSES) })
      .nullish()
      .describe("The tenant database's state, watched for stalls"),
  })
  .superRefine((body, ctx) => {
    if (body.status !== 'provisioned') return;
    for (const field of ['deployment_id', 'cell_id'] as const) {
      if (!body[field])
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: 'required when status is provisioned',
        });
    }
  })
  .meta({
    title: 'CallbackBody',
    description:
      "The orchestrator's report on a job, signed with the callback secret. Unknown fields are ignored; null reads as absent.",
    // The refinement above, as JSON Schema says it (zod cannot derive it from the code).
    if: { properties: { status: { const: 'provisioned' } }, required: ['status'] },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's keyword; an object, so never a thenable
    then: {
      properties: { deployment_id: { type: 'string' }, cell_id: { type: 'string' } },
      required: ['deployment_id', 'cell_id'],
    },
  });
export type CallbackBody = z.input<typeof callbackBody>;

/** The orchestrator's report on a tenant database, tied to the job's account. */
export interface DatabaseReport {
  readonly id: string;
  readonly status: DatabaseStatus;
}

export interface ValidCallback {
  readonly ok: true;
  readonly report: CallbackReport;
  readonly database: DatabaseReport | undefined;
}

export interface InvalidCallback {
  readonly ok: false;
  /** Names the offending field(s), e.g. `deployment_id: required when status is provisioned`. */
  readonly reason: string;
  /** The session the body claims to be about, when it says so: for the operator's trail. */
  readonly stripeSessionId: string | undefined;
}

/** Decodes and validates a (signature-checked) callback body into the job's `CallbackReport`. */
export function parseCallbackBody(raw: Uint8Array): ValidCallback | InvalidCallback {
  let text: string;
  let value: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    return invalid('body: not valid UTF-8', undefined);
  }
  try {
    value = JSON.parse(text);
  } catch {
    return invalid('body: not valid JSON', undefined);
  }
  const parsed = callbackBody.safeParse(value);
  if (!parsed.success) return invalid(describeIssues(parsed.error.issues), claimedSession(value));
  const body = parsed.data;
  return {
    ok: true,
    report: {
      stripeSessionId: body.stripe_session_id,
      status: body.status,
      deploymentId: body.deployment_id ?? undefined,
      cellId: body.cell_id ?? undefined,
      tokensQuota: body.tokens_quota ?? undefined,
      // Empty free text says nothing: it neither clears a phase nor replaces the default error.
      phase: body.phase || undefined,
      error: body.error || undefined,
    },
    database: body.database ?? undefined,
  };
}

function invalid(reason: string, stripeSessionId: string | undefined): InvalidCallback {
  return { ok: false, reason, stripeSessionId };
}

/** The session a refused body names, when it is one that can be kept in the trail as it is. */
function claimedSession(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  return referenceOf((value as Record<string, unknown>).stripe_session_id);
}
