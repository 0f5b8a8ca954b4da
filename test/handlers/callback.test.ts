import { createHmac } from 'node:crypto';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TelemetryRegistry } from '../../functions/adapters/telemetry.js';
import { DEFAULT_RULES } from '../../functions/core/rules.js';
import type { SqlExecutor } from '../../functions/db/executor.js';
import { recordSettledCheckout } from '../../functions/db/jobs/checkout-records.js';
import { createCallbackHandler } from '../../functions/handlers/callback.js';
import type { CallbackDependencies } from '../../functions/services/callback.js';
import {
  CALLBACK_URL,
  CapturingLog,
  type Harness,
  handlerHarness,
  lambdaContext,
} from '../support/handler-harness.js';
import { httpEvent } from '../support/http-events.js';

const CALLBACK_PATH = '/api/internal/provisioning/callback';
const CALLBACK_SECRET = 'callback-secret-7f3a9c2e51d84b06';
const TRIGGER_SECRET = 'trigger-secret-0b6e4d2a9c8f1357';
const GROWTH_QUOTA = 1_100_000;

let h: Harness;

beforeAll(async () => {
  h = await handlerHarness();
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  h.setSecret('callbackSecret', CALLBACK_SECRET);
  h.setSecret('triggerSecret', TRIGGER_SECRET);
  h.eventBridge.reset();
  h.eventBridge.resolves({ FailedEntryCount: 0, Entries: [] });
});

/** A callback handler with its own counters and log, so each test reads only its own. */
function callbackRoute(overrides: Partial<CallbackDependencies> = {}) {
  const telemetry = new TelemetryRegistry();
  const log = new CapturingLog();
  const handler = createCallbackHandler({
    ...h.deps,
    telemetry,
    log,
    secrets: h.secrets,
    ...overrides,
  });
  const send = async (event: ReturnType<typeof httpEvent>) => {
    const response = await handler(event, lambdaContext());
    return { statusCode: response.statusCode, body: JSON.parse(response.body ?? '{}') };
  };
  return { send, telemetry, log };
}

function hmac(secret: string, content: string): string {
  return createHmac('sha256', secret).update(content, 'utf8').digest('hex');
}

interface Signing {
  readonly secret?: string;
  /** Sends `X-Provisioning-Timestamp` this many seconds before now (default 0; negative: ahead); the signature covers `"<timestamp>.<body>"`. */
  readonly timestampAge?: number;
  /** No timestamp: the signature covers the body alone (refused unless the route allows it). */
  readonly untimed?: boolean;
  /** Sent instead of the computed signature (undefined with `unsigned`). */
  readonly signature?: string;
  readonly unsigned?: boolean;
  readonly base64?: boolean;
}

/** A callback as the orchestrator sends it: the JSON body signed with the callback secret. */
function callback(body: unknown, signing: Signing = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const timestamp = signing.untimed
    ? undefined
    : String(Math.floor(h.now().getTime() / 1000) - (signing.timestampAge ?? 0));
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (timestamp !== undefined) headers['X-Provisioning-Timestamp'] = timestamp;
  if (!signing.unsigned) {
    headers['X-Provisioning-Signature'] =
      signing.signature ??
      hmac(
        signing.secret ?? CALLBACK_SECRET,
        timestamp === undefined ? text : `${timestamp}.${text}`,
      );
  }
  return httpEvent({
    method: 'POST',
    path: CALLBACK_PATH,
    headers,
    body: text,
    ...(signing.base64 ? { base64: true } : {}),
  });
}

let sessions = 0;
/** A settled checkout for the growth package, recorded as the webhook would. */
async function recordedJob() {
  sessions += 1;
  const stripeSessionId = `cs_test_callback_${sessions}`;
  const { job } = await recordSettledCheckout(
    h.deps.db,
    {
      stripeSessionId,
      stripeCustomerId: 'cus_callback',
      customerEmail: 'buyer@example.com',
      packageSlug: 'growth',
      callbackUrl: CALLBACK_URL,
    },
    h.now(),
    DEFAULT_RULES.handoffLeaseSeconds,
  );
  return { sessionId: stripeSessionId, jobId: job.id, accountId: job.account_id };
}

async function rowsOf(sessionId: string) {
  const job = await h.db.pool.query(
    `SELECT status, phase, last_error, deployment_id, cell_id, tokens_quota, heartbeat_at, provisioned_at
     FROM provisioning_jobs WHERE stripe_session_id = $1`,
    [sessionId],
  );
  const account = await h.db.pool.query(
    `SELECT status, deployment_id, cell_id, tokens_quota FROM customer_accounts WHERE stripe_session_id = $1`,
    [sessionId],
  );
  return { job: job.rows[0], account: account.rows[0] };
}

