import { ExecuteStatementCommand, RDSDataClient } from '@aws-sdk/client-rds-data';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { DataApiExecutor } from '../../functions/db/data-api-executor.js';
import { parseDataApiTimestamp } from '../../functions/db/data-api-values.js';

const AT = '2026-11-23T09:30:15.000Z';

describe('timestamps as the Data API answers them', () => {
  it.each([
    ['no fraction', '2026-11-23 09:30:15', AT],
    ['1 fraction digit', '2026-11-23 09:30:15.2', '2026-11-23T09:30:15.200Z'],
    [
      '2 fraction digits (documented example)',
      '2026-11-23 09:30:15.25',
      '2026-11-23T09:30:15.250Z',
    ],
    ['3 fraction digits', '2026-11-23 09:30:15.123', '2026-11-23T09:30:15.123Z'],
    ['4 fraction digits', '2026-11-23 09:30:15.1234', '2026-11-23T09:30:15.123Z'],
    ['5 fraction digits', '2026-11-23 09:30:15.12345', '2026-11-23T09:30:15.123Z'],
    [
      '6 fraction digits (microseconds, truncated)',
      '2026-11-23 09:30:15.123999',
      '2026-11-23T09:30:15.123Z',
    ],
  ])('reads a zone-less value with %s as UTC', (_form, text, expected) => {
    expect(parseDataApiTimestamp(text).toISOString()).toBe(expected);
  });

  it.each([
    ['+00', '2026-11-23 09:30:15+00', AT],
    ['+00:00', '2026-11-23 09:30:15+00:00', AT],
    ['Z', '2026-11-23 09:30:15Z', AT],
    ['+05:30', '2026-11-23 15:00:15+05:30', AT],
    ['+0530', '2026-11-23 15:00:15+0530', AT],
    ['-08', '2026-11-23 01:30:15-08', AT],
    ['+00 after 6 fraction digits', '2026-11-23 09:30:15.000001+00', AT],
    ['a T separator and Z', '2026-11-23T09:30:15.000Z', AT],
  ])('applies an offset written as %s', (_form, text, expected) => {
    expect(parseDataApiTimestamp(text).toISOString()).toBe(expected);
  });

  it.each([
    ['an empty string', ''],
    ['a date alone', '2026-11-23'],
    ['seven fraction digits', '2026-11-23 09:30:15.1234567'],
    ['a day that does not exist', '2026-02-30 09:30:15'],
    ['infinity', 'infinity'],
  ])('refuses %s, naming the value and the column', (_form, text) => {
    expect(() => parseDataApiTimestamp(text, 'updated_at')).toThrow(
      `the Data API answered '${text}' for updated_at: not a timestamp this executor reads`,
    );
  });

  it.each(['timestamptz', 'timestamp'])(
    'decodes a %s column of a result into a Date',
    async (typeName) => {
      const rds = mockClient(RDSDataClient);
      rds.on(ExecuteStatementCommand).resolves({
        columnMetadata: [{ label: 'at', typeName }],
        records: [[{ stringValue: '2026-11-23 09:30:15.25' }]],
      });
      const executor = new DataApiExecutor(new RDSDataClient({ region: 'us-east-1' }), {
        resourceArn: 'arn:aws:rds:us-east-1:123456789012:cluster:c',
        secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:s',
        database: 'provisioning',
      });

      const rows = await executor.execute('SELECT at FROM t').finally(() => rds.restore());

      expect(rows).toEqual([{ at: new Date('2026-11-23T09:30:15.250Z') }]);
    },
  );
});
