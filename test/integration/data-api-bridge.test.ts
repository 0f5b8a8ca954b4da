import {
  BatchExecuteStatementCommand,
  BeginTransactionCommand,
  CommitTransactionCommand,
  DatabaseResumingException,
  ExecuteStatementCommand,
  type ExecuteStatementCommandInput,
  type Field,
  type RDSDataClient,
  RollbackTransactionCommand,
  type SqlParameter,
} from '@aws-sdk/client-rds-data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataApiBridge } from '../support/data-api-bridge.js';
import { freshDatabase, type TestDatabase } from '../support/postgres.js';

const target = {
  resourceArn: 'arn:aws:rds:us-east-1:123456789012:cluster:bridge',
  secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:bridge',
  database: 'bridge',
};

const ORDER_ID = '6f1c1c1e-7d43-4a36-9d8e-2f3b8c5a0d11';

let db: TestDatabase;
let bridge: DataApiBridge;
let client: RDSDataClient;

beforeAll(async () => {
  db = await freshDatabase();
  await db.pool.query(`
    CREATE TABLE bridge_orders (
      id uuid PRIMARY KEY,
      placed_at timestamptz,
      amount numeric(10, 2),
      quantity int8,
      ratio float8,
      paid boolean,
      note text,
      payload jsonb,
      raw bytea,
      tags text[],
      sizes int4[]
    )`);
  await db.pool.query('CREATE TABLE bridge_counter (n int4 NOT NULL)');
  bridge = new DataApiBridge({ pool: db.pool });
  client = bridge.client();
});

afterAll(async () => {
  await bridge?.close();
  await db?.close();
});

function execute(
  sql: string,
  parameters: SqlParameter[] = [],
  extra: Partial<ExecuteStatementCommandInput> = {},
) {
  return client.send(new ExecuteStatementCommand({ ...target, sql, parameters, ...extra }));
}

function text(name: string, value: string, typeHint?: SqlParameter['typeHint']): SqlParameter {
  return { name, value: { stringValue: value }, ...(typeHint ? { typeHint } : {}) };
}

async function begin(): Promise<string> {
  const { transactionId } = await client.send(new BeginTransactionCommand(target));
  if (!transactionId) throw new Error('no transactionId');
  return transactionId;
}

async function counterValues(): Promise<number[]> {
  const result = await db.pool.query<{ n: number }>('SELECT n FROM bridge_counter ORDER BY n');
  return result.rows.map((row) => row.n);
}

