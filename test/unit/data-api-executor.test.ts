import {
  BadRequestException,
  BeginTransactionCommand,
  CommitTransactionCommand,
  DatabaseResumingException,
  ExecuteStatementCommand,
  RDSDataClient,
  RollbackTransactionCommand,
  ServiceUnavailableError,
} from '@aws-sdk/client-rds-data';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DataApiExecutor, dataApiClient } from '../../functions/db/data-api-executor.js';
import { toSqlParameter } from '../../functions/db/data-api-values.js';
import {
  AmbiguousFaultError,
  DatabaseResumingError,
  StatementError,
} from '../../functions/db/executor.js';
import { virtualClock } from '../support/virtual-clock.js';

const target = {
  resourceArn: 'arn:aws:rds:us-east-1:123456789012:cluster:c',
  secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:s',
  database: 'provisioning',
};
const rds = mockClient(RDSDataClient);
const noWait = { sleep: async () => {}, random: () => 0.5, now: () => 0 };

function executor() {
  return new DataApiExecutor(new RDSDataClient({ region: 'us-east-1' }), target, {
    retry: { baseDelayMs: 10, maxDelayMs: 100, budgetMs: 1_000 },
    retryDeps: noWait,
  });
}

beforeEach(() => {
  rds.reset();
});

describe('Data API parameters', () => {
  it('carry the type hint Aurora needs to bind uuid, timestamp, json and decimal values', () => {
    const at = new Date('2026-11-23T09:30:15.250Z');

    expect(toSqlParameter('id', { type: 'uuid', value: 'f6c2' })).toEqual({
      name: 'id',
      value: { stringValue: 'f6c2' },
      typeHint: 'UUID',
    });
    expect(toSqlParameter('at', { type: 'timestamp', value: at })).toEqual({
      name: 'at',
      value: { stringValue: '2026-11-23 09:30:15.250' },
      typeHint: 'TIMESTAMP',
    });
    expect(toSqlParameter('doc', { type: 'json', value: { a: 1 } })).toEqual({
      name: 'doc',
      value: { stringValue: '{"a":1}' },
      typeHint: 'JSON',
    });
    expect(toSqlParameter('price', { type: 'decimal', value: '9.99' })).toEqual({
      name: 'price',
      value: { stringValue: '9.99' },
      typeHint: 'DECIMAL',
    });
    expect(toSqlParameter('n', { type: 'int', value: 8 })).toEqual({
      name: 'n',
      value: { longValue: 8 },
    });
    expect(toSqlParameter('gone', { type: 'uuid', value: null })).toEqual({
      name: 'gone',
      value: { isNull: true },
    });
  });
});

describe('Data API results', () => {
  it('decode into rows keyed by column label with dates, numbers, json and nulls', async () => {
    rds.on(ExecuteStatementCommand).resolves({
      columnMetadata: [
        { label: 'id', typeName: 'uuid' },
        { label: 'attempts', typeName: 'int4' },
        { label: 'updated_at', typeName: 'timestamptz' },
        { label: 'payload', typeName: 'jsonb' },
        { label: 'price', typeName: 'numeric' },
        { label: 'phase', typeName: 'text' },
      ],
      records: [
        [
          { stringValue: 'f6c2' },
          { longValue: 3 },
          { stringValue: '2026-11-23 09:30:15.25' },
          { stringValue: '{"job_id":"f6c2"}' },
          { stringValue: '9.99' },
          { isNull: true },
        ],
      ],
    });

    const rows = await executor().execute('SELECT 1');

    expect(rows).toEqual([
      {
        id: 'f6c2',
        attempts: 3,
        updated_at: new Date('2026-11-23T09:30:15.250Z'),
        payload: { job_id: 'f6c2' },
        price: '9.99',
        phase: null,
      },
    ]);
    expect(rds.commandCalls(ExecuteStatementCommand)[0]?.args[0].input).toMatchObject({
      ...target,
      includeResultMetadata: true,
    });
  });
});