const TABLES = [
  'provisioning_jobs',
  'customer_accounts',
  'provisioning_job_events',
  'organization_databases',
  'rejected_inputs',
] as const;

/** Every row the callback could touch, to assert that a refusal wrote nothing. */
async function snapshot(): Promise<Record<string, unknown[]>> {
  const entries = await Promise.all(
    TABLES.map(async (table) => {
      const { rows } = await h.db.pool.query(`SELECT * FROM ${table} ORDER BY 1`);
      return [table, rows] as const;
    }),
  );
  return Object.fromEntries(entries);
}

function publishedEvents() {
  return h.eventBridge
    .commandCalls(PutEventsCommand)
    .flatMap((call) => call.args[0].input.Entries ?? [])
    .map((entry) => ({ type: entry.DetailType, detail: JSON.parse(entry.Detail ?? '{}') }));
}

function provisioned(sessionId: string, extra: Record<string, unknown> = {}) {
  return {
    stripe_session_id: sessionId,
    status: 'provisioned',
    deployment_id: 'dpl_7Qk2mX',
    cell_id: 'cell-eu-1',
    tokens_quota: 2_000_000,
    ...extra,
  };
}

describe('the orchestrator callback applies reports', () => {
  it('records progress: status provisioning, its phase and a heartbeat', async () => {
    const { sessionId, jobId } = await recordedJob();
    const route = callbackRoute();
    h.advance(60);

    const answer = await route.send(
      callback({ stripe_session_id: sessionId, status: 'provisioning', phase: 'database' }),
    );

    expect(answer).toEqual({ statusCode: 200, body: { ok: true, status: 'provisioning' } });
    const { job } = await rowsOf(sessionId);
    expect(job).toMatchObject({ status: 'provisioning', phase: 'database', heartbeat_at: h.now() });
    expect(publishedEvents()).toEqual([]);
    const applied = route.log.entries.find((entry) => entry.message === 'callback applied');
    expect(applied?.extra[0]).toMatchObject({ stripeSessionId: sessionId, jobId });
  });

  it('links a provisioned tenant: job and account flip together, with coordinates and quota', async () => {
    const { sessionId, jobId, accountId } = await recordedJob();
    const route = callbackRoute();

    const answer = await route.send(callback(provisioned(sessionId)));

    expect(answer).toEqual({ statusCode: 200, body: { ok: true, status: 'provisioned' } });
    expect(await rowsOf(sessionId)).toMatchObject({
      job: {
        status: 'provisioned',
        deployment_id: 'dpl_7Qk2mX',
        cell_id: 'cell-eu-1',
        tokens_quota: 2_000_000,
        provisioned_at: h.now(),
      },
      account: {
        status: 'active',
        deployment_id: 'dpl_7Qk2mX',
        cell_id: 'cell-eu-1',
        tokens_quota: 2_000_000,
      },
    });
    expect(publishedEvents()).toEqual([
      {
        type: 'job.provisioned',
        detail: {
          job_id: jobId,
          stripe_session_id: sessionId,
          deployment_id: 'dpl_7Qk2mX',
          cell_id: 'cell-eu-1',
          account_id: accountId,
        },
      },
    ]);
    expect(route.telemetry.counters.get('JobProvisioned')).toBe(1);
  });

  it.each([
    ['0', { tokens_quota: 0 }],
    ['absent', { tokens_quota: undefined }],
  ])('keeps the quota bought at checkout when tokens_quota is %s', async (_case, quota) => {
    const { sessionId } = await recordedJob();

    const answer = await callbackRoute().send(callback(provisioned(sessionId, quota)));

    expect(answer.statusCode).toBe(200);
    const { job, account } = await rowsOf(sessionId);
    expect([job?.tokens_quota, account?.tokens_quota]).toEqual([GROWTH_QUOTA, GROWTH_QUOTA]);
  });

  it('records a failure with its error, and tells subscribers', async () => {
    const { sessionId, jobId, accountId } = await recordedJob();
    const route = callbackRoute();

    const answer = await route.send(
      callback({ stripe_session_id: sessionId, status: 'failed', error: 'cell quota exhausted' }),
    );

    expect(answer.body).toEqual({ ok: true, status: 'failed' });
    expect((await rowsOf(sessionId)).job).toMatchObject({
      status: 'failed',
      last_error: 'cell quota exhausted',
    });
    expect(publishedEvents()).toEqual([
      {
        type: 'job.failed',
        detail: {
          job_id: jobId,
          stripe_session_id: sessionId,
          error: 'cell quota exhausted',
          account_id: accountId,
        },
      },
    ]);
    expect(route.telemetry.counters.get('JobFailed')).toBe(1);
  });

  it('answers a replay as the first time, and changes nothing more', async () => {
    const { sessionId } = await recordedJob();
    const route = callbackRoute();
    const first = await route.send(callback(provisioned(sessionId)));
    const afterFirst = await snapshot();
    h.advance(30);

    const replay = await route.send(callback(provisioned(sessionId)));

    expect(replay).toEqual(first);
    expect(await snapshot()).toEqual(afterFirst);
    expect(publishedEvents().map((event) => event.type)).toEqual(['job.provisioned']);
    expect(route.telemetry.counters.get('JobProvisioned')).toBe(1);
  });

  it.each([
    ['failed', { status: 'failed', error: 'saga timed out' }],
    ['progress', { status: 'provisioning', phase: 'dns' }],
  ])(
    'never downgrades a provisioned job: a late %s report answers provisioned',
    async (_case, late) => {
      const { sessionId } = await recordedJob();
      const route = callbackRoute();
      await route.send(callback(provisioned(sessionId)));
      const before = await snapshot();
      h.eventBridge.resetHistory();

      const answer = await route.send(callback({ stripe_session_id: sessionId, ...late }));

      expect(answer).toEqual({ statusCode: 200, body: { ok: true, status: 'provisioned' } });
      expect(await snapshot()).toEqual(before);
      expect(publishedEvents()).toEqual([]);
    },
  );

  it('never relinks a provisioned job to another deployment, and warns with both ids', async () => {
    const { sessionId, jobId } = await recordedJob();
    const route = callbackRoute();
    await route.send(callback(provisioned(sessionId)));
    const before = await snapshot();

    const answer = await route.send(
      callback(provisioned(sessionId, { deployment_id: 'dpl_other', cell_id: 'cell-us-2' })),
    );

    expect(answer).toEqual({ statusCode: 200, body: { ok: true, status: 'provisioned' } });
    expect(await snapshot()).toEqual(before);
    const warning = route.log.entries.find(
      (entry) => entry.level === 'warn' && /not relinked/.test(String(entry.message)),
    );
    expect(warning?.extra[0]).toMatchObject({
      stripeSessionId: sessionId,
      jobId,
      linked_deployment_id: 'dpl_7Qk2mX',
      reported_deployment_id: 'dpl_other',
    });
  });

  it('answers 404 for a session it never recorded, and writes nothing', async () => {
    const before = await snapshot();
    const route = callbackRoute();

    const answer = await route.send(
      callback(
        provisioned('cs_test_never_recorded', { database: { id: 'db_ghost', status: 'ready' } }),
      ),
    );

    expect(answer).toEqual({
      statusCode: 404,
      body: { error: 'no provisioning job for stripe_session_id' },
    });
    expect(await snapshot()).toEqual(before);
    expect(publishedEvents()).toEqual([]);
  });

  it('reads a base64-encoded body, verifying the signature over its decoded bytes', async () => {
    const { sessionId } = await recordedJob();

    const answer = await callbackRoute().send(
      callback(provisioned(sessionId, { phase: 'préparé ✓' }), { base64: true }),
    );

    expect(answer.body).toEqual({ ok: true, status: 'provisioned' });
    expect((await rowsOf(sessionId)).job?.phase).toBe('préparé ✓');
  });
});

