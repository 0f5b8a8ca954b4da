import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import type { SqlExecutor } from './executor.js';
import { defineStatement, runStatement, runStatementForOne } from './statement.js';

const upsertPackageStatement = defineStatement({
  name: 'upsert package',
  sql: `
INSERT INTO packages (slug, tier, tokens_quota) VALUES (:slug, :tier, :tokensQuota)
ON CONFLICT (slug) DO UPDATE SET tier = excluded.tier, tokens_quota = excluded.tokens_quota
RETURNING slug`,
  params: { slug: 'text', tier: 'text', tokensQuota: 'int' },
  row: z.object({ slug: z.string() }),
  replay: 'safe',
});

export interface Package {
  readonly slug: string;
  readonly tier: string;
  readonly tokensQuota: number;
}

/** Adds a package to the catalogue, or changes its tier and quota (for jobs recorded from now on). */
export async function upsertPackage(db: SqlExecutor, pkg: Package): Promise<void> {
  await runStatementForOne(db, upsertPackageStatement, pkg);
}

const upsertUserStatement = defineStatement({
  name: 'upsert user',
  sql: `
INSERT INTO users AS u (id, email, role) VALUES (:id, :email, :role)
ON CONFLICT (email) DO UPDATE SET role = excluded.role
RETURNING u.id`,
  params: { id: 'uuid', email: 'text', role: 'text' },
  row: z.object({ id: z.string() }),
  replay: 'safe',
});

/** Adds a user with a role, or changes the role of an existing one; answers the user's id. */
export async function upsertUser(
  db: SqlExecutor,
  user: { email: string; role: 'admin' | 'member' },
): Promise<string> {
  const { id } = await runStatementForOne(db, upsertUserStatement, { id: randomUUID(), ...user });
  return id;
}

const findPackageStatement = defineStatement({
  name: 'find package',
  sql: 'SELECT slug FROM packages WHERE slug = :slug',
  params: { slug: 'text' },
  row: z.object({ slug: z.string() }),
  replay: 'safe',
});

/** Whether the catalogue sells this package (an operator's typo is refused, not recorded). */
export async function isPackageInCatalogue(db: SqlExecutor, slug: string): Promise<boolean> {
  const rows = await runStatement(db, findPackageStatement, { slug });
  return rows.length > 0;
}
