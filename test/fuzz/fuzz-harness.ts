import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, expect } from 'vitest';
import type { HandoffMessage, HandoffQueue } from '../../functions/adapters/handoff-queue.js';
import type { LifecycleEvent, LifecycleEvents } from '../../functions/adapters/lifecycle-events.js';
import { InMemoryQuietMarker } from '../../functions/adapters/quiet-marker.js';
import { EnvironmentSecretSource } from '../../functions/adapters/secrets.js';
import { TelemetryRegistry } from '../../functions/adapters/telemetry.js';
import { DEFAULT_RULES } from '../../functions/core/rules.js';
import { upsertPackage } from '../../functions/db/catalogue-repository.js';
import type { DatabaseRole } from '../../functions/db/database-roles.js';
import { recordSettledCheckout } from '../../functions/db/jobs/checkout-records.js';
import { createPool, PgExecutor } from '../../functions/db/pg-executor.js';
import type { ServiceDependencies } from '../../functions/services/dependencies.js';
import { silentLog } from '../../local/handler-stand-ins.js';
import { lambdaContext, PACKAGES } from '../support/handler-harness.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';

/**
 * The fuzz suite's ground: the real handlers in process over one real PostgreSQL,
 * logged in as the roles they use in AWS, with every write counted. A trigger on every
 * table but `rejected_inputs` counts the rows written (inserted, deleted, or updated to
 * another value: the no-op update an upsert uses to wait for a concurrent claim changes
 * nothing); the suite checks that a refused request wrote none of them (and sent
 * nothing on the queue).
 */

/** How many inputs each route gets: 10,000 in CI; `FUZZ_RUNS` for a quicker local run. */
export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);

/** Room for 10,000 inputs on a loaded machine (about 3 ms each alone). */
export const FUZZ_TIMEOUT_MS = 15 * 60_000;

export const NOW = new Date('2026-11-23T10:00:00.000Z');
export const STRIPE_SECRET = 'whsec_fuzz_7c2e9b1d';
export const CALLBACK_SECRET = 'callback-secret-fuzz-4a8f';
export const CALLBACK_URL = 'https://handoff.example.com/api/internal/provisioning/callback';

export interface FuzzGround {
  readonly db: TestDatabase;
  /** The collaborators, logged in as `as` (default the application role). */
  deps(as?: DatabaseRole): ServiceDependencies & {
    readonly queue: HandoffQueue & { readonly sent: HandoffMessage[] };
    readonly secrets: EnvironmentSecretSource;
    readonly callbackUrl: string;
    readonly quiet: InMemoryQuietMarker;
  };
  /** Rows written outside `rejected_inputs`, and `rejected_inputs` rows, so far. */
  writes(): Promise<Writes>;
  close(): Promise<void>;
}

export interface Writes {
  readonly outside: number;
  readonly refusals: number;
}

/** A fresh ground, with a paid checkout recorded for each of `sessions` (as the webhook records it). */
export async function fuzzGround(sessions: readonly string[] = []): Promise<FuzzGround> {
  const db = await freshDatabase();
  for (const pkg of PACKAGES) await upsertPackage(db.executor, pkg);
  for (const stripeSessionId of sessions) {
    const checkout = {
      stripeSessionId,
      stripeCustomerId: null,
      customerEmail: 'buyer@example.com',
      packageSlug: 'growth',
      callbackUrl: CALLBACK_URL,
    };
    await recordSettledCheckout(db.executor, checkout, NOW, DEFAULT_RULES.handoffLeaseSeconds);
  }
  await countWrites(db);
  const pools = new Map<DatabaseRole, ReturnType<typeof createPool>>();
  const executor = (role: DatabaseRole) => {
    const pool = pools.get(role) ?? createPool(db.connectionStringAs(role), 4);
    pools.set(role, pool);
    return new PgExecutor(pool);
  };
  const sent: HandoffMessage[] = [];
  const queue = {
    sent,
    async send(message: HandoffMessage) {
      sent.push(message);
    },
  };
  const events: LifecycleEvents = {
    async publish(_events: readonly LifecycleEvent[]) {},
  };
  const secrets = new EnvironmentSecretSource({
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    PROVISIONING_CALLBACK_SECRET: CALLBACK_SECRET,
  });
  return {
    db,
    deps: (as = 'app') => ({
      db: executor(as),
      clock: () => NOW,
      rules: DEFAULT_RULES,
      telemetry: new TelemetryRegistry(),
      events,
      log: silentLog,
      quiet: new InMemoryQuietMarker(),
      queue,
      secrets,
      callbackUrl: CALLBACK_URL,
    }),
    writes: async () => {
      const { rows } = await db.pool.query<{ outside: string; refusals: string }>(
        `SELECT (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM fuzz_writes) AS outside,
           (SELECT count(*) FROM rejected_inputs) AS refusals`,
      );
      return { outside: Number(rows[0]?.outside), refusals: Number(rows[0]?.refusals) };
    },
    close: async () => {
      for (const pool of pools.values()) await pool.end();
      await db.close();
    },
  };
}

