import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import * as z from 'zod';
import { callbackSigningSecret, type SecretSource } from '../adapters/secrets.js';
import { awsConfig, awsSecrets, lazyHandler } from '../aws.js';
import { ConfigError } from '../config.js';
import { describeIssues, InvalidInputError, NotConfiguredError } from '../core/errors.js';
import { type HttpEvent, type HttpResult, header, httpErrors, rawBody } from '../http.js';
import { logger, traced } from '../observability.js';
import {
  answerTrigger,
  pause,
  runSaga,
  SANDBOX_MODES,
  type SagaJob,
  sagaJob,
  sandboxTimings,
  TRIGGER_PATH,
} from '../sandbox/sandbox-orchestrator.js';
import { lambdaHandler } from './middleware.js';

/**
 * The sandbox orchestrator of a stack deployed with `sandboxOrchestrator: true`, so a
 * deploy can be proven end to end (`ops smoke`) without the real orchestrator. Two
 * entry points: `triggerHandler` behind a function URL answers each trigger as the
 * real orchestrator must (verify, accept fast), and hands the saga to `sagaHandler`,
 * invoked asynchronously, which calls back signed through the stack's callback route.
 */

export interface SandboxTriggerDependencies {
  readonly secrets: SecretSource;
  readonly mode: (typeof SANDBOX_MODES)[number];
  readonly retryAfterSeconds: number;
  readonly delayMs: number;
  readonly clock: () => Date;
  /** Starts the saga after the answer: an asynchronous invocation in AWS. */
  readonly startSaga: (job: SagaJob) => Promise<void>;
}

export async function answerSandboxTrigger(
  deps: SandboxTriggerDependencies,
  event: HttpEvent,
): Promise<HttpResult> {
  if (event.requestContext.http.method !== 'POST' || event.rawPath !== TRIGGER_PATH) {
    return { statusCode: 404, body: '' };
  }
  const triggerSecret = await deps.secrets.get('triggerSecret');
  if (!triggerSecret) throw new NotConfiguredError('the sandbox has no trigger secret');
  const answer = await answerTrigger(
    {
      body: rawBody(event).toString('utf8'),
      signature: header(event, 'X-Provisioning-Signature'),
      timestamp: header(event, 'X-Provisioning-Timestamp'),
    },
    {
      mode: deps.mode,
      triggerSecret,
      delayMs: deps.delayMs,
      retryAfterSeconds: deps.retryAfterSeconds,
      now: deps.clock(),
      pause,
    },
  );
  // Handed on before answering: once this invocation returns, nothing more runs in it.
  if (answer.saga) await deps.startSaga(answer.saga);
  return { statusCode: answer.status, headers: { ...answer.headers }, body: answer.text };
}

export interface SandboxSagaDependencies {
  readonly secrets: SecretSource;
  readonly delayMs: number;
  readonly sagaHeartbeats: number;
  readonly clock: () => Date;
  readonly fetch?: typeof fetch;
}

export async function runSandboxSaga(deps: SandboxSagaDependencies, event: unknown): Promise<void> {
  const job = sagaJob.safeParse(event);
  if (!job.success) throw new InvalidInputError(describeIssues(job.error.issues));
  const signer = await callbackSigningSecret(deps.secrets);
  if (!signer) throw new NotConfiguredError('the sandbox has no secret to sign callbacks with');
  await runSaga(job.data, {
    callbackSecret: signer.secret,
    delayMs: deps.delayMs,
    sagaHeartbeats: deps.sagaHeartbeats,
    clock: deps.clock,
    pause,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    log: (message, extra) => logger.info(message, { ...extra }),
  });
}

const environment = sandboxTimings.extend({
  SANDBOX_MODE: z.enum(SANDBOX_MODES).default('ok'),
  SANDBOX_SAGA_FUNCTION: z.string().trim().min(1).optional(),
});

function sandboxSettings() {
  const parsed = environment.safeParse(process.env);
  if (!parsed.success) {
    throw new ConfigError(`Invalid configuration: ${describeIssues(parsed.error.issues)}`);
  }
  return parsed.data;
}

export function createSandboxTriggerHandler(deps: SandboxTriggerDependencies) {
  // Not a product route: its answers are not counted with theirs, and page nobody.
  return lambdaHandler((event: HttpEvent) => answerSandboxTrigger(deps, event)).use(httpErrors());
}

export const triggerHandler = lazyHandler(() => {
  const settings = sandboxSettings();
  const sagaFunction = settings.SANDBOX_SAGA_FUNCTION;
  if (!sagaFunction)
    throw new ConfigError('Invalid configuration: SANDBOX_SAGA_FUNCTION is required');
  const lambda = traced(new LambdaClient({}));
  return createSandboxTriggerHandler({
    secrets: awsSecrets(awsConfig()),
    mode: settings.SANDBOX_MODE,
    retryAfterSeconds: settings.SANDBOX_RETRY_AFTER_SECONDS,
    delayMs: settings.SANDBOX_DELAY_MS,
    clock: () => new Date(),
    startSaga: async (job) => {
      await lambda.send(
        new InvokeCommand({
          FunctionName: sagaFunction,
          InvocationType: 'Event',
          Payload: JSON.stringify(job),
        }),
      );
    },
  });
});

export const sagaHandler = lazyHandler(() => {
  const settings = sandboxSettings();
  const deps: SandboxSagaDependencies = {
    secrets: awsSecrets(awsConfig()),
    delayMs: settings.SANDBOX_DELAY_MS,
    sagaHeartbeats: settings.SANDBOX_SAGA_HEARTBEATS,
    clock: () => new Date(),
  };
  return lambdaHandler((event: unknown) => runSandboxSaga(deps, event));
});
