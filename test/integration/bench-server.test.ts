import { describe, expect, inject, it } from 'vitest';
import { benchServer } from '../../bench/database.js';
import { createPool } from '../../functions/db/pg-executor.js';

async function databasesNamed(names: readonly string[]): Promise<string[]> {
  const admin = createPool(inject('postgresAdminUrl'), 1);
  try {
    const { rows } = await admin.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE datname = ANY($1)',
      [names],
    );
    return rows.map((row) => row.datname);
  } finally {
    await admin.end();
  }
}

describe('the bench on a developer’s own PostgreSQL (DATABASE_URL)', () => {
  it('leaves none of its databases on the server once it stops', async () => {
    const server = await benchServer(inject('postgresAdminUrl'));
    const measured = [await server.fresh(), await server.fresh()];
    const names = measured.map((database) => database.name);
    await measured[0]?.executor.execute('SELECT count(*) FROM provisioning_jobs');
    expect(await databasesNamed(names)).toHaveLength(2);

    await server.stop();

    expect(await databasesNamed(names)).toEqual([]);
  });
});
