import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { DataApiExecutor } from '../../functions/db/data-api-executor.js';
import {
  DATABASE_ROLES,
  type DatabaseRole,
  scramVerifier,
  setPasswordStatement,
  TABLE_GRANTS,
} from '../../functions/db/database-roles.js';
import { recordSettledCheckout } from '../../functions/db/jobs/checkout-records.js';
import { readJob } from '../../functions/db/jobs/operator-actions.js';
import { recordRejectedInput } from '../../functions/db/rejected-inputs-repository.js';
import { sqlTextHazards } from '../../functions/db/sql-text.js';
import { readSessionStatus } from '../../functions/db/status-repository.js';
import type { DataApiBridge } from '../support/data-api-bridge.js';
import { bridgedExecutor } from '../support/executors.js';
import { checkout, jobsDatabase, LEASE_SECONDS, recordedJob, T0 } from '../support/jobs.js';

/**
 * The roles the functions log in as, on the real PostgreSQL through the Data API bridge
 * (the bridge logs in as the role, as the Data API does with the role's secret).
 */

const database = jobsDatabase();
const bridges: DataApiBridge[] = [];
afterAll(async () => {
  for (const bridge of bridges) await bridge.close();
});

/** The Data API executor as the role, or as the master user; its bridge closes after the file. */
function executorAs(role?: DatabaseRole): DataApiExecutor {
  const { executor, bridge } = bridgedExecutor(database(), role ? { as: role } : {});
  bridges.push(bridge);
  return executor;
}

/** The SQLSTATE a statement was refused with (42501: insufficient privilege). */
async function refusal(run: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await run();
    return undefined;
  } catch (error) {
    return (error as { sqlState?: string }).sqlState ?? String(error);
  }
}

describe('the read-only role (status and operator read routes)', () => {
  it('reads what the status route and the operator read route read', async () => {
    await recordedJob(database().executor, T0, { stripeSessionId: 'cs_test_roles_read' });
    const reader = executorAs('reader');

    expect(await readSessionStatus(reader, 'cs_test_roles_read')).toMatchObject({
      job_status: 'enqueued',
    });
    expect((await readJob(reader, 'cs_test_roles_read'))?.history).toHaveLength(1);
  });

  it('cannot write: no insert, update or delete anywhere, the trail of refusals included', async () => {
    const job = await recordedJob(database().executor, T0, {
      stripeSessionId: 'cs_test_roles_write',
    });
    const reader = executorAs('reader');

    const attempts = {
      insert: () =>
        recordRejectedInput(reader, { source: 'callback', reference: null, reason: 'x' }, T0),
      update: () =>
        reader.execute(`UPDATE provisioning_jobs SET status = 'provisioned' WHERE id = :id`, {
          id: { type: 'uuid', value: job.id },
        }),
      delete: () => reader.execute('DELETE FROM provisioning_job_events'),
      catalogue: () => reader.execute('SELECT slug FROM packages'),
      ddl: () => reader.execute('CREATE TABLE stolen (id int)'),
    };

    for (const [what, attempt] of Object.entries(attempts)) {
      expect(await refusal(attempt), what).toBe('42501');
    }
    const { rows } = await database().pool.query(
      'SELECT status FROM provisioning_jobs WHERE id = $1',
      [job.id],
    );
    expect(rows[0]?.status).toBe('enqueued');
  });
});

describe('the application role (every other function)', () => {
  it('does what the handlers do: records a checkout, its history and a refusal', async () => {
    const app = executorAs('app');

    const { created } = await recordSettledCheckout(app, checkout(), T0, LEASE_SECONDS);
    await recordRejectedInput(app, { source: 'callback', reference: 'cs_x', reason: 'y' }, T0);

    expect(created).toBe(true);
  });

  it('cannot run DDL: create, alter, drop, truncate, grant or make roles', async () => {
    const app = executorAs('app');

    const attempts = {
      create: () => app.execute('CREATE TABLE stolen (id int)'),
      alter: () => app.execute('ALTER TABLE provisioning_jobs ADD COLUMN stolen int'),
      drop: () => app.execute('DROP TABLE rejected_inputs'),
      truncate: () => app.execute('TRUNCATE provisioning_job_events'),
      index: () => app.execute('CREATE INDEX stolen_idx ON provisioning_jobs (phase)'),
      role: () => app.execute('CREATE ROLE stolen'),
      ledger: () => app.execute('SELECT version FROM schema_migrations'),
      catalogue: () => app.execute(`UPDATE packages SET tokens_quota = 1 WHERE slug = 'growth'`),
    };

    for (const [what, attempt] of Object.entries(attempts)) {
      expect(await refusal(attempt), what).toBe('42501');
    }
    // PostgreSQL answers a grant on a table one does not own with a warning, and grants nothing.
    await app.execute(`GRANT INSERT ON provisioning_jobs TO ${DATABASE_ROLES.reader}`);
    const { rows } = await database().pool.query(
      `SELECT 1 FROM information_schema.role_table_grants
       WHERE grantee = $1 AND table_name = 'provisioning_jobs' AND privilege_type = 'INSERT'`,
      [DATABASE_ROLES.reader],
    );
    expect(rows).toEqual([]);
  });
});

