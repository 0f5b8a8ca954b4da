import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { DEFAULT_RULES } from '../../functions/core/rules.js';
import type { SqlExecutor } from '../../functions/db/executor.js';
import { recordSettledCheckout } from '../../functions/db/jobs/checkout-records.js';
import { runOps } from '../../ops/cli.js';
import {
  type CheckoutSessionReader,
  defaultCollaborators,
  type OpsCollaborators,
} from '../../ops/collaborators.js';
import { CALLBACK_URL, SECRET_ARNS } from '../support/handler-harness.js';

export const STACK = 'Provisioning-test';
export const LIFECYCLE_BUS = 'Provisioning-test-lifecycle';
export const OPERATOR_ARN = 'arn:aws:sts::123456789012:assumed-role/OnCall/alice';
export const HANDOFF_QUEUE_URL =
  'https://sqs.us-east-1.amazonaws.com/123456789012/Provisioning-test-Handoff.fifo';
export const DEAD_LETTER_QUEUE_URL =
  'https://sqs.us-east-1.amazonaws.com/123456789012/Provisioning-test-DeadLetters.fifo';

/** A stream that keeps what was written, and says whether it is a terminal. */
export class CapturedStream extends Writable {
  text = '';
  constructor(readonly isTTY = false) {
    super();
  }
  override _write(chunk: Buffer | string, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

export interface RunOptions {
  /** Lines the operator types; stdin is a terminal when `tty` (default: a terminal only if lines are given). */
  readonly input?: readonly string[];
  readonly tty?: boolean;
  readonly stderrTty?: boolean;
  readonly env?: Record<string, string>;
  readonly collaborators?: Partial<OpsCollaborators>;
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON (throws when it is not). */
  json(): unknown;
}

export interface OpsRunnerDefaults {
  readonly env: Record<string, string>;
  readonly collaborators: Partial<OpsCollaborators>;
}

/** Runs the CLI in process, as `npm run ops -- …` would, with injected streams and collaborators. */
export function opsRunner(defaults: OpsRunnerDefaults) {
  return async (argv: readonly string[], options: RunOptions = {}): Promise<RunResult> => {
    const stdin = Object.assign(new PassThrough(), {
      isTTY: options.tty ?? options.input !== undefined,
    });
    for (const line of options.input ?? []) stdin.write(`${line}\n`);
    stdin.end();
    const stdout = new CapturedStream();
    const stderr = new CapturedStream(options.stderrTty ?? false);
    const code = await runOps(
      argv,
      { stdin, stdout, stderr, env: { ...defaults.env, ...options.env } },
      { ...defaultCollaborators, ...defaults.collaborators, ...options.collaborators },
    );
    return {
      code,
      stdout: stdout.text,
      stderr: stderr.text,
      json: () => JSON.parse(stdout.text) as unknown,
    };
  };
}

/** The environment of a local run against a test database (secrets as the local runtime has them). */
export function localEnv(connectionString: string, extra: Record<string, string> = {}) {
  return { DATABASE_URL: connectionString, ...extra };
}

/** CloudFormation and STS as a deployed stack and a signed-in operator look to the CLI. */
export function mockStack(outputs: Record<string, string> = stackOutputs()): {
  cloudFormation: AwsClientStub<CloudFormationClient>;
  sts: AwsClientStub<STSClient>;
  restore(): void;
} {
  const cloudFormation = mockClient(CloudFormationClient);
  cloudFormation.rejects(
    Object.assign(new Error('Stack with id Nope does not exist'), { name: 'ValidationError' }),
  );
  cloudFormation.on(DescribeStacksCommand, { StackName: STACK }).resolves({
    Stacks: [
      {
        StackName: STACK,
        CreationTime: new Date('2026-01-01T00:00:00Z'),
        StackStatus: 'UPDATE_COMPLETE',
        Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({
          OutputKey,
          OutputValue,
        })),
      },
    ],
  });
  const sts = mockClient(STSClient);
  sts.on(GetCallerIdentityCommand).resolves({ Arn: OPERATOR_ARN, Account: '123456789012' });
  return {
    cloudFormation,
    sts,
    restore: () => {
      cloudFormation.restore();
      sts.restore();
    },
  };
}

export function stackOutputs(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    DatabaseClusterArn: 'arn:aws:rds:us-east-1:123456789012:cluster:provisioning-test',
    DatabaseSecretArn:
      'arn:aws:secretsmanager:us-east-1:123456789012:secret:provisioning-test-AbCdEf',
    HandoffQueueUrl: HANDOFF_QUEUE_URL,
    HandoffDeadLetterQueueUrl: DEAD_LETTER_QUEUE_URL,
    CallbackUrl: CALLBACK_URL,
    StripeApiKeySecretArn: SECRET_ARNS.stripeApiKey,
    CallbackSecretArn: SECRET_ARNS.callbackSecret,
    TriggerSecretArn: SECRET_ARNS.triggerSecret,
    LifecycleBusName: LIFECYCLE_BUS,
    ReconcilerQuietParameter: '/provisioning/test/reconciler-quiet',
    ...overrides,
  };
}

