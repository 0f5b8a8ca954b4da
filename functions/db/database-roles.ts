import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import * as z from 'zod';
import { type SqlExecutor, StatementError } from './executor.js';
import { defineStatement, runStatement } from './statement.js';

/**
 * Least privilege inside the database. The master user (the cluster's generated
 * secret) stays with the migrator; the functions log in as one of two roles:
 *
 * - `provisioning_reader`: SELECT on what the status route and the operator read route
 *   read, nothing else: a bug or an injection there can read a job, never change one.
 * - `provisioning_app`: the reads and writes the handlers' statements make, table by
 *   table; no DDL (no CREATE on the schema, owner of nothing), no TRUNCATE.
 *
 * Roles are cluster-wide and their passwords come from Secrets Manager, so they are
 * made here, in code the migrator runs after the migrations, not in a `schema/` file:
 * a migration cannot read a secret, and a role is not versioned with the schema. Every
 * run re-applies the whole table of grants, so a privilege removed here is revoked at
 * the next deploy, and a table added without its line fails a test.
 */

export const DATABASE_ROLES = {
  app: 'provisioning_app',
  reader: 'provisioning_reader',
} as const;
export type DatabaseRole = keyof typeof DATABASE_ROLES;

type Privilege = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';

/**
 * What each role may do, table by table. `INSERT … ON CONFLICT DO UPDATE` and
 * `SELECT … FOR UPDATE` need UPDATE; `RETURNING` needs SELECT.
 */
export const TABLE_GRANTS: Readonly<
  Record<string, Readonly<Record<DatabaseRole, readonly Privilege[]>>>