describe('parameter binding', () => {
  it('binds a stringValue without typeHint as varchar, so a uuid column rejects it with 42804', async () => {
    // Prepare
    const sql = 'INSERT INTO bridge_orders (id) VALUES (:id)';

    // Act
    const unhinted = execute(sql, [text('id', ORDER_ID)]);

    // Assess
    await expect(unhinted).rejects.toMatchObject({
      name: 'DatabaseErrorException',
      message: expect.stringMatching(
        /column "id" is of type uuid but expression is of type character varying.*SQLState: 42804/,
      ),
    });
  });

  it('binds a stringValue with typeHint UUID as uuid', async () => {
    // Prepare
    const id = '0b7a2f0e-1f7c-4a3e-8a57-5b1d7c3e9f01';

    // Act
    const output = await execute('INSERT INTO bridge_orders (id) VALUES (:id)', [
      text('id', id, 'UUID'),
    ]);

    // Assess
    expect(output.numberOfRecordsUpdated).toBe(1);
    const stored = await db.pool.query('SELECT id FROM bridge_orders WHERE id = $1', [id]);
    expect(stored.rowCount).toBe(1);
  });

  it('binds a timestamp string without typeHint as varchar, so a timestamptz column rejects it with 42804', async () => {
    // Prepare
    const parameters = [
      text('id', '1a2b3c4d-0000-4000-8000-000000000001', 'UUID'),
      text('at', '2026-01-02 03:04:05'),
    ];

    // Act
    const unhinted = execute(
      'INSERT INTO bridge_orders (id, placed_at) VALUES (:id, :at)',
      parameters,
    );

    // Assess
    await expect(unhinted).rejects.toMatchObject({
      name: 'DatabaseErrorException',
      message: expect.stringMatching(
        /column "placed_at" is of type timestamp with time zone but expression is of type character varying.*SQLState: 42804/,
      ),
    });
  });

  it.each([
    ['2026-01-02 03:04:05', '2026-01-02 03:04:05'],
    ['2026-01-02 03:04:05.123', '2026-01-02 03:04:05.123'],
  ])('accepts TIMESTAMP hint value %s (YYYY-MM-DD HH:MM:SS[.FFF])', async (value, expected) => {
    // Act
    const output = await execute('SELECT :at AS at', [text('at', value, 'TIMESTAMP')]);

    // Assess
    expect(output.records).toEqual([[{ stringValue: expected }]]);
  });

  it('rejects an ISO-8601 TIMESTAMP hint value with T and Z, as the Data API does', async () => {
    // Act
    const iso = execute('SELECT :at AS at', [text('at', '2026-01-02T03:04:05Z', 'TIMESTAMP')]);

    // Assess
    await expect(iso).rejects.toMatchObject({
      name: 'BadRequestException',
      message: expect.stringContaining('YYYY-MM-DD HH:MM:SS'),
    });
  });

  it('binds a JSON hint as json, which PostgreSQL assigns to a jsonb column', async () => {
    // Prepare
    const parameters = [
      text('id', '1a2b3c4d-0000-4000-8000-000000000002', 'UUID'),
      text('doc', '{"a":1}', 'JSON'),
    ];

    // Act
    const output = await execute(
      'INSERT INTO bridge_orders (id, payload) VALUES (:id, :doc)',
      parameters,
    );

    // Assess
    expect(output.numberOfRecordsUpdated).toBe(1);
  });

  it('refuses arrayValue parameters: "Array parameters are not supported"', async () => {
    // Act
    const withArray = execute('SELECT :ids AS ids', [
      { name: 'ids', value: { arrayValue: { longValues: [1, 2] } } },
    ]);

    // Assess
    await expect(withArray).rejects.toMatchObject({
      name: 'BadRequestException',
      message: expect.stringContaining('Array parameters are not supported'),
    });
  });

  it('binds isNull as NULL and answers NULL cells as {isNull: true}', async () => {
    // Prepare
    const id = '1a2b3c4d-0000-4000-8000-000000000003';
    const parameters = [text('id', id, 'UUID'), { name: 'note', value: { isNull: true } }];
    await execute('INSERT INTO bridge_orders (id, note) VALUES (:id, :note)', parameters);

    // Act
    const output = await execute('SELECT note FROM bridge_orders WHERE id = :id', [
      text('id', id, 'UUID'),
    ]);

    // Assess
    expect(output.records).toEqual([[{ isNull: true }]]);
  });

  it('names a :parameter that has no value', async () => {
    // Act
    const missing = execute('SELECT :present AS a, :absent AS b', [text('present', 'x')]);

    // Assess
    await expect(missing).rejects.toMatchObject({
      name: 'BadRequestException',
      message: expect.stringContaining('absent'),
    });
  });

  it('refuses a multi-statement call with "Multistatements aren\'t supported"', async () => {
    // Act
    const script = execute('SELECT 1; SELECT 2');

    // Assess
    await expect(script).rejects.toMatchObject({
      name: 'ValidationException',
      message: "Multistatements aren't supported.",
    });
  });

  it('treats a semicolon inside a literal as one statement, then refuses it as undocumented text', async () => {
    // Act
    const literal = execute("SELECT 'a;b' AS s");

    // Assess
    await expect(literal).rejects.toMatchObject({
      name: 'BadRequestException',
      message: expect.stringMatching(/^DataApiBridge \(strict\): ; inside the literal 'a;b'/),
    });
  });

  it('rejects a call without the required secretArn', async () => {
    // Act
    const withoutSecret = client.send(
      new ExecuteStatementCommand({ ...target, secretArn: undefined, sql: 'SELECT 1' }),
    );

    // Assess
    await expect(withoutSecret).rejects.toMatchObject({ name: 'BadRequestException' });
  });

  it('rejects the schema parameter, as Serverless v2 and provisioned clusters do', async () => {
    // Act
    const withSchema = execute('SELECT 1', [], { schema: 'public' });

    // Assess
    await expect(withSchema).rejects.toMatchObject({ name: 'ValidationException' });
  });
});