describe('the orchestrator callback checks who signed it', () => {
  it('accepts a timestamped signature within 300 seconds', async () => {
    const { sessionId } = await recordedJob();

    const answer = await callbackRoute().send(
      callback({ stripe_session_id: sessionId, status: 'provisioning' }, { timestampAge: 299 }),
    );

    expect(answer.statusCode).toBe(200);
  });

  it.each<[string, Signing]>([
    ['a missing signature', { unsigned: true }],
    ['a malformed signature', { signature: 'not-hex' }],
    ['an uppercase signature', { signature: 'A'.repeat(64) }],
    ['a signature from another secret', { secret: 'someone-else' }],
    ['a timestamp 301 s old', { timestampAge: 301 }],
    ['a timestamp 301 s ahead', { timestampAge: -301 }],
  ])('refuses %s with 401, before reading the body, and writes nothing', async (_case, signing) => {
    const { sessionId } = await recordedJob();
    const before = await snapshot();
    const route = callbackRoute();

    const answer = await route.send(callback(provisioned(sessionId), signing));

    expect(answer.statusCode).toBe(401);
    expect(answer.body.error).toMatch(/X-Provisioning-(Signature|Timestamp)/);
    expect(await snapshot()).toEqual(before);
    expect(route.telemetry.counters.get('CallbackSignatureRejected')).toBe(1);
    expect(route.telemetry.counters.get('CallbackAnswered4xx')).toBe(1);
  });

  it('refuses a callback signed over the body alone, without a timestamp, naming the header', async () => {
    const { sessionId } = await recordedJob();
    const before = await snapshot();
    const route = callbackRoute();

    const answer = await route.send(callback(provisioned(sessionId), { untimed: true }));

    expect(answer).toEqual({
      statusCode: 401,
      body: {
        error:
          'X-Provisioning-Timestamp is missing: sign "<timestamp>.<body>" and send the timestamp',
      },
    });
    expect(await snapshot()).toEqual(before);
    expect(route.telemetry.counters.get('CallbackSignatureRejected')).toBe(1);
  });

  it('accepts a body signed alone only where requireCallbackTimestamp is off (an orchestrator migrating)', async () => {
    const { sessionId } = await recordedJob();

    const answer = await callbackRoute({ requireTimestamp: false }).send(
      callback(provisioned(sessionId), { untimed: true }),
    );
    const badlySigned = await callbackRoute({ requireTimestamp: false }).send(
      callback(provisioned(sessionId), { untimed: true, secret: 'someone-else' }),
    );

    expect(answer).toEqual({ statusCode: 200, body: { ok: true, status: 'provisioned' } });
    expect(badlySigned.statusCode).toBe(401);
  });

  it('refuses a signature over the body alone when a timestamp is sent', async () => {
    const { sessionId } = await recordedJob();
    const body = JSON.stringify(provisioned(sessionId));

    const answer = await callbackRoute().send(
      callback(body, { timestampAge: 0, signature: hmac(CALLBACK_SECRET, body) }),
    );

    expect(answer.statusCode).toBe(401);
  });

  it('refuses an unsigned malformed body with 401, not 400: nothing is read before the signature', async () => {
    const before = await snapshot();

    const answer = await callbackRoute().send(
      callback('{"stripe_session_id":', { unsigned: true }),
    );

    expect(answer.statusCode).toBe(401);
    expect(await snapshot()).toEqual(before);
  });

  it('refuses the trigger secret while a callback secret is set', async () => {
    const { sessionId } = await recordedJob();

    const answer = await callbackRoute().send(
      callback(provisioned(sessionId), { secret: TRIGGER_SECRET }),
    );

    expect(answer.statusCode).toBe(401);
    expect((await rowsOf(sessionId)).job?.status).toBe('enqueued');
  });

  it('accepts the trigger secret when no callback secret is set', async () => {
    const { sessionId } = await recordedJob();
    h.setSecret('callbackSecret', '');

    const withTrigger = await callbackRoute().send(
      callback(provisioned(sessionId), { secret: TRIGGER_SECRET }),
    );

    expect(withTrigger.body).toEqual({ ok: true, status: 'provisioned' });
  });

  it('accepts the new and the old callback secret while both are live during a rotation', async () => {
    const first = await recordedJob();
    const second = await recordedJob();
    h.setSecret('callbackSecret', `whnew_rotated_secret,${CALLBACK_SECRET}`);

    const withNew = await callbackRoute().send(
      callback(provisioned(first.sessionId), { secret: 'whnew_rotated_secret' }),
    );
    const withOld = await callbackRoute().send(callback(provisioned(second.sessionId)));
    const withOther = await callbackRoute().send(
      callback(provisioned(second.sessionId), { secret: 'not-a-live-secret' }),
    );
    h.setSecret('callbackSecret', CALLBACK_SECRET);

    expect(withNew.body).toEqual({ ok: true, status: 'provisioned' });
    expect(withOld.body).toEqual({ ok: true, status: 'provisioned' });
    expect(withOther.statusCode).toBe(401);
  });

  it('answers 503 when neither secret is set, and writes nothing', async () => {
    const { sessionId } = await recordedJob();
    h.setSecret('callbackSecret', '');
    h.setSecret('triggerSecret', ' ');
    const before = await snapshot();
    const route = callbackRoute();

    const answer = await route.send(callback(provisioned(sessionId)));

    expect(answer.statusCode).toBe(503);
    expect(answer.body.error).toMatch(/secret is not configured/);
    expect(await snapshot()).toEqual(before);
    expect(route.telemetry.counters.get('CallbackAnswered5xx')).toBe(1);
  });

  it('never logs a secret or a signature', async () => {
    const { sessionId } = await recordedJob();
    const route = callbackRoute();
    const signedEvent = callback(provisioned(sessionId));
    const signature = signedEvent.headers['x-provisioning-signature'] ?? 'missing';

    await route.send(signedEvent);
    await route.send(callback(provisioned(sessionId), { secret: 'wrong' }));
    await route.send(callback({ stripe_session_id: sessionId, status: 7 }));
    h.setSecret('callbackSecret', '');
    await route.send(callback(provisioned(sessionId), { secret: TRIGGER_SECRET }));

    const logged = route.log.text();
    expect(logged).toContain(sessionId);
    for (const secret of [CALLBACK_SECRET, TRIGGER_SECRET, signature]) {
      expect(logged).not.toContain(secret);
    }
  });
});

