import {
  BeginTransactionCommand,
  CommitTransactionCommand,
  ExecuteStatementCommand,
  type ExecuteStatementCommandInput,
  type RDSDataClient,
  RollbackTransactionCommand,
} from '@aws-sdk/client-rds-data';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DataApiBridge } from '../support/data-api-bridge.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';
import { virtualClock } from '../support/virtual-clock.js';

const target = {
  resourceArn: 'arn:aws:rds:us-east-1:123456789012:cluster:strict',
  secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:strict',
  database: 'strict',
};

let db: TestDatabase;
beforeAll(async () => {
  db = await freshDatabase({ migrated: false });
  await db.pool.query(`
    CREATE TYPE mood AS ENUM ('calm', 'busy');
    CREATE TABLE strict_counter (n int4 NOT NULL)`);
});
afterAll(async () => {
  await db.close();
});
beforeEach(async () => {
  await db.pool.query('TRUNCATE strict_counter');
});

/** A bridge of its own per test, with the options it needs, closed after the test. */
const bridges: DataApiBridge[] = [];
afterAll(async () => {
  for (const bridge of bridges) await bridge.close();
});
function bridgeWith(options: ConstructorParameters<typeof DataApiBridge>[1] = {}) {
  const bridge = new DataApiBridge({ pool: db.pool }, options);
  bridges.push(bridge);
  const client = bridge.client();
  const execute = (sql: string, extra: Partial<ExecuteStatementCommandInput> = {}) =>
    client.send(new ExecuteStatementCommand({ ...target, sql, ...extra }));
  return { bridge, client, execute, begin: () => begin(client) };
}

async function begin(client: RDSDataClient): Promise<string> {
  const { transactionId } = await client.send(new BeginTransactionCommand(target));
  if (!transactionId) throw new Error('no transactionId');
  return transactionId;
}

