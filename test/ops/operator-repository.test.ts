import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertPackage, upsertUser } from '../../functions/db/catalogue-repository.js';
import type { SqlExecutor } from '../../functions/db/executor.js';
import {
  listAdmins,
  removeAdmin,
  storeResolvedPayload,
} from '../../functions/db/operator-repository.js';
import type { DataApiBridge } from '../support/data-api-bridge.js';
import { bridgedExecutor } from '../support/executors.js';
import { PACKAGES } from '../support/handler-harness.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';
import { historyOf, recordCheckout } from './ops-harness.js';

let db: TestDatabase;
let bridge: DataApiBridge;
const executors = new Map<string, SqlExecutor>();
const now = new Date('2026-11-23T10:00:00.000Z');

beforeAll(async () => {
  db = await freshDatabase();
  for (const pkg of PACKAGES) await upsertPackage(db.executor, pkg);
  const bridged = bridgedExecutor(db);
  bridge = bridged.bridge;
  executors.set('dataapi', bridged.executor);
  executors.set('pg', db.executor);
});
afterAll(async () => {
  await bridge.close();
  await db.close();
});

function executorNamed(name: string): SqlExecutor {
  const executor = executors.get(name);
  if (!executor) throw new Error(`no executor ${name}`);
  return executor;
}

describe.each(['dataapi', 'pg'])('the operator repository through %s, under races', (name) => {
  it('two admins removed at once leave one admin, never none', async () => {
    const executor = executorNamed(name);
    const [a, b] = [`a-${name}@example.com`, `b-${name}@example.com`];
    await upsertUser(executor, { email: a, role: 'admin' });
    await upsertUser(executor, { email: b, role: 'admin' });
    for (const admin of await listAdmins(executor)) {
      if (admin.email !== a && admin.email !== b) await removeAdmin(executor, admin.email);
    }
    // Hold one admin's row so both removals are in flight at once when it is released.
    const holder = await db.pool.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM users WHERE email = $1 FOR UPDATE', [a]);
    const removals = Promise.all([removeAdmin(executor, a), removeAdmin(executor, b)]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await holder.query('COMMIT');
    holder.release();

    const results = await removals;

    expect(results.sort()).toEqual(['last_admin', 'removed']);
    expect(await listAdmins(executor)).toHaveLength(1);
  });

  it('two operators resolving one payload at once store it once', async () => {
    const executor = executorNamed(name);
    const session = `cs_test_race_${name}`;
    const slug = `late-${name}`;
    const job = await recordCheckout(executor, session, now, slug);
    await upsertPackage(executor, { slug, tier: 'late', tokensQuota: 7 });
    const resolve = (actor: `operator:${string}`) =>
      storeResolvedPayload(
        executor,
        {
          stripeSessionId: session,
          packageSlug: slug,
          customerEmail: null,
          callbackUrl: 'https://handoff.example.com/api/internal/provisioning/callback',
          source: 'stripe_checkout_session',
          actor,
          reason: 'race',
        },
        now,
      );

    // Hold the job's row so both are in flight at once when it is released.
    const holder = await db.pool.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM provisioning_jobs WHERE id = $1 FOR UPDATE', [job.id]);
    const resolving = Promise.all([resolve('operator:a'), resolve('operator:b')]);
    await new Promise((wait) => setTimeout(wait, 200));
    await holder.query('COMMIT');
    holder.release();

    const results = await resolving;

    expect(results.map((result) => result.kind).sort()).toEqual([
      'refused_payload_present',
      'stored',
    ]);
    const resolved = (await historyOf(executor, job.id)).filter(
      (event) => event.kind === 'payload_resolved',
    );
    expect(resolved).toHaveLength(1);
  });
});
