import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RULES } from '../../functions/core/rules.js';
import { DataApiExecutor } from '../../functions/db/data-api-executor.js';
import { countStuckJobs } from '../../functions/db/jobs/reconcile-claims.js';
import { DataApiBridge } from '../support/data-api-bridge.js';
import { TEST_DATA_API_TARGET } from '../support/executors.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db.close();
});

describe('an Aurora cluster resuming from zero capacity', () => {
  it('is ridden out by the executor within its time budget', async () => {
    const bridge = new DataApiBridge({ pool: db.pool });
    const executor = new DataApiExecutor(bridge.client(), TEST_DATA_API_TARGET, {
      retry: { baseDelayMs: 20, maxDelayMs: 200, budgetMs: 5_000 },
    });
    bridge.resumeFor(600);

    const stuck = await countStuckJobs(executor, new Date(), DEFAULT_RULES);

    expect(stuck).toBe(0);
    const attempts = bridge.calls.length;
    expect(attempts).toBeGreaterThan(1);
  });

  it('surfaces the resume error when it outlasts the budget', async () => {
    const bridge = new DataApiBridge({ pool: db.pool });
    const executor = new DataApiExecutor(bridge.client(), TEST_DATA_API_TARGET, {
      retry: { baseDelayMs: 20, maxDelayMs: 50, budgetMs: 200 },
    });
    bridge.resumeFor(5_000);

    await expect(countStuckJobs(executor, new Date(), DEFAULT_RULES)).rejects.toMatchObject({
      name: 'DatabaseResumingError',
      cause: { name: 'DatabaseResumingException' },
    });
  });
});