describe('the orchestrator callback refuses malformed bodies', () => {
  it.each<[string, (sessionId: string) => unknown, RegExp]>([
    ['malformed JSON', () => '{"stripe_session_id": "cs_test_x", ', /^body: not valid JSON/],
    ['a JSON array', () => [1, 2], /^body: /],
    ['a missing session id', () => ({ status: 'failed' }), /^stripe_session_id: /],
    [
      'provisioned without deployment_id',
      (id) => provisioned(id, { deployment_id: undefined }),
      /^deployment_id: required when status is provisioned$/,
    ],
    [
      'provisioned without cell_id',
      (id) => provisioned(id, { cell_id: undefined }),
      /^cell_id: required when status is provisioned$/,
    ],
    [
      'a deployment id without dpl_',
      (id) => provisioned(id, { deployment_id: 'x1' }),
      /^deployment_id: /,
    ],
    ['tokens_quota as text', (id) => provisioned(id, { tokens_quota: '5' }), /^tokens_quota: /],
    ['a negative tokens_quota', (id) => provisioned(id, { tokens_quota: -1 }), /^tokens_quota: /],
    [
      'a fractional tokens_quota',
      (id) => provisioned(id, { tokens_quota: 1.5 }),
      /^tokens_quota: /,
    ],
    ['an unknown status', (id) => ({ stripe_session_id: id, status: 'done' }), /^status: /],
    [
      'an unknown database status',
      (id) => ({
        stripe_session_id: id,
        status: 'provisioning',
        database: { id: 'db_1', status: 'up' },
      }),
      /^database\.status: /,
    ],
  ])(
    'answers %s with a 400 naming the field, and keeps only the trail',
    async (_case, body, field) => {
      const { sessionId } = await recordedJob();
      const before = await snapshot();
      const route = callbackRoute();

      const answer = await route.send(callback(body(sessionId)));

      expect(answer.statusCode).toBe(400);
      expect(answer.body.error).toMatch(field);
      const after = await snapshot();
      expect({ ...after, rejected_inputs: [] }).toEqual({ ...before, rejected_inputs: [] });
      expect(after.rejected_inputs?.slice(before.rejected_inputs?.length)).toEqual([
        expect.objectContaining({
          source: 'callback',
          reason: answer.body.error,
        }),
      ]);
      expect(route.telemetry.counters.get('InputRejected')).toBe(1);
      expect(route.telemetry.counters.get('CallbackAnswered4xx')).toBe(1);
    },
  );

  it('ties the trail of a refused body to the session it names', async () => {
    const { sessionId } = await recordedJob();

    await callbackRoute().send(callback(provisioned(sessionId, { tokens_quota: 'lots' })));

    const { rows } = await h.db.pool.query(
      'SELECT reference FROM rejected_inputs ORDER BY id DESC LIMIT 1',
    );
    expect(rows).toEqual([{ reference: sessionId }]);
  });
});

