/**
 * The contract kit for the orchestrator team (package export `provisioning-handoff/contract`):
 * verify a trigger, sign a callback, and the zod schemas of both bodies. The same
 * contract as documents: `openapi.json`, `onboarding-input.schema.json` and
 * `callback-body.schema.json` beside this file; in prose: docs/orchestrator-contract.md.
 */

export type { CallbackBody } from '../functions/core/callback-body.js';
export type { OnboardingInput } from '../functions/core/onboarding-input.js';
export { callbackAnswer, callbackBody, onboardingInput } from './bodies.js';
export { InvalidCallbackError, type SignedCallback, signCallback } from './callback.js';
export { HEADERS, SIGNATURE_TOLERANCE_SECONDS } from './headers.js';
export {
  type HeadersLike,
  type TriggerRequest,
  type TriggerVerification,
  type TriggerVerificationOptions,
  verifyTrigger,
} from './trigger.js';