describe('result shapes', () => {
  const id = '2c2c2c2c-0000-4000-8000-000000000001';

  beforeAll(async () => {
    await db.pool.query(
      `INSERT INTO bridge_orders (id, placed_at, amount, quantity, ratio, paid, note, payload, raw, tags, sizes)
       VALUES ($1, '2026-01-02 05:04:05.123+02', 12.5, 9007199254740991, 0.25, true, 'hello',
               '{"b": [1, 2]}', '\\x0102ff', ARRAY['x', 'y'], ARRAY[3, 4])`,
      [id],
    );
  });

  it('answers each PostgreSQL type as the Data API does (numeric as string, timestamptz zone-less UTC)', async () => {
    // Act
    const output = await execute(
      `SELECT id, placed_at, amount, quantity, ratio, paid, note, payload, raw, tags, sizes, 7::int4 AS seven
         FROM bridge_orders WHERE id = :id`,
      [text('id', id, 'UUID')],
    );

    // Assess
    const expected: Field[] = [
      { stringValue: id },
      { stringValue: '2026-01-02 03:04:05.123' },
      { stringValue: '12.50' },
      { longValue: 9007199254740991 },
      { doubleValue: 0.25 },
      { booleanValue: true },
      { stringValue: 'hello' },
      { stringValue: '{"b": [1, 2]}' },
      { blobValue: new Uint8Array([1, 2, 255]) },
      { arrayValue: { stringValues: ['x', 'y'] } },
      { arrayValue: { longValues: [3, 4] } },
      { longValue: 7 },
    ];
    expect(output.records).toEqual([expected]);
    expect(output.columnMetadata).toBeUndefined();
  });

  it('adds columnMetadata only when includeResultMetadata is true', async () => {
    // Act
    const output = await execute(
      'SELECT id, amount, placed_at, 1 AS one FROM bridge_orders WHERE id = :id',
      [text('id', id, 'UUID')],
      { includeResultMetadata: true },
    );

    // Assess
    expect(output.columnMetadata).toMatchObject([
      {
        name: 'id',
        label: 'id',
        typeName: 'uuid',
        type: 1111,
        nullable: 0,
        tableName: 'bridge_orders',
      },
      { name: 'amount', typeName: 'numeric', type: 2, precision: 10, scale: 2, nullable: 1 },
      { name: 'placed_at', typeName: 'timestamptz', type: 93 },
      { name: 'one', typeName: 'int4', type: 4, isSigned: true },
    ]);
  });

  it("gives formattedRecords keyed by column label, and no records, for formatRecordsAs 'JSON'", async () => {
    // Act
    const output = await execute(
      'SELECT id AS order_id, amount, quantity, paid, payload, raw, tags, note IS NULL AS empty, NULL AS nothing FROM bridge_orders WHERE id = :id',
      [text('id', id, 'UUID')],
      { formatRecordsAs: 'JSON', includeResultMetadata: true },
    );

    // Assess
    expect(output.records).toBeUndefined();
    expect(output.columnMetadata).toBeUndefined();
    expect(JSON.parse(output.formattedRecords ?? '')).toEqual([
      {
        order_id: id,
        amount: '12.50',
        quantity: 9007199254740991,
        paid: true,
        payload: '{"b": [1, 2]}',
        raw: 'AQL/',
        tags: ['x', 'y'],
        empty: false,
        nothing: null,
      },
    ]);
  });

  it('counts DML rows in numberOfRecordsUpdated and answers generatedFields empty', async () => {
    // Prepare
    await db.pool.query('TRUNCATE bridge_counter');
    await db.pool.query('INSERT INTO bridge_counter VALUES (1), (2), (3)');

    // Act
    const output = await execute('UPDATE bridge_counter SET n = n + 10 WHERE n >= :from', [
      { name: 'from', value: { longValue: 2 } },
    ]);

    // Assess
    expect(output).toMatchObject({ numberOfRecordsUpdated: 2, generatedFields: [] });
    expect(output.records).toBeUndefined();
  });

  it('refuses a multidimensional array result with UnsupportedResultException', async () => {
    // Act
    const matrix = execute("SELECT '{{1,2},{3,4}}'::int4[] AS matrix");

    // Assess
    await expect(matrix).rejects.toMatchObject({ name: 'UnsupportedResultException' });
  });

  it('fails a response over 1 MiB with "Database response exceeded size limit"', async () => {
    // Act
    const huge = execute("SELECT repeat('x', 1100000) AS big");

    // Assess
    await expect(huge).rejects.toMatchObject({ message: 'Database response exceeded size limit' });
  });
});

