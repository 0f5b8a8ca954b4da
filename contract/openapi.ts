import * as z from 'zod';
import { jobSessionId } from '../functions/core/session-id.js';
import { LOCAL_ROUTES, ROUTES, type Route, type RouteName } from '../functions/routes.js';
import packageJson from '../package.json' with { type: 'json' };
import {
  callbackAnswer,
  callbackBody,
  errorAnswer,
  jobCreateAnswer,
  jobReport,
  onboardingInput,
  operatorJobRequest,
  statusAnswer,
  stripeEvent,
  stripeWebhookAnswer,
} from './bodies.js';
import { HEADERS, SIGNATURE_TOLERANCE_SECONDS } from './headers.js';

/**
 * The OpenAPI 3.1 document of the HTTP contract, built from the zod schemas of
 * `bodies.ts`: every route of SPEC 2.1 (`functions/routes.ts`) under `paths`, and the
 * trigger the product sends to the orchestrator (SPEC 2.3) under `webhooks`.
 * `npm run contract:generate` writes it to `contract/openapi.json`, which the
 * `GET /api/openapi.json` route serves; a test fails when the two drift.
 */

type JsonSchema = Record<string, unknown>;

/**
 * A body as it travels, in JSON Schema 2020-12: what a sender writes (the input side of
 * any transform), objects open to fields added later, timestamps as ISO 8601 strings.
 */
export function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: ({ zodSchema }) =>
      zodSchema._zod.def.type === 'date' ? { type: 'string', format: 'date-time' } : 'throw',
  });
}

/** A component: JSON Schema 2020-12 is OpenAPI 3.1's dialect, so only `$schema` goes. */
function component(schema: JsonSchema): JsonSchema {
  const { $schema: _dialect, ...rest } = schema;
  return rest;
}

const SCHEMAS = {
  OnboardingInput: component(jsonSchemaOf(onboardingInput)),
  CallbackBody: component(jsonSchemaOf(callbackBody)),
  JobCreateRequest: component(jsonSchemaOf(operatorJobRequest)),
  StripeEvent: component(jsonSchemaOf(stripeEvent)),
  CallbackAnswer: component(jsonSchemaOf(callbackAnswer)),
  StatusAnswer: component(jsonSchemaOf(statusAnswer)),
  JobReport: component(jsonSchemaOf(jobReport)),
  JobCreateAnswer: component(jsonSchemaOf(jobCreateAnswer)),
  StripeWebhookAnswer: component(jsonSchemaOf(stripeWebhookAnswer)),
  Error: component(jsonSchemaOf(errorAnswer)),
};
type SchemaName = keyof typeof SCHEMAS;

const ref = (name: SchemaName) => ({ $ref: `#/components/schemas/${name}` });
const jsonBody = (name: SchemaName) => ({ content: { 'application/json': { schema: ref(name) } } });
const answer = (description: string, name: SchemaName) => ({ description, ...jsonBody(name) });
const refusal = (description: string) => answer(description, 'Error');
const parameter = (name: string) => ({ $ref: `#/components/parameters/${name}` });

const sessionIdSchema = component(jsonSchemaOf(jobSessionId));

const SECURITY_SCHEMES = {
  stripeSignature: {
    type: 'apiKey',
    in: 'header',
    name: 'Stripe-Signature',
    description:
      "Stripe's webhook signature, verified with Stripe's library against every live webhook secret.",
  },
  callbackSignature: {
    type: 'apiKey',
    in: 'header',
    name: HEADERS.signature,
    description: `Lowercase hex HMAC-SHA256 of "<timestamp>.<body>" with the callback secret (or the trigger secret while none is set); the ${HEADERS.timestamp} must be within ${SIGNATURE_TOLERANCE_SECONDS} s of now, either way. Only a deployment with requireCallbackTimestamp=false (an orchestrator migrating) accepts a signature over the raw body alone, without the timestamp.`,
  },
  triggerSignature: {
    type: 'apiKey',
    in: 'header',
    name: HEADERS.signature,
    description: `Lowercase hex HMAC-SHA256 of "<timestamp>.<body>" with the trigger secret; refuse it when ${HEADERS.timestamp} is more than ${SIGNATURE_TOLERANCE_SECONDS} s away from now.`,
  },
  awsIam: {
    type: 'apiKey',
    in: 'header',
    name: 'Authorization',
    description:
      'AWS Signature Version 4: IAM-authorised requests in AWS. The local runtime does not check it.',
    'x-amazon-apigateway-authtype': 'awsSigv4',
  },
};

