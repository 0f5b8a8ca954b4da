import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

type Document = {
  name?: string;
  type?: string;
  aws?: { operation?: string };
  http?: { request?: { url?: string } };
  annotations?: Record<string, unknown>;
  subsegments?: Document[];
};

/** Every segment document the X-Ray SDK sent to the daemon, subsegments flattened. */
let documents: Document[] = [];
let daemon: Socket;
let aws: Server;
let awsUrl: string;
let trigger: string[] = [];

/** SQS, Secrets Manager and the orchestrator, as far as one hand-off needs them. */
function answer(
  target: string | undefined,
  path: string,
  body: string,
): { status: number; body: string } {
  if (target === 'AmazonSQS.SendMessage') {
    const { MessageBody } = JSON.parse(body) as { MessageBody: string };
    const md5 = createHash('md5').update(MessageBody).digest('hex');
    return { status: 200, body: JSON.stringify({ MessageId: 'm-1', MD5OfMessageBody: md5 }) };
  }
  if (target === 'secretsmanager.GetSecretValue') {
    return { status: 200, body: JSON.stringify({ SecretString: 'trigger-secret', Name: 't' }) };
  }
  if (path === '/trigger/onboarding') {
    trigger.push(body);
    return { status: 202, body: '{"accepted":true}' };
  }
  return { status: 400, body: `{"__type":"Unexpected","message":"${target ?? path}"}` };
}

beforeAll(async () => {
  daemon = createSocket('udp4');
  daemon.on('message', (message) => {
    const [, json] = message.toString().split('\n');
    const flatten = (doc: Document): Document[] => [
      doc,
      ...(doc.subsegments ?? []).flatMap(flatten),
    ];
    if (json) documents.push(...flatten(JSON.parse(json) as Document));
  });
  await new Promise<void>((resolve) => daemon.bind(0, '127.0.0.1', resolve));
  aws = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      const target = request.headers['x-amz-target'] as string | undefined;
      const reply = answer(target, request.url ?? '', body);
      response
        .writeHead(reply.status, { 'content-type': 'application/x-amz-json-1.0' })
        .end(reply.body);
    });
  });
  await new Promise<void>((resolve) => aws.listen(0, '127.0.0.1', resolve));
  awsUrl = `http://127.0.0.1:${(aws.address() as AddressInfo).port}`;
});
afterAll(async () => {
  daemon.close();
  await new Promise<void>((resolve) => aws.close(() => resolve()));
});

describe('traces of a function in Lambda (X-Ray active tracing, the Powertools Tracer)', () => {
  it('hold the invocation, each AWS SDK call and the trigger POST as subsegments, annotated with the job', async () => {
    documents = [];
    trigger = [];
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'test/support/traced-invocation.ts'],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH,
          AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
          AWS_LAMBDA_FUNCTION_NAME: 'provisioning-handoff-consumer',
          LAMBDA_TASK_ROOT: ROOT,
          _HANDLER: 'index.handler',
          _X_AMZN_TRACE_ID:
            'Root=1-6759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1',
          AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.address().port}`,
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'AKIDTRACING',
          AWS_SECRET_ACCESS_KEY: 'tracing',
          AWS_ENDPOINT_URL: awsUrl,
          HANDOFF_QUEUE_URL: `${awsUrl}/123456789012/handoff.fifo`,
          PROVISIONING_TRIGGER_URL: `${awsUrl}/trigger/onboarding`,
          PROVISIONING_TRIGGER_SECRET_ARN:
            'arn:aws:secretsmanager:us-east-1:123456789012:secret:trigger-AbCdEf',
          POWERTOOLS_LOG_LEVEL: 'SILENT',
        },
      },
    );
    const named = (name: string) => documents.filter((doc) => doc.name === name);
    // The daemon's datagrams may trail the process by a moment; the handler's closes last.
    await vi.waitFor(() => expect(named('## index.handler')).toHaveLength(1));

    expect(stdout.trim()).toBe('accepted');
    expect(trigger).toHaveLength(1);
    const handler = named('## index.handler')[0];
    expect(handler?.annotations).toMatchObject({
      jobId: '4b0c3ff8-6a2f-4c4e-9d7e-3f5f2a9c1b7e',
      stripeSessionId: 'cs_test_traced',
    });
    expect(named('SQS').map((doc) => doc.aws?.operation)).toContain('SendMessage');
    expect(named('SecretsManager').map((doc) => doc.aws?.operation)).toContain('GetSecretValue');
    expect(documents.some((doc) => doc.http?.request?.url?.endsWith('/trigger/onboarding'))).toBe(
      true,
    );
  }, 60_000);
});