> = {
  packages: { app: ['SELECT'], reader: [] },
  customer_accounts: { app: ['SELECT', 'INSERT', 'UPDATE'], reader: ['SELECT'] },
  provisioning_jobs: { app: ['SELECT', 'INSERT', 'UPDATE'], reader: ['SELECT'] },
  provisioning_job_events: { app: ['SELECT', 'INSERT'], reader: ['SELECT'] },
  users: { app: ['SELECT'], reader: [] },
  organization_databases: { app: ['SELECT', 'INSERT', 'UPDATE'], reader: [] },
  notifications: { app: ['SELECT', 'INSERT'], reader: [] },
  watchdog_alerts: { app: ['SELECT', 'INSERT', 'UPDATE'], reader: [] },
  // Pruned by the watchdog's housekeeping after 30 (events) and 90 (refusals) days.
  stripe_events: { app: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'], reader: [] },
  rejected_inputs: { app: ['SELECT', 'INSERT', 'DELETE'], reader: [] },
  operator_requests: { app: ['SELECT', 'INSERT', 'UPDATE'], reader: [] },
  orchestrator_breaker: { app: ['SELECT', 'UPDATE'], reader: [] },
  orchestrator_breaker_events: { app: ['SELECT', 'INSERT'], reader: [] },
  // The missed-checkout sweep's high-water mark (one row).
  checkout_sweep: { app: ['SELECT', 'INSERT', 'UPDATE'], reader: [] },
  // The reconciler's lease and quiet marker (one row, inserted by its migration).
  reconciler_state: { app: ['SELECT', 'UPDATE'], reader: [] },
  // The migrator's own ledger: no function reads it.
  schema_migrations: { app: [], reader: [] },
};

const roleExists = defineStatement({
  name: 'find database role',
  sql: 'SELECT rolname FROM pg_roles WHERE rolname = :role',
  params: { role: 'text' },
  row: z.object({ rolname: z.string() }),
  replay: 'safe',
});

/** Passwords for the roles (from their secrets); a role without one cannot log in. */
export type RolePasswords = Partial<Record<DatabaseRole, string>>;

/**
 * Creates the roles that do not exist yet (without login), sets the passwords given,
 * and applies `TABLE_GRANTS` to this database in one transaction. Safe to run again
 * and by two migrators at once.
 */
export async function applyDatabaseRoles(
  db: SqlExecutor,
  passwords: RolePasswords = {},
): Promise<void> {
  await ensureDatabaseRoles(db, passwords);
  await grantTablePrivileges(db);
}

/** The cluster-wide half: the roles exist, and those given a password can log in with it. */
export async function ensureDatabaseRoles(
  db: SqlExecutor,
  passwords: RolePasswords = {},
): Promise<void> {
  for (const role of Object.keys(DATABASE_ROLES) as DatabaseRole[]) {
    const name = DATABASE_ROLES[role];
    await ensureRole(db, name);
    const password = passwords[role];
    if (password === undefined) continue;
    await db.execute(
      setPasswordStatement(name, password),
      {},
      {
        name: `set the password of ${name}`,
        replay: 'safe',
      },
    );
  }
}

async function ensureRole(db: SqlExecutor, role: string): Promise<void> {
  if ((await runStatement(db, roleExists, { role })).length > 0) return;
  try {
    // Identifiers cannot be parameters; `role` is one of the constants above.
    await db.execute(`CREATE ROLE ${role} NOLOGIN`, {}, { name: `create role ${role}` });
  } catch (error) {
    // Another migrator (another database of this cluster) created it meanwhile.
    if (!isDuplicateRole(error)) throw error;
  }
}

function isDuplicateRole(error: unknown): boolean {
  return error instanceof StatementError && ['42710', '23505'].includes(error.sqlState ?? '');
}

/** The per-database half: every grant of `TABLE_GRANTS`, after revoking what the roles held. */
export async function grantTablePrivileges(db: SqlExecutor): Promise<void> {
  const roles = Object.values(DATABASE_ROLES).join(', ');
  const statements = [
    // PostgreSQL 15 and later already refuse CREATE in `public` to everyone else;
    // said explicitly so no version lets the roles create objects.
    'REVOKE CREATE ON SCHEMA public FROM PUBLIC',
    `GRANT USAGE ON SCHEMA public TO ${roles}`,
  ];
  for (const [table, grants] of Object.entries(TABLE_GRANTS)) {
    statements.push(`REVOKE ALL ON TABLE ${table} FROM ${roles}`);
    for (const role of Object.keys(grants) as DatabaseRole[]) {
      const privileges = grants[role];
      if (privileges.length) {
        statements.push(
          `GRANT ${privileges.join(', ')} ON TABLE ${table} TO ${DATABASE_ROLES[role]}`,
        );
      }
    }
  }
  await db.transaction(async (tx) => {
    for (const sql of statements) await tx.execute(sql, {}, { name: 'grant table privileges' });
  });
}

const SCRAM_ITERATIONS = 4096;
const SCRAM_VERIFIER = /^SCRAM-SHA-256\$\d+:[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*:[A-Za-z0-9+/]+=*$/;

/**
 * `ALTER ROLE … PASSWORD` with a SCRAM-SHA-256 verifier computed here (as psql's
 * `\password` does), so the password itself never reaches the server, its logs or
 * `pg_stat_statements`. A utility statement takes no parameters: the verifier, which
 * this function derived and checked, is the one value written into a statement's
 * text, its colons escaped so no `:name` can be read into it.
 */
export function setPasswordStatement(role: string, password: string): string {
  if (!/^[\x21-\x7e]{16,256}$/.test(password)) {
    throw new Error(
      `the password for ${role} must be 16 to 256 visible ASCII characters (as the stack generates it)`,
    );
  }
  const verifier = scramVerifier(password);
  if (!SCRAM_VERIFIER.test(verifier)) throw new Error('unexpected SCRAM verifier shape');
  return `ALTER ROLE ${role} WITH LOGIN PASSWORD E'${verifier.replaceAll(':', '\\x3a')}'`;
}

/** RFC 5802 / 7677: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`. */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16)): string {
  const salted = pbkdf2Sync(password, salt, SCRAM_ITERATIONS, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${SCRAM_ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