describe('transactions', () => {
  it('commits with "Transaction Committed" and then no longer knows the transaction id', async () => {
    // Prepare
    await db.pool.query('TRUNCATE bridge_counter');
    const transactionId = await begin();
    await execute('INSERT INTO bridge_counter VALUES (1)', [], { transactionId });

    // Act
    const commit = await client.send(new CommitTransactionCommand({ ...target, transactionId }));
    const afterCommit = execute('SELECT 1', [], { transactionId });

    // Assess
    expect(commit.transactionStatus).toBe('Transaction Committed');
    await expect(afterCommit).rejects.toMatchObject({
      name: 'TransactionNotFoundException',
      message: expect.stringContaining(`Transaction ${transactionId} is not found`),
    });
    expect(await counterValues()).toEqual([1]);
  });

  it('rolls back with "Rollback Complete" and then no longer knows the transaction id', async () => {
    // Prepare
    await db.pool.query('TRUNCATE bridge_counter');
    const transactionId = await begin();
    await execute('INSERT INTO bridge_counter VALUES (1)', [], { transactionId });

    // Act
    const rollback = await client.send(
      new RollbackTransactionCommand({ ...target, transactionId }),
    );
    const commitAfterRollback = client.send(
      new CommitTransactionCommand({ ...target, transactionId }),
    );

    // Assess
    expect(rollback.transactionStatus).toBe('Rollback Complete');
    await expect(commitAfterRollback).rejects.toMatchObject({
      name: 'TransactionNotFoundException',
    });
    expect(await counterValues()).toEqual([]);
  });

  it('aborts a transaction on a statement error: its id is unknown and its work is not visible', async () => {
    // Prepare
    await db.pool.query('TRUNCATE bridge_counter');
    const transactionId = await begin();
    await execute('INSERT INTO bridge_counter VALUES (1)', [], { transactionId });
    const failing = execute('INSERT INTO bridge_counter VALUES (NULL)', [], { transactionId });
    await expect(failing).rejects.toMatchObject({ name: 'DatabaseErrorException' });

    // Act
    const afterError = client.send(new CommitTransactionCommand({ ...target, transactionId }));

    // Assess
    await expect(afterError).rejects.toMatchObject({ name: 'TransactionNotFoundException' });
    expect(await counterValues()).toEqual([]);
  });

  it('refuses a second request while the transaction is still running a query', async () => {
    // Prepare
    const transactionId = await begin();

    // Act
    const [slow, concurrent] = await Promise.allSettled([
      execute('SELECT CAST(pg_sleep(0.2) AS text) AS slept', [], { transactionId }),
      execute('SELECT 1', [], { transactionId }),
    ]);

    // Assess
    expect(slow.status).toBe('fulfilled');
    expect(concurrent).toMatchObject({
      status: 'rejected',
      reason: { name: 'DatabaseErrorException', message: 'Transaction is still running a query' },
    });
    await client.send(new RollbackTransactionCommand({ ...target, transactionId }));
  });

  it('runs BatchExecuteStatement parameter sets in order, all or nothing', async () => {
    // Prepare
    await db.pool.query('TRUNCATE bridge_counter');
    const sets = [1, 2, 3].map((n) => [{ name: 'n', value: { longValue: n } }]);
    const badSets = [...sets, [{ name: 'n', value: { isNull: true } }]];

    // Act
    const batch = await client.send(
      new BatchExecuteStatementCommand({
        ...target,
        sql: 'INSERT INTO bridge_counter VALUES (:n)',
        parameterSets: sets,
      }),
    );
    const failedBatch = client.send(
      new BatchExecuteStatementCommand({
        ...target,
        sql: 'INSERT INTO bridge_counter VALUES (:n)',
        parameterSets: badSets,
      }),
    );

    // Assess
    expect(batch.updateResults).toEqual([
      { generatedFields: [] },
      { generatedFields: [] },
      { generatedFields: [] },
    ]);
    await expect(failedBatch).rejects.toMatchObject({ name: 'DatabaseErrorException' });
    expect(await counterValues()).toEqual([1, 2, 3]);
  });
});

describe('fault injection and observation', () => {
  it('answers DatabaseResumingException during resumeFor, then serves commands again', async () => {
    // Prepare
    bridge.resumeFor(150);

    // Act
    const whileResuming = execute('SELECT 1 AS one').catch((error: unknown) => error);
    const resumingError = await whileResuming;
    await new Promise((resolve) => setTimeout(resolve, 200));
    const afterResume = await execute('SELECT 1 AS one');

    // Assess
    expect(resumingError).toBeInstanceOf(DatabaseResumingException);
    expect((resumingError as Error).name).toBe('DatabaseResumingException');
    expect((resumingError as Error).message).toContain('resuming after being auto-paused');
    expect(afterResume.records).toEqual([[{ longValue: 1 }]]);
  });

  it('fails the next commands with an injected error, then recovers', async () => {
    // Prepare
    const throttling = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    bridge.failNext(throttling, 2);

    // Act
    const first = execute('SELECT 1').catch((error: unknown) => error);
    const second = execute('SELECT 1').catch((error: unknown) => error);
    const third = execute('SELECT 1');

    // Assess
    expect(await first).toBe(throttling);
    expect(await second).toBe(throttling);
    await expect(third).resolves.toMatchObject({ records: [[{ longValue: 1 }]] });
  });

  it('records one call per command received, including failed ones', async () => {
    // Prepare
    const start = bridge.calls.length;

    // Act
    const transactionId = await begin();
    await execute('SELECT 1', [], { transactionId });
    await execute('SELECT nope', [], { transactionId }).catch(() => undefined);
    await client
      .send(new RollbackTransactionCommand({ ...target, transactionId }))
      .catch(() => undefined);

    // Assess
    expect(bridge.calls.slice(start)).toEqual([
      { command: 'BeginTransactionCommand' },
      { command: 'ExecuteStatementCommand', sql: 'SELECT 1', transactionId },
      { command: 'ExecuteStatementCommand', sql: 'SELECT nope', transactionId },
      { command: 'RollbackTransactionCommand', transactionId },
    ]);
  });
});