describe('Data API faults', () => {
  it('ride out an Aurora resume, which the SDK does not retry', async () => {
    const resuming = new DatabaseResumingException({ message: 'resuming', $metadata: {} });
    rds
      .on(ExecuteStatementCommand)
      .rejectsOnce(resuming)
      .rejectsOnce(resuming)
      .resolves({ records: [] });

    await expect(executor().execute('SELECT 1')).resolves.toEqual([]);
    expect(rds.commandCalls(ExecuteStatementCommand)).toHaveLength(3);
  });

  it('never repeat a statement the database rejected, and say what it rejected', async () => {
    rds.on(ExecuteStatementCommand).rejects(
      new BadRequestException({
        message: 'ERROR: duplicate key; SQLState: 23505',
        $metadata: {},
      }),
    );

    const failure = executor().execute('INSERT 1');

    await expect(failure).rejects.toBeInstanceOf(StatementError);
    await expect(failure).rejects.toMatchObject({ sqlState: '23505' });
    expect(rds.commandCalls(ExecuteStatementCommand)).toHaveLength(1);
  });
});

describe('Data API transactions', () => {
  it('run every statement under the transaction id and commit', async () => {
    rds.on(BeginTransactionCommand).resolves({ transactionId: 'tx-1' });
    rds.on(ExecuteStatementCommand).resolves({ records: [] });
    rds.on(CommitTransactionCommand).resolves({ transactionStatus: 'Transaction Committed' });

    await executor().transaction(async (tx) => {
      await tx.execute('SELECT 1');
      await tx.execute('SELECT 2');
    });

    const ids = rds
      .commandCalls(ExecuteStatementCommand)
      .map((call) => call.args[0].input.transactionId);
    expect(ids).toEqual(['tx-1', 'tx-1']);
    expect(rds.commandCalls(CommitTransactionCommand)).toHaveLength(1);
    expect(rds.commandCalls(RollbackTransactionCommand)).toHaveLength(0);
  });

  it('roll back and rethrow the original error when the work fails', async () => {
    rds.on(BeginTransactionCommand).resolves({ transactionId: 'tx-2' });
    rds
      .on(RollbackTransactionCommand)
      .rejects(new BadRequestException({ message: 'Transaction not found', $metadata: {} }));

    await expect(
      executor().transaction(async () => {
        throw new Error('work failed');
      }),
    ).rejects.toThrow('work failed');
    expect(rds.commandCalls(RollbackTransactionCommand)).toHaveLength(1);
    expect(rds.commandCalls(CommitTransactionCommand)).toHaveLength(0);
  });
});

/** What the SDK raises for a throttled call (the Data API model names no class for it). */
const throttled = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });

/** Faults after which the statement may have run: a socket timeout, a reset, a 503. */
const AMBIGUOUS = [
  [
    'a socket timeout',
    () => Object.assign(new Error('socket timed out'), { name: 'TimeoutError' }),
  ],
  ['a reset connection', () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
  ['a 503', () => new ServiceUnavailableError({ message: 'unavailable', $metadata: {} })],
] as const;

/** Faults that provably came before the statement ran. */
const BEFORE_RUN = [
  ['Aurora resuming', () => new DatabaseResumingException({ message: 'resuming', $metadata: {} })],
  ['throttling', () => throttled()],
  ['a refused connection', () => Object.assign(new Error('connect'), { code: 'ECONNREFUSED' })],
] as const;

describe('fault classes', () => {
  it.each(BEFORE_RUN)(
    'retry %s for any statement, replay-safe or not: it never reached the database',
    async (_fault, fault) => {
      rds.on(ExecuteStatementCommand).rejectsOnce(fault()).resolves({ records: [] });

      await expect(executor().execute('INSERT 1', {}, { replay: 'never' })).resolves.toEqual([]);
      expect(rds.commandCalls(ExecuteStatementCommand)).toHaveLength(2);
    },
  );

  it.each(AMBIGUOUS)(
    'never re-send a statement that is not replay-safe after %s, and say it may have run',
    async (_fault, fault) => {
      const cause = fault();
      rds.on(ExecuteStatementCommand).rejectsOnce(cause).resolves({ records: [] });

      const failure = executor().execute('INSERT 1', {}, { name: 'record checkout' });

      await expect(failure).rejects.toBeInstanceOf(AmbiguousFaultError);
      await expect(failure).rejects.toMatchObject({
        message: expect.stringMatching(/^statement "record checkout" may have run/),
        cause,
      });
      expect(rds.commandCalls(ExecuteStatementCommand)).toHaveLength(1);
    },
  );

  it.each(AMBIGUOUS)('re-send a replay-safe statement after %s', async (_fault, fault) => {
    rds
      .on(ExecuteStatementCommand)
      .rejectsOnce(fault())
      .resolves({
        columnMetadata: [{ label: 'n', typeName: 'int4' }],
        records: [[{ longValue: 1 }]],
      });

    const rows = await executor().execute('SELECT 1 AS n', {}, { replay: 'safe' });

    expect(rows).toEqual([{ n: 1 }]);
    expect(rds.commandCalls(ExecuteStatementCommand)).toHaveLength(2);
  });

  it('never send a commit twice after an ambiguous fault: it may have committed', async () => {
    rds.on(BeginTransactionCommand).resolves({ transactionId: 'tx-3' });
    rds.on(ExecuteStatementCommand).resolves({ records: [] });
    rds
      .on(CommitTransactionCommand)
      .rejectsOnce(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))
      .resolves({ transactionStatus: 'Transaction Committed' });

    const failure = executor().transaction((tx) => tx.execute('INSERT 1', {}, { replay: 'safe' }));

    await expect(failure).rejects.toThrow(/^CommitTransaction may have run/);
    expect(rds.commandCalls(CommitTransactionCommand)).toHaveLength(1);
  });

  it('retry a commit that was throttled, and a begin whose answer was lost', async () => {
    const lost = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    rds.on(BeginTransactionCommand).rejectsOnce(lost).resolves({ transactionId: 'tx-4' });
    rds.on(ExecuteStatementCommand).resolves({ records: [] });
    rds
      .on(CommitTransactionCommand)
      .rejectsOnce(throttled())
      .resolves({ transactionStatus: 'Transaction Committed' });

    await executor().transaction((tx) => tx.execute('INSERT 1'));

    expect(rds.commandCalls(BeginTransactionCommand)).toHaveLength(2);
    expect(rds.commandCalls(CommitTransactionCommand)).toHaveLength(2);
  });

  it('surface a resume that outlasts the budget as DatabaseResumingError, with when to retry', async () => {
    rds
      .on(ExecuteStatementCommand)
      .rejects(new DatabaseResumingException({ message: 'resuming', $metadata: {} }));
    const clock = virtualClock();
    const slow = new DataApiExecutor(new RDSDataClient({ region: 'us-east-1' }), target, {
      retry: { baseDelayMs: 250, maxDelayMs: 4_000, budgetMs: 20_000 },
      retryDeps: clock,
    });

    const failure = slow.execute('SELECT 1');

    await expect(failure).rejects.toBeInstanceOf(DatabaseResumingError);
    await expect(failure).rejects.toMatchObject({
      message: 'the database was still resuming from a pause after 20 s of retries',
      retryAfterSeconds: 30,
    });
    expect(clock.slept()).toBe(20_000);
  });
});

describe('what the executor sends', () => {
  it('sends a statement without its comments', async () => {
    rds.on(ExecuteStatementCommand).resolves({ records: [] });

    await executor().execute('SELECT 1 -- a note; with :colon\nFROM t /* why */ WHERE a = 1');

    expect(rds.commandCalls(ExecuteStatementCommand)[0]?.args[0].input.sql).toBe(
      'SELECT 1  \nFROM t   WHERE a = 1',
    );
  });

  it('goes through a client whose SDK retries are off, so nothing is repeated behind its back', async () => {
    const client = dataApiClient({ region: 'us-east-1' });

    expect(await client.config.maxAttempts()).toBe(1);
  });
});