const PARAMETERS = {
  ProvisioningTimestamp: {
    name: HEADERS.timestamp,
    in: 'header',
    required: true,
    description: `Unix seconds; the signature covers "<timestamp>.<body>" and must be within ${SIGNATURE_TOLERANCE_SECONDS} s of now.`,
    schema: { type: 'string', pattern: '^[0-9]{1,12}$' },
  },
  IdempotencyKey: {
    name: HEADERS.idempotencyKey,
    in: 'header',
    required: true,
    description: 'The same key and body are the same job; the same key with another body is a 409.',
    schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
  },
};

const transient = 'A transient fault: nothing was written that a retry would repeat; retry.';

/** One operation per route of `functions/routes.ts`: a `Record`, so a new route cannot go undocumented. */
const OPERATIONS: Record<RouteName, Record<string, unknown>> = {
  stripeWebhook: {
    operationId: 'receiveStripeEvent',
    tags: ['stripe'],
    summary: 'Stripe webhook: a settled checkout becomes exactly one provisioning job',
    security: [{ stripeSignature: [] }],
    requestBody: { required: true, ...jsonBody('StripeEvent') },
    responses: {
      200: answer('Every verified event, ignored types included.', 'StripeWebhookAnswer'),
      400: refusal(
        "A missing or malformed Stripe-Signature, one that does not verify or is further from now than Stripe's tolerance (300 s) either way; an unreadable event (a field over its limit or with a control character); or an event of the other Stripe mode. The message names the header or the field.",
      ),
      500: refusal(`${transient} Stripe retries.`),
      503: refusal('The Stripe webhook secret is not configured.'),
    },
  },
  callback: {
    operationId: 'reportProvisioning',
    tags: ['orchestrator'],
    summary: "The orchestrator's signed report on a job (SPEC 2.2)",
    description:
      'Replays are idempotent; a provisioned job is never downgraded by a later failed or provisioning report.',
    security: [{ callbackSignature: [] }],
    parameters: [parameter('ProvisioningTimestamp')],
    requestBody: { required: true, ...jsonBody('CallbackBody') },
    responses: {
      200: answer('Applied (or already applied).', 'CallbackAnswer'),
      400: refusal(
        'The body is malformed (a field over its limit or with a control character included); the message names the field.',
      ),
      401: refusal(
        `The signature or its timestamp is missing, malformed, more than ${SIGNATURE_TOLERANCE_SECONDS} s away or does not match.`,
      ),
      404: refusal('no provisioning job for stripe_session_id'),
      500: refusal(transient),
      503: refusal('No callback or trigger secret is configured; retry later.'),
    },
  },
  status: {
    operationId: 'readProvisioningStatus',
    tags: ['checkout'],
    summary: "The checkout success page's coarse state; reveals nothing else",
    parameters: [{ name: 'session_id', in: 'query', required: true, schema: sessionIdSchema }],
    responses: {
      200: answer('The coarse state, unknown sessions included.', 'StatusAnswer'),
      400: refusal('session_id is missing or not a session id.'),
    },
  },
  jobRead: {
    operationId: 'readProvisioningJob',
    tags: ['operator'],
    summary: 'A job with its account and history',
    security: [{ awsIam: [] }],
    parameters: [
      { name: 'stripe_session_id', in: 'path', required: true, schema: sessionIdSchema },
    ],
    responses: {
      200: answer('The job, its account and its history.', 'JobReport'),
      400: refusal('stripe_session_id is not a session id.'),
      404: refusal('no provisioning job for stripe_session_id'),
    },
  },
  jobCreate: {
    operationId: 'createProvisioningJob',
    tags: ['operator'],
    summary: 'A comped or manual tenant: recorded and handed off like a paid checkout',
    security: [{ awsIam: [] }],
    parameters: [parameter('IdempotencyKey')],
    requestBody: { required: true, ...jsonBody('JobCreateRequest') },
    responses: {
      202: answer('Recorded and handed off (or the same request seen before).', 'JobCreateAnswer'),
      400: refusal(
        'A missing Idempotency-Key, a malformed body, or a package not in the catalogue.',
      ),
      409: refusal('This Idempotency-Key was used with a different body.'),
    },
  },
  openApi: {
    operationId: 'readOpenApiDocument',
    tags: ['contract'],
    summary: 'This document',
    responses: {
      200: {
        description: 'The OpenAPI 3.1 document of these routes.',
        content: { 'application/json': { schema: { type: 'object' } } },
      },
    },
  },
};