/** A checkout recorded by the webhook's own statement; `packageSlug` outside the catalogue gives a NULL payload. */
export async function recordCheckout(
  db: SqlExecutor,
  sessionId: string,
  now: Date,
  packageSlug = 'growth',
) {
  const { job } = await recordSettledCheckout(
    db,
    {
      stripeSessionId: sessionId,
      stripeCustomerId: 'cus_test',
      customerEmail: 'customer@example.com',
      packageSlug,
      callbackUrl: CALLBACK_URL,
    },
    now,
    DEFAULT_RULES.handoffLeaseSeconds,
  );
  return job;
}

/** A job's history as the CLI's writes leave it: kind, actor, reason. */
export async function historyOf(db: SqlExecutor, jobId: string) {
  const rows = await db.execute(
    'SELECT kind, actor, reason, detail FROM provisioning_job_events WHERE job_id = :jobId ORDER BY id',
    { jobId: { type: 'uuid', value: jobId } },
  );
  return rows as { kind: string; actor: string; reason: string | null; detail: unknown }[];
}

export async function jobColumns(db: SqlExecutor, jobId: string) {
  const [row] = await db.execute(
    `SELECT status, attempts, budget_spent, last_error, deployment_id, cell_id, tokens_quota,
       trigger_payload, last_attempt_at, next_attempt_at, parked_at, capped_at, cancelled_at,
       cancel_reason, updated_at
     FROM provisioning_jobs WHERE id = :jobId`,
    { jobId: { type: 'uuid', value: jobId } },
  );
  return row;
}

/** A Stripe Checkout Sessions reader that answers from a table, and counts its calls. */
export function fakeCheckoutSessions(
  sessions: Record<string, Awaited<ReturnType<CheckoutSessionReader['retrieve']>>>,
) {
  const keys: string[] = [];
  const factory = (apiKey: string): CheckoutSessionReader => {
    keys.push(apiKey);
    return {
      async retrieve(sessionId) {
        const session = sessions[sessionId];
        if (!session) {
          throw Object.assign(new Error(`No such checkout.session: '${sessionId}'`), {
            type: 'StripeInvalidRequestError',
            code: 'resource_missing',
          });
        }
        return session;
      },
      async listCompleted() {
        return {
          sessions: Object.values(sessions).map((session) => ({ ...session })),
          hasMore: false,
        };
      },
    };
  };
  return { factory, keys };
}

/** A loopback HTTP server answering with `answer`, keeping every request it received. */
export async function loopbackServer(
  answer: (request: IncomingMessage, body: string) => { status: number; body: string },
): Promise<{
  url: string;
  requests: { headers: IncomingMessage['headers']; body: string; path: string }[];
  close(): Promise<void>;
}> {
  const requests: { headers: IncomingMessage['headers']; body: string; path: string }[] = [];
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      requests.push({ headers: request.headers, body, path: request.url ?? '' });
      const reply = answer(request, body);
      response.writeHead(reply.status, { 'content-type': 'application/json' }).end(reply.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
