import {
  BadRequestException,
  BeginTransactionCommand,
  CommitTransactionCommand,
  DatabaseResumingException,
  ExecuteStatementCommand,
  RDSDataClient,
  RollbackTransactionCommand,
} from '@aws-sdk/client-rds-data';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DataApiExecutor, toSqlParameter } from '../../functions/db/data-api-executor.js';
import { StatementError } from '../../functions/db/executor.js';

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