const LOCAL_OPERATIONS: Record<keyof typeof LOCAL_ROUTES, Record<string, unknown>> = {
  metrics: {
    operationId: 'readMetrics',
    tags: ['local runtime'],
    summary: 'Prometheus text: provisioning_jobs_stuck and the counters (local runtime only)',
    'x-local-runtime-only': true,
    responses: {
      200: { description: 'Prometheus exposition format.', content: { 'text/plain': {} } },
    },
  },
};

/** The trigger the product sends to `$PROVISIONING_TRIGGER_URL` (SPEC 2.3). */
const TRIGGER = {
  post: {
    operationId: 'triggerOnboarding',
    tags: ['orchestrator'],
    summary: 'The hand-off: provision the tenant of this job, then report to callback_url',
    description: `POSTed by the hand-off to the orchestrator's trigger URL, again on every re-drive with the same body and ${HEADERS.idempotencyKey}: the same job must never make a second tenant. Verify the signature before anything else.`,
    security: [{ triggerSignature: [] }],
    parameters: [
      parameter('ProvisioningTimestamp'),
      {
        ...PARAMETERS.IdempotencyKey,
        description: 'The job id (job_id of the body): deduplicate on it.',
        schema: { type: 'string', format: 'uuid' },
      },
    ],
    requestBody: { required: true, ...jsonBody('OnboardingInput') },
    responses: {
      '2XX': { description: 'Accepted: the orchestrator will report to callback_url.' },
      408: { description: 'Transient: re-driven later with backoff and jitter.' },
      429: { description: 'Transient: re-driven later; a Retry-After header is honoured.' },
      '4XX': {
        description:
          'Any other 4xx is permanent: the job is parked for an operator and not sent again.',
      },
      '5XX': { description: 'Transient: re-driven later with backoff and jitter.' },
    },
  },
};

function pathsOf(
  routes: Record<string, Route>,
  operations: Record<string, Record<string, unknown>>,
): Record<string, Record<string, unknown>> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [name, route] of Object.entries(routes)) {
    paths[route.path] = { ...paths[route.path], [route.method.toLowerCase()]: operations[name] };
  }
  return paths;
}

export function buildOpenApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Provisioning hand-off',
      version: packageJson.version,
      summary: 'From a settled Stripe checkout to a tenant, exactly once.',
      description:
        'The routes the product serves (the same in AWS and in the local runtime), and under webhooks the trigger it sends to the orchestrator. The orchestrator side is explained step by step in docs/orchestrator-contract.md; the TypeScript kit is the package export "./contract".',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    tags: [
      { name: 'stripe', description: 'Called by Stripe' },
      { name: 'orchestrator', description: 'The trigger and callback contract (SPEC 2.2, 2.3)' },
      { name: 'checkout', description: 'Called by the checkout success page' },
      { name: 'operator', description: 'Operators (IAM-authorised in AWS)' },
      { name: 'contract', description: 'This contract, for tools' },
      { name: 'local runtime', description: 'Served by `npm start` only' },
    ],
    paths: { ...pathsOf(ROUTES, OPERATIONS), ...pathsOf(LOCAL_ROUTES, LOCAL_OPERATIONS) },
    webhooks: { onboardingTrigger: TRIGGER },
    components: { schemas: SCHEMAS, parameters: PARAMETERS, securitySchemes: SECURITY_SCHEMES },
  };
}

/** The standalone JSON Schemas (2020-12) of the two bodies an orchestrator handles. */
export function buildJsonSchemas(): Record<string, JsonSchema> {
  return {
    'onboarding-input.schema.json': jsonSchemaOf(onboardingInput),
    'callback-body.schema.json': jsonSchemaOf(callbackBody),
  };
}
