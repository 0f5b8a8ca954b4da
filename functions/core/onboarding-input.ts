import * as z from 'zod';
import { jobSessionId } from './session-id.js';

/**
 * The trigger payload (SPEC 2.3): what the hand-off POSTs to the orchestrator, stored
 * on the job as `trigger_payload` when the checkout is recorded and replayed unchanged
 * by every re-drive. The repository builds it in SQL; this schema is how it is read
 * (by an orchestrator, the sandbox, the conformance suite) and what the contract
 * documents are generated from. Unknown fields are ignored, so fields can be added
 * without breaking an orchestrator that validates with it.
 */
export const onboardingInput = z
  .object({
    job_id: z.uuid().describe('The provisioning job; also the Idempotency-Key header'),
    stripe_session_id: jobSessionId.describe(
      'The Stripe Checkout session (cs_…), or an operator session (op_…) for a comped or manual tenant',
    ),
    account_id: z.uuid().describe('The customer account the tenant belongs to'),
    package_slug: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/)
      .describe('The package bought, a row of the packages catalogue'),
    tokens_quota: z.int().positive().describe('The tokens quota the package grants'),
    customer_email: z
      .string()
      .max(254)
      .nullable()
      .describe('The e-mail given at checkout, as Stripe reported it; null when it gave none'),
    callback_url: z
      .url({ protocol: /^https?$/ })
      .meta({ pattern: '^https?://' })
      .describe('Where to POST the signed callbacks (SPEC 2.2) about this job'),
  })
  .meta({
    title: 'OnboardingInput',
    description:
      'The trigger payload POSTed to the orchestrator, signed with the trigger secret. Ignore unknown fields.',
  });

export type OnboardingInput = z.infer<typeof onboardingInput>;