describe('the orchestrator callback records tenant databases', () => {
  async function databaseRow(id: string) {
    const { rows } = await h.db.pool.query(
      'SELECT account_id, status, provisioned_at, updated_at FROM organization_databases WHERE id = $1',
      [id],
    );
    return rows[0];
  }

  it('upserts the reported database under the job account, keeping when it was first heard of', async () => {
    const { sessionId, accountId } = await recordedJob();
    const route = callbackRoute();
    const firstHeard = h.now();

    await route.send(
      callback({
        stripe_session_id: sessionId,
        status: 'provisioning',
        database: { id: 'db_orgA', status: 'provisioning' },
      }),
    );
    h.advance(600);
    await route.send(
      callback({
        stripe_session_id: sessionId,
        status: 'provisioning',
        database: { id: 'db_orgA', status: 'migrating' },
      }),
    );
    h.advance(600);
    const last = await route.send(
      callback(provisioned(sessionId, { database: { id: 'db_orgA', status: 'ready' } })),
    );

    expect(last.body).toEqual({ ok: true, status: 'provisioned' });
    expect(await databaseRow('db_orgA')).toEqual({
      account_id: accountId,
      status: 'ready',
      provisioned_at: firstHeard,
      updated_at: h.now(),
    });
  });

  it('records a database report that arrives after the job is provisioned', async () => {
    const { sessionId } = await recordedJob();
    const route = callbackRoute();
    await route.send(callback(provisioned(sessionId)));

    await route.send(
      callback(provisioned(sessionId, { database: { id: 'db_late', status: 'migrating' } })),
    );

    expect((await databaseRow('db_late'))?.status).toBe('migrating');
  });

  it('never moves a database of another account', async () => {
    const owner = await recordedJob();
    const other = await recordedJob();
    const route = callbackRoute();
    const report = { id: 'db_owned', status: 'provisioning' };
    await route.send(
      callback({ stripe_session_id: owner.sessionId, status: 'provisioning', database: report }),
    );

    const answer = await route.send(
      callback({
        stripe_session_id: other.sessionId,
        status: 'provisioning',
        database: { ...report, status: 'failed' },
      }),
    );

    expect(answer.statusCode).toBe(200);
    expect(await databaseRow('db_owned')).toMatchObject({
      account_id: owner.accountId,
      status: 'provisioning',
    });
  });
});