describe('the grants', () => {
  it('name every table of the schema, so a new table cannot be forgotten', async () => {
    const { rows } = await database().pool.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    );

    expect(rows.map((row) => row.table_name).sort()).toEqual(Object.keys(TABLE_GRANTS).sort());
  });

  it('give the roles nothing on a table beyond its line', async () => {
    const { rows } = await database().pool.query<{
      grantee: string;
      table_name: string;
      privilege: string;
    }>(
      `SELECT grantee, table_name, privilege_type AS privilege FROM information_schema.role_table_grants
       WHERE grantee = ANY($1) ORDER BY 1, 2, 3`,
      [Object.values(DATABASE_ROLES)],
    );
    const expected = Object.entries(TABLE_GRANTS).flatMap(([table, grants]) =>
      (Object.keys(grants) as DatabaseRole[]).flatMap((role) =>
        grants[role].map((privilege) => ({
          grantee: DATABASE_ROLES[role],
          table_name: table,
          privilege,
        })),
      ),
    );

    expect(rows).toEqual(
      expected.sort(
        (a, b) =>
          a.grantee.localeCompare(b.grantee) ||
          a.table_name.localeCompare(b.table_name) ||
          a.privilege.localeCompare(b.privilege),
      ),
    );
  });
});

describe('setting a role password', () => {
  it('sends a SCRAM verifier, never the password, in text the Data API parses plainly', () => {
    const password = 'Zx9kQ2mV7pL4sT8wR1nB6cD3';

    const statement = setPasswordStatement(DATABASE_ROLES.app, password);

    expect(statement).toMatch(
      /^ALTER ROLE provisioning_app WITH LOGIN PASSWORD E'SCRAM-SHA-256\$4096\\x3a/,
    );
    expect(statement).not.toContain(password);
    expect(sqlTextHazards(statement)).toEqual([]);
  });

  it('refuses a password it was not built for', () => {
    expect(() => setPasswordStatement(DATABASE_ROLES.app, "short'")).toThrow(/16 to 256 visible/);
  });

  it('lets the role log in with the password, set through the Data API', async () => {
    const role = `roles_test_${Date.now().toString(36)}`;
    const password = 'pw-Zx9kQ2mV7pL4sT8wR1nB6';
    await database().pool.query(`CREATE ROLE ${role} NOLOGIN`);
    const master = executorAs();

    try {
      await master.execute(setPasswordStatement(role, password));
      const as = new URL(database().connectionString);
      as.username = role;
      as.password = password;
      const client = new pg.Client({ connectionString: as.toString() });
      await client.connect();
      const { rows } = await client.query('SELECT current_user AS who');
      await client.end();

      expect(rows[0]?.who).toBe(role);
      const stored = await database().pool.query(
        'SELECT rolpassword FROM pg_authid WHERE rolname = $1',
        [role],
      );
      expect(String(stored.rows[0]?.rolpassword)).toMatch(/^SCRAM-SHA-256\$4096:/);
    } finally {
      await database().pool.query(`DROP ROLE ${role}`);
    }
  });

  it('derives a different verifier from a different salt, and the same from the same', () => {
    const salt = Buffer.alloc(16, 7);

    expect(scramVerifier('pencil-pencil-pencil', salt)).toBe(
      scramVerifier('pencil-pencil-pencil', salt),
    );
    expect(scramVerifier('pencil-pencil-pencil')).not.toBe(scramVerifier('pencil-pencil-pencil'));
  });
});