/** A route under fuzz, over its own ground logged in as the application role. */
export interface AppRoute {
  readonly ground: FuzzGround;
  readonly route: HttpRoute;
  readonly queue: { readonly sent: readonly unknown[] };
}

/**
 * The file's route on a fresh ground (with a paid checkout for each of `sessions`),
 * opened before its tests and closed after; read it inside a test.
 */
export function appRouteUnderFuzz(
  create: (deps: ReturnType<FuzzGround['deps']>) => HttpRoute,
  sessions: readonly string[] = [],
): AppRoute {
  const under = {} as { ground: FuzzGround; route: HttpRoute; queue: AppRoute['queue'] };
  beforeAll(async () => {
    under.ground = await fuzzGround(sessions);
    const deps = under.ground.deps('app');
    under.queue = deps.queue;
    under.route = create(deps);
  });
  afterAll(async () => {
    await under.ground.close();
  });
  return under;
}

/** A row-level trigger on every table but rejected_inputs, counting each row changed. */
async function countWrites(db: TestDatabase): Promise<void> {
  await db.pool.query('CREATE SEQUENCE fuzz_writes');
  await db.pool.query(`
    CREATE FUNCTION fuzz_count_write() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
    BEGIN
      IF TG_OP <> 'UPDATE' OR OLD IS DISTINCT FROM NEW THEN PERFORM nextval('fuzz_writes'); END IF;
      RETURN NULL;
    END $$`);
  const { rows } = await db.pool.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables
     WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'rejected_inputs'`,
  );
  for (const { table_name: table } of rows) {
    await db.pool.query(
      `CREATE TRIGGER fuzz_count_write AFTER INSERT OR UPDATE OR DELETE ON ${table}
       FOR EACH ROW EXECUTE FUNCTION fuzz_count_write()`,
    );
  }
}

export type HttpRoute = (
  event: APIGatewayProxyEventV2,
  context: ReturnType<typeof lambdaContext>,
) => Promise<APIGatewayProxyStructuredResultV2>;

/**
 * The event with these exact bytes as its body: base64-encoded (as API Gateway passes a
 * binary body), or as text (bytes that are not UTF-8 then arrive altered, and their
 * signature fails, as it would).
 */
export function withBody(
  event: APIGatewayProxyEventV2,
  body: Buffer,
  base64: boolean,
): APIGatewayProxyEventV2 {
  return {
    ...event,
    body: base64 ? body.toString('base64') : body.toString('utf8'),
    isBase64Encoded: base64,
  };
}

/** One request as the fuzz suite saw it. */
export interface Exchange {
  readonly status: number;
  readonly error: string | undefined;
  /** Rows it wrote outside `rejected_inputs` (counted for refusals only; 0 otherwise). */
  readonly wroteOutside: number;
  /** Rows it added to `rejected_inputs` (counted for refusals only). */
  readonly refusalsKept: number;
  readonly sent: number;
}

const lastCounted = new WeakMap<FuzzGround, Writes>();

/**
 * Sends one request and measures what it did. Requests run one at a time, so the
 * write counters move for this request only.
 */
async function exchange(
  ground: FuzzGround,
  route: HttpRoute,
  event: APIGatewayProxyEventV2,
  queue: { readonly sent: readonly unknown[] },
): Promise<Exchange> {
  // Requests run one at a time: what the last refusal left is where this one starts.
  // Only refusals are held to writing nothing, so only they need counting after.
  const before = lastCounted.get(ground) ?? (await ground.writes());
  const sentBefore = queue.sent.length;
  const answer = await route(event, lambdaContext());
  const refused = (answer.statusCode ?? 500) >= 400;
  const after = refused ? await ground.writes() : undefined;
  if (after) lastCounted.set(ground, after);
  else lastCounted.delete(ground);
  let error: string | undefined;
  try {
    error = (JSON.parse(answer.body ?? '{}') as { error?: string }).error;
  } catch {
    error = undefined;
  }
  return {
    status: answer.statusCode ?? 500,
    error,
    wroteOutside: after ? after.outside - before.outside : 0,
    refusalsKept: after ? after.refusals - before.refusals : 0,
    sent: queue.sent.length - sentBefore,
  };
}

/** What the suite tallies per route, for docs/RELIABILITY.md. */
export class Tally {
  readonly byStatus = new Map<number, number>();
  readonly started = Date.now();
  inputs = 0;

  add(result: Exchange): void {
    this.inputs += 1;
    this.byStatus.set(result.status, (this.byStatus.get(result.status) ?? 0) + 1);
  }

  count(status: number): number {
    return this.byStatus.get(status) ?? 0;
  }

  report(route: string): string {
    const statuses = [...this.byStatus]
      .sort(([a], [b]) => a - b)
      .map(([status, count]) => `${status}: ${count}`)
      .join(', ');
    return `${route}: ${this.inputs} inputs in ${((Date.now() - this.started) / 1000).toFixed(1)} s (${statuses})`;
  }
}

export interface FuzzedRoute<T> {
  /** How the route is named in the report, e.g. `POST /api/webhooks/stripe`. */
  readonly name: string;
  readonly ground: FuzzGround;
  readonly route: HttpRoute;
  readonly queue: { readonly sent: readonly unknown[] };
  readonly inputs: fc.Arbitrary<T>;
  /** The API Gateway event an input travels in. */
  readonly request: (input: T) => APIGatewayProxyEventV2;
  /** What a refusal may name: headers, `body`, the first keys of body paths. */
  readonly fields: readonly string[];
  /** The rows of `rejected_inputs` this answer must have added (the trail of an authenticated refusal). */
  readonly refusalsKept: (result: Exchange) => number;
}

/**
 * Sends `FUZZ_RUNS` inputs to a route, one at a time, holding every answer to
 * `expectHonestAnswer` and to the route's trail rule; prints and answers the tally.
 * fast-check shrinks a failing input and prints it with its seed.
 */
export async function fuzzRoute<T>(spec: FuzzedRoute<T>): Promise<Tally> {
  const tally = new Tally();
  await fc.assert(
    fc.asyncProperty(spec.inputs, async (input) => {
      const result = await exchange(spec.ground, spec.route, spec.request(input), spec.queue);
      tally.add(result);
      expectHonestAnswer(result, spec.fields);
      expect(result.refusalsKept, JSON.stringify(result)).toBe(spec.refusalsKept(result));
    }),
    { numRuns: FUZZ_RUNS },
  );
  console.info(tally.report(spec.name));
  return tally;
}

/**
 * The invariants of every answer: never 5xx; a refusal writes nothing outside
 * `rejected_inputs` and sends nothing, and its message names a field the route reads.
 */
function expectHonestAnswer(result: Exchange, fields: readonly string[]): void {
  expect(result.status, JSON.stringify(result)).toBeLessThan(500);
  if (result.status < 400) return;
  expect(result.wroteOutside, JSON.stringify(result)).toBe(0);
  expect(result.sent, JSON.stringify(result)).toBe(0);
  expect(namesField(result.error ?? '', fields), JSON.stringify(result)).toBe(true);
}

/** Whether a message names one of the fields (a header, `body`, or a body path's first key). */
function namesField(message: string, fields: readonly string[]): boolean {
  return fields.some((field) =>
    new RegExp(`(^|[\\s;:])${field.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')}([\\s:.]|$)`).test(
      message,
    ),
  );
}