async function counter(): Promise<number[]> {
  const { rows } = await db.pool.query<{ n: number }>('SELECT n FROM strict_counter ORDER BY n');
  return rows.map((row) => row.n);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('result types', () => {
  it.each([
    ['void', 'void', 'SELECT pg_advisory_xact_lock(1) AS locked'],
    ['"char"', 'char', `SELECT 'x'::"char" AS c`],
    ['regtype', 'regtype', `SELECT 'int4'::regtype AS t`],
    ['oid', 'oid', 'SELECT 1::oid AS o'],
    ['interval', 'interval', `SELECT interval '1 day' AS i`],
    ['jsonb[]', '_jsonb', `SELECT ARRAY['{}'::jsonb] AS docs`],
  ])(
    'refuses %s, outside the documented list, with UnsupportedResultException',
    async (_type, typname, sql) => {
      const { execute } = bridgeWith();

      await expect(execute(sql)).rejects.toMatchObject({
        name: 'UnsupportedResultException',
        message: expect.stringContaining(`unsupported data type ${typname} `),
      });
    },
  );

  it('answers the documented types the product reads, an enum and a cast void among them', async () => {
    const { execute } = bridgeWith();

    const output = await execute(
      `SELECT 1::int2 AS a, 2::int4 AS b, 3::int8 AS c, 'x'::text AS d, 'y'::varchar AS e,
              true AS f, 1.5::numeric AS g, 0.5::float8 AS h, '{}'::jsonb AS i, '{}'::json AS j,
              gen_random_uuid() IS NOT NULL AS k, now() IS NOT NULL AS l, 'calm'::mood AS m,
              CAST(pg_advisory_xact_lock(1) AS text) AS locked`,
    );

    expect(output.records?.[0]).toHaveLength(14);
  });
});

describe('sessions between calls', () => {
  it('keep nothing a call set outside a transaction, as DISCARD ALL would', async () => {
    const { execute } = bridgeWith();
    await execute("SET search_path = 'nowhere'");
    await execute('SELECT pg_try_advisory_lock(42) AS taken');
    await execute('CREATE TEMP TABLE scratch (x int)');

    const searchPath = await execute('SHOW search_path');
    const locks = await db.pool.query(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = 42`,
    );
    const scratch = execute('SELECT count(*) AS n FROM scratch');

    expect(searchPath.records).toEqual([[{ stringValue: '"$user", public' }]]);
    expect(locks.rows).toEqual([{ n: 0 }]);
    await expect(scratch).rejects.toMatchObject({ name: 'DatabaseErrorException' });
  });

  it('keep what a transaction set until it ends, and still run in UTC after a reset', async () => {
    const { execute, begin } = bridgeWith();
    const transactionId = await begin();
    await execute("SET LOCAL TimeZone = 'Asia/Tokyo'", { transactionId });

    const inside = await execute('SHOW TimeZone', { transactionId });
    await execute('SELECT 1 AS one', { transactionId });
    await bridges
      .at(-1)
      ?.client()
      .send(new RollbackTransactionCommand({ ...target, transactionId }));
    const after = await execute('SHOW TimeZone');

    expect(inside.records).toEqual([[{ stringValue: 'Asia/Tokyo' }]]);
    expect(after.records).toEqual([[{ stringValue: 'UTC' }]]);
  });
});

describe('an idle transaction', () => {
  it('is rolled back and forgotten once no call has used it for the idle timeout', async () => {
    const { client, execute, begin } = bridgeWith({ idleTransactionTimeoutMs: 150 });
    const transactionId = await begin();
    await execute('INSERT INTO strict_counter VALUES (1)', { transactionId });

    await sleep(300);
    const commit = client.send(new CommitTransactionCommand({ ...target, transactionId }));

    await expect(commit).rejects.toMatchObject({ name: 'TransactionNotFoundException' });
    expect(await counter()).toEqual([]);
  });

  it('lives on while calls keep using it within the timeout', async () => {
    const { client, execute, begin } = bridgeWith({ idleTransactionTimeoutMs: 200 });
    const transactionId = await begin();

    for (const n of [1, 2, 3]) {
      await sleep(100);
      await execute(`INSERT INTO strict_counter VALUES (${n})`, { transactionId });
    }
    await client.send(new CommitTransactionCommand({ ...target, transactionId }));

    expect(await counter()).toEqual([1, 2, 3]);
  });
});

describe('the call timeout', () => {
  const slowInsert = 'INSERT INTO strict_counter SELECT 7 FROM pg_sleep(0.4)';

  it('fails the call with StatementTimeoutException and cancels the statement', async () => {
    const { execute } = bridgeWith({ statementTimeoutMs: 100 });

    await expect(execute(slowInsert)).rejects.toMatchObject({ name: 'StatementTimeoutException' });
    await sleep(500);
    expect(await counter()).toEqual([]);
  });

  it('lets the statement run on with continueAfterTimeout, though the call still fails', async () => {
    const { bridge, execute } = bridgeWith({ statementTimeoutMs: 100 });

    const call = execute(slowInsert, { continueAfterTimeout: true });

    await expect(call).rejects.toMatchObject({ name: 'StatementTimeoutException' });
    expect(await counter()).toEqual([]);
    await bridge.close();
    expect(await counter()).toEqual([7]);
  });

  it('aborts a transaction whose statement it cancelled', async () => {
    const { client, execute, begin } = bridgeWith({ statementTimeoutMs: 100 });
    const transactionId = await begin();

    await expect(execute(slowInsert, { transactionId })).rejects.toMatchObject({
      name: 'StatementTimeoutException',
    });
    const commit = client.send(new CommitTransactionCommand({ ...target, transactionId }));

    await expect(commit).rejects.toMatchObject({ name: 'TransactionNotFoundException' });
  });

  it('keeps a transaction busy while its continued statement runs, then lets it commit', async () => {
    const { client, execute, begin } = bridgeWith({ statementTimeoutMs: 100 });
    const transactionId = await begin();
    await expect(
      execute(slowInsert, { transactionId, continueAfterTimeout: true }),
    ).rejects.toMatchObject({ name: 'StatementTimeoutException' });

    const whileRunning = execute('SELECT 1 AS one', { transactionId });
    await expect(whileRunning).rejects.toMatchObject({
      message: 'Transaction is still running a query',
    });
    await sleep(500);
    await client.send(new CommitTransactionCommand({ ...target, transactionId }));

    expect(await counter()).toEqual([7]);
  });
});

describe('statement text', () => {
  it.each([
    ['a comment', 'SELECT 1 AS one -- why', /a comment \(-- why\)/],
    ['a :name inside a literal', `SELECT to_char(now(), 'HH24:MI') AS t`, /:MI inside the literal/],
  ])('refuses %s, which the service is not documented to parse', async (_what, sql, reason) => {
    const { execute } = bridgeWith();

    await expect(execute(sql)).rejects.toMatchObject({
      name: 'BadRequestException',
      message: expect.stringMatching(reason),
    });
  });
});

describe('injected faults', () => {
  const lost = () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

  it('after a command: its work is committed, yet the call fails', async () => {
    const { bridge, execute } = bridgeWith();
    bridge.injectFault({ error: lost(), at: 'after' });

    await expect(execute('INSERT INTO strict_counter VALUES (1)')).rejects.toMatchObject({
      code: 'ECONNRESET',
    });
    expect(await counter()).toEqual([1]);
  });

  it('after a statement in a transaction: the transaction lives on and commits its work', async () => {
    const { bridge, client, execute, begin } = bridgeWith();
    const transactionId = await begin();
    bridge.injectFault({ error: lost(), at: 'after' });

    await expect(
      execute('INSERT INTO strict_counter VALUES (2)', { transactionId }),
    ).rejects.toMatchObject({ code: 'ECONNRESET' });
    await client.send(new CommitTransactionCommand({ ...target, transactionId }));

    expect(await counter()).toEqual([2]);
  });

  it('before a command, only on the commands it matches: nothing of theirs runs', async () => {
    const { bridge, execute } = bridgeWith();
    bridge.injectFault({
      error: lost(),
      at: 'before',
      times: 2,
      when: (call) => call.sql?.includes('VALUES (3)') ?? false,
    });

    const refused = [
      await execute('INSERT INTO strict_counter VALUES (3)').catch((error: Error) => error),
      await execute('INSERT INTO strict_counter VALUES (4)'),
      await execute('INSERT INTO strict_counter VALUES (3)').catch((error: Error) => error),
    ];

    expect(refused.filter((outcome) => outcome instanceof Error)).toHaveLength(2);
    expect(await counter()).toEqual([4]);
  });

  it('resumes on the clock it is given: a virtual 45 s pause passes without real waiting', async () => {
    const clock = virtualClock();
    const { bridge, execute } = bridgeWith({ clock: clock.now });
    bridge.resumeFor(45_000);

    const paused = await execute('SELECT 1 AS one').catch((error: Error) => error);
    await clock.sleep(45_000);
    const awake = await execute('SELECT 1 AS one');

    expect(paused).toMatchObject({ name: 'DatabaseResumingException' });
    expect(awake.records).toEqual([[{ longValue: 1 }]]);
  });
});
