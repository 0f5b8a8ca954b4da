import * as z from 'zod';
import {
  CHECKOUT_SESSION_FIELDS,
  STRIPE_EVENT_FIELDS,
} from '../functions/core/checkout-decision.js';
import type { AccountStatus, CoarseState } from '../functions/core/coarse-state.js';
import { JOB_STATUSES } from '../functions/core/job.js';
import { onboardingInput } from '../functions/core/onboarding-input.js';
import { jobRow } from '../functions/db/jobs/job-row.js';
import type { StripeEventOutcome } from '../functions/services/checkout-handoff.js';

/**
 * Every body of the HTTP contract (SPEC 2.1 to 2.3) as a zod schema: the requests the
 * product parses (imported from where it parses them) and the answers its handlers
 * give. The OpenAPI document and the JSON Schemas in this folder are generated from
 * these, and tests hold the handlers' real answers to the generated document.
 */

export { callbackBody } from '../functions/core/callback-body.js';
export { onboardingInput } from '../functions/core/onboarding-input.js';
export { operatorJobRequest } from '../functions/services/operator-jobs.js';

/** Lists an enum's values with what each means; a `Record` so a new value cannot be left out. */
function described<T extends string>(values: Record<T, string>) {
  const names = Object.keys(values) as [T, ...T[]];
  return z.enum(names).describe(names.map((name) => `${name}: ${values[name]}`).join('; '));
}

export const errorAnswer = z
  .object({ error: z.string().describe('What is wrong, naming the field or header') })
  .meta({ title: 'Error' });

export const callbackAnswer = z
  .object({
    ok: z.literal(true),
    status: z
      .enum(JOB_STATUSES)
      .describe('The job after the report; provisioned stays provisioned'),
  })
  .meta({ title: 'CallbackAnswer' });

const COARSE_STATES: Record<CoarseState, string> = {
  queued: 'recorded, waiting for the orchestrator (or for a delayed payment)',
  running: 'the orchestrator reports progress',
  ready: 'the tenant is provisioned',
  failed: 'nothing more will happen on its own',
  unknown: 'no such session (yet)',
};

export const statusAnswer = z
  .object({
    session_id: z.string(),
    state: described(COARSE_STATES),
    phase: z.string().optional().describe('The saga step, while running'),
  })
  .meta({ title: 'StatusAnswer' });

const ACCOUNT_STATUSES: Record<AccountStatus, string> = {
  awaiting_payment: 'a delayed payment has not settled',
  pending: 'settled, tenant on its way',
  active: 'tenant provisioned',
  failed: 'the delayed payment failed',
  cancelled: 'an operator closed the job: it will never be provisioned',
};

// Timestamps are `z.date()` in the rows and ISO 8601 strings in JSON (see `jsonSchemaOf`).
const account = z
  .looseObject({
    id: z.uuid(),
    stripe_session_id: z.string(),
    stripe_customer_id: z.string().nullable(),
    email: z.string().nullable(),
    package_slug: z.string().nullable(),
    tier: z.string().nullable(),
    tokens_quota: z.int(),
    status: described(ACCOUNT_STATUSES),
    deployment_id: z.string().nullable(),
    cell_id: z.string().nullable(),
    created_at: z.date(),
    updated_at: z.date(),
  })
  .describe('The customer_accounts row');

const historyEntry = z
  .looseObject({
    id: z.int(),
    job_id: z.uuid(),
    occurred_at: z.date(),
    kind: z.string().describe('What happened: recorded, handoff, redrive, callback, rearmed, …'),
    from_status: z.string().nullable(),
    to_status: z.string().nullable(),
    actor: z.string().describe('stripe, handoff, reconciler, orchestrator, or operator:<who>'),
    reason: z.string().nullable(),
    detail: z.record(z.string(), z.unknown()).nullable(),
  })
  .describe('One transition or operator action, oldest first');

export const jobReport = z
  .object({
    job: jobRow
      .extend({ id: z.uuid(), account_id: z.uuid(), trigger_payload: onboardingInput.nullable() })
      .loose()
      .describe('The provisioning_jobs row, every column'),
    account,
    history: z.array(historyEntry),
  })
  .meta({ title: 'JobReport' });

export const jobCreateAnswer = z
  .object({
    jobId: z.uuid(),
    statusUrl: z.string().describe('The status route for the job, relative to the API'),
  })
  .meta({ title: 'JobCreateAnswer' });

export const stripeEvent = z
  .looseObject({
    ...STRIPE_EVENT_FIELDS,
    data: z.looseObject({
      object: z
        .looseObject(CHECKOUT_SESSION_FIELDS)
        .partial()
        .describe('The fields read from a checkout session, with their limits'),
    }),
  })
  .meta({
    title: 'StripeEvent',
    description:
      "A Stripe event exactly as Stripe sends it (https://docs.stripe.com/api/events/object). Checkout sessions are this product's when they carry metadata.package_slug. Every text field read has a length cap and refuses control characters (SPEC 2.5a).",
  });

const STRIPE_OUTCOMES: Record<StripeEventOutcome['outcome'], string> = {
  recorded: 'a job was recorded and handed off',
  duplicate: 'this session or event was handled before',
  ignored: "not an event or session of this product's",
  awaiting_payment: 'a delayed payment: the account waits',
  payment_failed: 'the delayed payment failed',
};

export const stripeWebhookAnswer = z
  .object({ received: z.literal(true), outcome: described(STRIPE_OUTCOMES) })
  .meta({ title: 'StripeWebhookAnswer' });
