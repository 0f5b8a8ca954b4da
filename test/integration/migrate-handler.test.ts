import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { readRolePassword } from '../../functions/adapters/secrets.js';
import { DATABASE_ROLES } from '../../functions/db/database-roles.js';
import { readSessionStatus } from '../../functions/db/status-repository.js';
import { applyMigrationsOnDeploy } from '../../functions/handlers/migrate.js';
import { bridgedExecutor } from '../support/executors.js';
import { freshDatabase, SCHEMA_DIR, type TestDatabase } from '../support/postgres.js';
import { TEST_ROLE_PASSWORDS } from '../support/role-passwords.js';

/** The versions in schema/, read from the file names, independently of the migrator. */
async function schemaVersions(): Promise<string[]> {
  const files = (await readdir(SCHEMA_DIR)).filter((file) => file.endsWith('.sql')).sort();
  return files.map((file) => file.slice(0, 4));
}

async function ledger(db: TestDatabase): Promise<string[]> {
  const { rows } = await db.pool.query<{ version: string }>(
    'SELECT version FROM schema_migrations ORDER BY version',
  );
  return rows.map((row) => row.version);
}

/** The stored (salted) password of each role the functions log in as. */
async function storedPasswords(db: TestDatabase): Promise<Record<string, string | null>> {
  const { rows } = await db.pool.query<{ role: string; password: string | null }>(
    'SELECT rolname AS role, rolpassword AS password FROM pg_authid WHERE rolname = ANY($1)',
    [Object.values(DATABASE_ROLES)],
  );
  return Object.fromEntries(rows.map((row) => [row.role, row.password]));
}

async function tableExists(db: TestDatabase, table: string): Promise<boolean> {
  const { rows } = await db.pool.query<{ present: boolean }>(
    'SELECT to_regclass($1) IS NOT NULL AS present',
    [table],
  );
  return rows[0]?.present ?? false;
}

