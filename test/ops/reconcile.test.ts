import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { handoffMessage } from '../../functions/adapters/handoff-queue.js';
import { upsertPackage } from '../../functions/db/catalogue-repository.js';
import { writeRuntimeFile } from '../../local/runtime-file.js';
import type { DataApiBridge } from '../support/data-api-bridge.js';
import { bridgedExecutor } from '../support/executors.js';
import { PACKAGES } from '../support/handler-harness.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';
import {
  HANDOFF_QUEUE_URL,
  historyOf,
  jobColumns,
  localEnv,
  loopbackServer,
  mockStack,
  opsRunner,
  recordCheckout,
  STACK,
} from './ops-harness.js';

const TRIGGER_SECRET = 'trigger-secret-3d9a61f0c2b84e75';

let db: TestDatabase;
let bridge: DataApiBridge;
let now = new Date('2026-11-23T10:00:00.000Z');
let ops: ReturnType<typeof opsRunner>;
let stack: ReturnType<typeof mockStack>;
let sqs: AwsClientStub<SQSClient>;

// A database per test: a reconcile run claims every STALE job it finds.
beforeEach(async () => {
  db = await freshDatabase();
  for (const pkg of PACKAGES) await upsertPackage(db.executor, pkg);
  bridge = bridgedExecutor(db).bridge;
  ops = opsRunner({
    env: localEnv(db.connectionString, {
      AWS_REGION: 'us-east-1',
      PROVISIONING_TRIGGER_SECRET: TRIGGER_SECRET,
    }),
    collaborators: {
      clock: () => now,
      rdsDataClient: () => bridge.client(),
      osUser: () => 'alice',
    },
  });
  stack = mockStack();
  sqs = mockClient(SQSClient);
  sqs.resolves({});
});
afterEach(async () => {
  stack.restore();
  sqs.restore();
  await bridge.close();
  await db.close();
});

/** A job whose first hand-off is older than the STALE threshold (5 minutes). */
async function staleJob(session: string) {
  const job = await recordCheckout(db.executor, session, now);
  now = new Date(now.getTime() + 600_000);
  return job;
}

describe('ops reconcile --stack: a forced run onto the stack’s hand-off queue (runbook 4)', () => {
  it('re-drives each STALE job onto the hand-off queue as its next attempt and prints the summary', async () => {
    const job = await staleJob('cs_test_reconcile_stack');
    await recordCheckout(db.executor, 'cs_test_reconcile_nopayload', now, 'enterprise');

    const result = await ops(['reconcile', '--stack', STACK, '--yes', '--json']);

    expect(result.code).toBe(0);
    expect(result.json()).toEqual({
      event: 'provisioning.reconcile.run',
      scanned: 2,
      redriven: 1,
      still_failing: 0,
      skipped_no_payload: 1,
      capped: 0,
      breaker: 'closed',
      breaker_open_seconds: 0,
      probe_sent: false,
      stuck_total: 0,
      run: 'full',
    });
    const sent = sqs.commandCalls(SendMessageCommand).map((call) => call.args[0].input);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      QueueUrl: HANDOFF_QUEUE_URL,
      MessageGroupId: job.id,
      MessageDeduplicationId: `${job.id}:2`,
    });
    expect(handoffMessage.parse(JSON.parse(sent[0]?.MessageBody ?? ''))).toMatchObject({
      jobId: job.id,
      attempt: 2,
      triggerPayload: job.trigger_payload,
    });
    expect(await jobColumns(db.executor, job.id)).toMatchObject({ attempts: 2 });
  });

  it('claims nothing without --yes when stdin is not a terminal', async () => {
    const job = await staleJob('cs_test_reconcile_notty');

    const result = await ops(['reconcile', '--stack', STACK], { tty: false });

    expect(result.code).toBe(1);
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
    expect(await jobColumns(db.executor, job.id)).toMatchObject({ attempts: 1 });
  });
});

