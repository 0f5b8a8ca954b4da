import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HttpOrchestratorTrigger } from '../../functions/adapters/http-orchestrator.js';
import { EnvironmentSecretSource } from '../../functions/adapters/secrets.js';
import { measure } from './harness/figures.js';
import { pipelinePerTest, TRIGGER_SECRET } from './harness/pipeline.js';
import { VirtualTime } from './harness/virtual-time.js';

/**
 * The fault matrix is only as good as its stand-ins: these show that each one can tell
 * the product's failures apart (a swallowed re-drive, a forged trigger, a lost or
 * duplicated tenant), so the figures the suite reports could have come out otherwise.
 */

const start = pipelinePerTest();

const T0 = new Date('2026-11-23T10:00:00.000Z');

describe('virtual time', () => {
  it('runs activities in turns, in order of their wake-ups, and jumps over the quiet time between', async () => {
    const time = new VirtualTime(T0);
    const seen: string[] = [];
    const at = () => (time.now() - T0.getTime()) / 1000;
    time.spawn(async () => {
      seen.push(`a@${at()}`);
      await time.sleep(3_600_000);
      seen.push(`a@${at()}`);
    });
    time.spawn(async () => {
      await time.sleep(60_000);
      seen.push(`b@${at()}`);
    });

    const started = Date.now();
    await time.runUntil(new Date(T0.getTime() + 2 * 3_600_000));

    expect(seen).toEqual(['a@0', 'b@60', 'a@3600']);
    expect(at()).toBe(7200);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('a halted activity never resumes, and the others carry on', async () => {
    const time = new VirtualTime(T0);
    const seen: string[] = [];
    time.spawn(async () => {
      await time.halt();
      seen.push('resumed');
    });
    time.spawn(async () => {
      await time.sleep(1_000);
      seen.push('other');
    });

    await time.runUntil(new Date(T0.getTime() + 10_000));

    expect(seen).toEqual(['other']);
  });

  it('reports an activity that fails', async () => {
    const time = new VirtualTime(T0);
    time.spawn(async () => {
      throw new Error('broken activity');
    });

    await expect(time.runUntil(new Date(T0.getTime() + 1_000))).rejects.toThrow('broken activity');
  });
});

describe('the pipeline’s stand-ins', () => {
  it('the queue drops a dedup id sent again within five minutes, as SQS FIFO does, and takes it after', async () => {
    const p = await start({ script: () => ({ kind: 'unreachable' }) });
    const message = {
      jobId: randomUUID(),
      attempt: 1,
      stripeSessionId: 'cs_test_dedup',
      triggerPayload: {},
    };

    await p.h.queue.send(message);
    await p.runUntil(4 * 60);
    await p.h.queue.send(message);
    await p.runUntil(6 * 60);
    await p.h.queue.send(message);
    await p.h.queue.send({ ...message, attempt: 2 });

    expect(p.sent.map((s) => [s.message.attempt, s.swallowed])).toEqual([
      [1, false],
      [1, true],
      [1, false],
      [2, false],
    ]);
  });

  it('the orchestrator refuses a trigger not signed with the trigger secret, and says so', async () => {
    const p = await start({ script: () => ({ kind: 'unreachable' }) });
    const forged = new HttpOrchestratorTrigger({
      url: 'https://orchestrator.example.com/trigger/onboarding',
      secrets: new EnvironmentSecretSource({
        PROVISIONING_TRIGGER_SECRET: `${TRIGGER_SECRET}-not`,
      }),
      timeoutMs: 10_000,
      clock: p.time.clock,
      fetch: p.orchestrator.fetch,
    });

    const result = await forged.trigger({
      jobId: randomUUID(),
      payload: { job_id: randomUUID() },
    });

    expect(result).toMatchObject({ outcome: 'http_4xx', httpStatus: 401 });
    expect(p.orchestrator.triggers).toEqual([]);
    expect(p.orchestrator.problems).toEqual([expect.stringContaining('does not match the body')]);
  });

  it('the figures see a checkout stranded off the gauge, and a job given two tenants', async () => {
    // Accepts every trigger and never reports: after the quiet window the product
    // re-drives (leaning on the Idempotency-Key this orchestrator ignores).
    const p = await start({ script: () => ({ kind: 'accept', saga: [] }) });
    p.checkout();
    p.checkout(11 * 60);

    await p.runUntil(16 * 60);
    const figures = await measure(p);

    // The first was re-driven at the 15-minute run and minted a second tenant; the
    // second, five minutes without a word, is neither provisioned nor on the gauge yet.
    expect(figures).toMatchObject({ checkouts: 2, triggers: 3, lost: 1, duplicated: 1 });
  });
});