describe('the orchestrator callback under faults', () => {
  it('answers 200 when EventBridge refuses the lifecycle event, and counts the loss', async () => {
    const { sessionId } = await recordedJob();
    h.eventBridge.on(PutEventsCommand).rejects(new Error('EventBridge unavailable'));
    const route = callbackRoute();

    const answer = await route.send(callback(provisioned(sessionId)));

    expect(answer).toEqual({ statusCode: 200, body: { ok: true, status: 'provisioned' } });
    expect((await rowsOf(sessionId)).job?.status).toBe('provisioned');
    expect(route.telemetry.counters.get('LifecycleEventPublishFailed')).toBe(1);
    expect(route.telemetry.counters.get('CallbackAnswered2xx')).toBe(1);
  });

  it('answers 503 while the database is resuming, so the orchestrator retries', async () => {
    const { sessionId } = await recordedJob();
    const route = callbackRoute();
    h.bridge.resumeFor(60_000);

    const answer = await route.send(callback(provisioned(sessionId))).finally(() => {
      h.bridge.resumeFor(0);
    });
    const retried = await route.send(callback(provisioned(sessionId)));

    expect(answer.statusCode).toBe(503);
    expect(retried.body).toEqual({ ok: true, status: 'provisioned' });
    expect(route.telemetry.counters.get('CallbackAnswered5xx')).toBe(1);
    expect(route.telemetry.counters.get('CallbackAnswered2xx')).toBe(1);
  });

  it('loses nothing when the database report fails after the job transition committed', async () => {
    const { sessionId } = await recordedJob();
    let failNextDatabaseReport = true;
    const flaky: SqlExecutor = {
      execute: (sql, params) => {
        if (failNextDatabaseReport && sql.includes('INSERT INTO organization_databases')) {
          failNextDatabaseReport = false;
          return Promise.reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
        }
        return h.deps.db.execute(sql, params);
      },
      transaction: (work) => h.deps.db.transaction(work),
    };
    const route = callbackRoute({ db: flaky });
    const body = provisioned(sessionId, { database: { id: 'db_retry', status: 'ready' } });

    const first = await route.send(callback(body));
    const retried = await route.send(callback(body));

    expect([first.statusCode, retried.statusCode]).toEqual([500, 200]);
    expect(publishedEvents().map((event) => event.type)).toEqual(['job.provisioned']);
    const { rows } = await h.db.pool.query(
      'SELECT status FROM organization_databases WHERE id = $1',
      ['db_retry'],
    );
    expect(rows).toEqual([{ status: 'ready' }]);
  });
});