describe('ops reconcile locally: the queue lives in the npm start process', () => {
  it('refuses without a trigger URL, explaining why, and claims nothing', async () => {
    const job = await staleJob('cs_test_reconcile_nourl');

    const result = await ops(['reconcile', '--yes']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('the local hand-off queue lives in the npm start process');
    expect(result.stderr).toContain('RECONCILE_EVERY_SECONDS');
    expect(await jobColumns(db.executor, job.id)).toMatchObject({ attempts: 1 });
  });

  it('hands re-drives to the trigger URL the running npm start uses, found in its DATA_DIR', async () => {
    const job = await staleJob('cs_test_reconcile_runtime_file');
    const orchestrator = await loopbackServer(() => ({ status: 202, body: '{}' }));
    const DATA_DIR = mkdtempSync(join(tmpdir(), 'provisioning-ops-runtime-'));
    writeRuntimeFile(
      { DATA_DIR },
      {
        pid: process.pid,
        url: 'http://localhost:4321',
        startedAt: new Date().toISOString(),
        environment: {
          PORT: '4321',
          DATABASE_URL: db.connectionString,
          PROVISIONING_TRIGGER_URL: `${orchestrator.url}/trigger/onboarding`,
          PROVISIONING_TRIGGER_SECRET: TRIGGER_SECRET,
        },
      },
    );
    try {
      const result = await ops(['reconcile', '--yes', '--json'], { env: { DATA_DIR } });

      expect(result.code, result.stderr).toBe(0);
      expect(result.json()).toMatchObject({ redriven: 1 });
      expect(orchestrator.requests.map((request) => request.headers['idempotency-key'])).toEqual([
        job.id,
      ]);
      // The callback URL of the runtime's port, not the default one.
      expect(JSON.parse(orchestrator.requests[0]?.body ?? '{}').callback_url).toBe(
        'http://localhost:4321/api/internal/provisioning/callback',
      );
    } finally {
      await orchestrator.close();
    }
  });

  it('refuses, claiming nothing, when the npm start that left its trigger URL has stopped', async () => {
    const job = await staleJob('cs_test_reconcile_stopped_runtime');
    const DATA_DIR = mkdtempSync(join(tmpdir(), 'provisioning-ops-runtime-'));
    writeRuntimeFile(
      { DATA_DIR },
      {
        // A pid no process has: the highest Linux allows, plus one.
        pid: 4_194_305,
        url: 'http://localhost:4321',
        startedAt: new Date().toISOString(),
        environment: {
          DATABASE_URL: db.connectionString,
          PROVISIONING_TRIGGER_URL: 'http://127.0.0.1:9/trigger/onboarding',
        },
      },
    );

    const result = await ops(['reconcile', '--yes'], { env: { DATA_DIR } });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('the local hand-off queue lives in the npm start process');
    expect(await jobColumns(db.executor, job.id)).toMatchObject({ attempts: 1 });
  });

  it('with --trigger-url hands each re-drive straight to the orchestrator, signed, and records the outcome', async () => {
    const job = await staleJob('cs_test_reconcile_local');
    const orchestrator = await loopbackServer(() => ({ status: 202, body: '{}' }));
    try {
      const result = await ops([
        'reconcile',
        '--trigger-url',
        `${orchestrator.url}/trigger/onboarding`,
        '--yes',
        '--json',
      ]);

      expect(result.code).toBe(0);
      expect(result.json()).toMatchObject({ scanned: 1, redriven: 1, still_failing: 0 });
      const [trigger] = orchestrator.requests;
      expect(orchestrator.requests).toHaveLength(1);
      expect(trigger?.path).toBe('/trigger/onboarding');
      expect(trigger?.headers['idempotency-key']).toBe(job.id);
      // The stored business fields, with the callback URL the local runtime serves now.
      expect(JSON.parse(trigger?.body ?? '')).toEqual({
        ...job.trigger_payload,
        callback_url: 'http://localhost:3000/api/internal/provisioning/callback',
      });
      const { hmacHex } = await import('../../functions/core/signatures.js');
      expect(trigger?.headers['x-provisioning-signature']).toBe(
        hmacHex(TRIGGER_SECRET, `${trigger?.headers['x-provisioning-timestamp']}.${trigger?.body}`),
      );
      expect((await historyOf(db.executor, job.id)).slice(-2)).toMatchObject([
        { kind: 'redrive', actor: 'reconciler' },
        { kind: 'handoff', actor: 'handoff', reason: null },
      ]);
    } finally {
      await orchestrator.close();
    }
  });
});