describe('deploy-time migration custom resource', () => {
  let db: TestDatabase | undefined;
  let scratch: string | undefined;
  afterEach(async () => {
    await db?.close();
    db = undefined;
    if (scratch) await rm(scratch, { recursive: true, force: true });
    scratch = undefined;
  });

  it('applies every migration in schema/ on Create, through the Data API, and reports the latest version', async () => {
    // Prepare
    db = await freshDatabase({ migrated: false });
    const { executor, bridge } = bridgedExecutor(db);
    const versions = await schemaVersions();

    // Act
    const response = await applyMigrationsOnDeploy(executor, SCHEMA_DIR, { RequestType: 'Create' });

    // Assess
    expect(response).toEqual({
      PhysicalResourceId: 'provisioning-schema',
      Data: { applied: versions.join(','), latest: versions.at(-1) },
    });
    expect(await ledger(db)).toEqual(versions);
    expect(await tableExists(db, 'provisioning_jobs')).toBe(true);
    expect(bridge.calls.some((call) => call.command === 'ExecuteStatementCommand')).toBe(true);
  });

  it('then gives the roles the functions log in as their passwords and grants', async () => {
    // Prepare
    db = await freshDatabase({ migrated: false });
    const { executor } = bridgedExecutor(db);
    // The roles are cluster-wide and already have these passwords: each set salts anew.
    const before = await storedPasswords(db);

    // Act
    await applyMigrationsOnDeploy(
      executor,
      SCHEMA_DIR,
      { RequestType: 'Create' },
      TEST_ROLE_PASSWORDS,
    );

    // Assess: each role's password was set again, ...
    const after = await storedPasswords(db);
    for (const role of Object.values(DATABASE_ROLES)) {
      expect(after[role], role).toMatch(/^SCRAM-SHA-256\$/);
      expect(after[role], role).not.toBe(before[role]);
    }
    // ... and the read-only role logs in with its password and reads what the status route reads.
    const reader = bridgedExecutor(db, { as: 'reader' });
    expect(await readSessionStatus(reader.executor, 'cs_test_nobody')).toBeUndefined();
    await reader.bridge.close();
  });

  it('keeps the same PhysicalResourceId and applies nothing on an Update that brings no new migration', async () => {
    // Prepare
    db = await freshDatabase({ migrated: false });
    const { executor } = bridgedExecutor(db);
    const created = await applyMigrationsOnDeploy(executor, SCHEMA_DIR, { RequestType: 'Create' });
    const ledgerBefore = await ledger(db);

    // Act
    const updated = await applyMigrationsOnDeploy(executor, SCHEMA_DIR, { RequestType: 'Update' });

    // Assess
    // A changed id would make CloudFormation delete the "old" resource after the update.
    expect(updated.PhysicalResourceId).toBe(created.PhysicalResourceId);
    expect(updated.Data).toEqual({ applied: '', latest: created.Data.latest });
    expect(await ledger(db)).toEqual(ledgerBefore);
  });

  it('touches nothing on Delete: removing the stack never drops data', async () => {
    // Prepare
    db = await freshDatabase({ migrated: false });
    const { executor, bridge } = bridgedExecutor(db);
    const created = await applyMigrationsOnDeploy(executor, SCHEMA_DIR, { RequestType: 'Create' });
    const callsBefore = bridge.calls.length;

    // Act
    const deleted = await applyMigrationsOnDeploy(executor, SCHEMA_DIR, { RequestType: 'Delete' });

    // Assess
    expect(deleted.PhysicalResourceId).toBe(created.PhysicalResourceId);
    expect(bridge.calls).toHaveLength(callsBefore);
    expect(await ledger(db)).toEqual(await schemaVersions());
    expect(await tableExists(db, 'provisioning_jobs')).toBe(true);
    expect(await tableExists(db, 'customer_accounts')).toBe(true);
  });

  it('fails the deploy on a broken migration and records nothing of it', async () => {
    // Prepare
    db = await freshDatabase({ migrated: false });
    const { executor } = bridgedExecutor(db);
    await applyMigrationsOnDeploy(executor, SCHEMA_DIR, { RequestType: 'Create' });
    scratch = await mkdtemp(join(tmpdir(), 'broken-schema-'));
    for (const file of await readdir(SCHEMA_DIR)) {
      if (file.endsWith('.sql')) await copyFile(join(SCHEMA_DIR, file), join(scratch, file));
    }
    // The first statement succeeds, the second fails: the whole migration must roll back.
    await writeFile(
      join(scratch, '9999_broken_release.sql'),
      'CREATE TABLE half_applied (id int);\nALTER TABLE no_such_table ADD COLUMN x int;\n',
    );

    // Act
    const update = applyMigrationsOnDeploy(executor, scratch, { RequestType: 'Update' });

    // Assess
    await expect(update).rejects.toThrow(/migration 9999_broken_release failed: .*no_such_table/);
    expect(await ledger(db)).toEqual(await schemaVersions());
    expect(await tableExists(db, 'half_applied')).toBe(false);
  });
});

describe('reading a role password from its secret', () => {
  const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:app-role-AbCdEf';

  it('answers the password of the role the secret names', async () => {
    const client = mockClient(SecretsManagerClient);
    client.on(GetSecretValueCommand, { SecretId: ARN }).resolves({
      SecretString: JSON.stringify({
        username: 'provisioning_app',
        password: 'pw',
        engine: 'postgres',
      }),
    });

    try {
      expect(await readRolePassword(new SecretsManagerClient({}), ARN, 'provisioning_app')).toBe(
        'pw',
      );
    } finally {
      client.restore();
    }
  });

  it('refuses a secret of another user, or not a login, naming the secret and never its content', async () => {
    const client = mockClient(SecretsManagerClient);
    const read = (value: string) => {
      client.on(GetSecretValueCommand).resolves({ SecretString: value });
      return readRolePassword(new SecretsManagerClient({}), ARN, 'provisioning_app');
    };

    try {
      await expect(
        read(JSON.stringify({ username: 'provisioning_admin', password: 'hunter2' })),
      ).rejects.toThrow(`secret ${ARN} is the login of another user than provisioning_app`);
      await expect(read('hunter2')).rejects.toThrow(/is not a database login/);
      await expect(read('hunter2')).rejects.not.toThrow(/hunter2/);
    } finally {
      client.restore();
    }
  });
});
