import * as z from 'zod';
import { type Actor, JOB_STATUSES, UNKNOWN_PACKAGE } from '../core/job.js';
import type { SqlExecutor } from './executor.js';
import { type JobRow, jobRow } from './jobs/job-row.js';
import { defineStatement, runStatement, runStatementForOne } from './statement.js';

/**
 * What the operator CLI reads and writes beyond the jobs repository. Every write is one
 * statement that judges the latest committed state of the row it changes and records
 * the operator and their reason in the job's history.
 */

const jobStatus = z.enum(JOB_STATUSES);

// ---------------------------------------------------------------------------------
// Reads

const listUnprovisionedJobsStatement = defineStatement({
  name: 'list unprovisioned jobs',
  sql: `
SELECT id, account_id, stripe_session_id, status, phase, attempts, budget_spent, last_error, last_outcome,
  last_http_status, deployment_id, cell_id, package_slug, trigger_payload IS NULL AS payload_missing,
  last_attempt_at, lease_expires_at, next_attempt_at, parked_at, capped_at, updated_at, created_at,
  count(*) OVER () AS total
FROM provisioning_jobs
WHERE status NOT IN ('provisioned', 'cancelled')
-- The longest without progress first: the customer who has waited longest.
ORDER BY updated_at ASC, id ASC
LIMIT :limit`,
  params: { limit: 'int' },
  row: jobRow
    .pick({
      id: true,
      account_id: true,
      stripe_session_id: true,
      status: true,
      phase: true,
      attempts: true,
      budget_spent: true,
      last_error: true,
      last_outcome: true,
      last_http_status: true,
      deployment_id: true,
      cell_id: true,
      package_slug: true,
      last_attempt_at: true,
      lease_expires_at: true,
      next_attempt_at: true,
      parked_at: true,
      capped_at: true,
      updated_at: true,
      created_at: true,
    })
    .extend({ payload_missing: z.boolean(), total: z.number().int() }),
  replay: 'safe',
});

export type UnprovisionedJob = Omit<z.infer<typeof listUnprovisionedJobsStatement.row>, 'total'>;

/** Runbook 3.1: every job still waiting (not provisioned, not cancelled), the longest stalled first. */
export async function listUnprovisionedJobs(
  db: SqlExecutor,
  limit: number,
): Promise<{ jobs: UnprovisionedJob[]; total: number }> {
  const rows = await runStatement(db, listUnprovisionedJobsStatement, { limit });
  return {
    jobs: rows.map(({ total: _total, ...job }) => job),
    total: rows[0]?.total ?? 0,
  };
}

const findJobStatement = defineStatement({
  name: 'find job by id or session',
  sql: `
SELECT * FROM provisioning_jobs
WHERE id = :jobId OR stripe_session_id = :sessionId`,
  params: { jobId: 'uuid', sessionId: 'text' },
  row: jobRow,
  replay: 'safe',
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a reference is a job id (a UUID) rather than a session id. */
export function isJobId(reference: string): boolean {
  return UUID.test(reference);
}

/** The job with this id (a UUID) or for this session (`cs_…`, `op_…`); undefined if none. */
export async function findJob(
  db: SqlExecutor,
  jobIdOrSession: string,
): Promise<JobRow | undefined> {
  const isId = isJobId(jobIdOrSession);
  const [row] = await runStatement(db, findJobStatement, {
    jobId: isId ? jobIdOrSession.toLowerCase() : null,
    sessionId: isId ? null : jobIdOrSession,
  });
  return row;
}

const findPackageStatement = defineStatement({
  name: 'read package',
  sql: 'SELECT slug, tier, tokens_quota FROM packages WHERE slug = :slug',
  params: { slug: 'text' },
  row: z.object({ slug: z.string(), tier: z.string(), tokens_quota: z.number().int() }),
  replay: 'safe',
});

export interface CataloguePackage {
  readonly slug: string;
  readonly tier: string;
  readonly tokensQuota: number;
}

/** The catalogue's package for a slug, with its quota; undefined when the catalogue has none. */
export async function findPackage(
  db: SqlExecutor,
  slug: string,
): Promise<CataloguePackage | undefined> {
  const [row] = await runStatement(db, findPackageStatement, { slug });
  return row && { slug: row.slug, tier: row.tier, tokensQuota: row.tokens_quota };
}

const listPackagesStatement = defineStatement({
  name: 'list packages',
  sql: 'SELECT slug, tier, tokens_quota FROM packages ORDER BY slug',
  params: {},
  row: findPackageStatement.row,
  replay: 'safe',
});

export async function listPackages(db: SqlExecutor): Promise<CataloguePackage[]> {
  const rows = await runStatement(db, listPackagesStatement, {});
  return rows.map((row) => ({ slug: row.slug, tier: row.tier, tokensQuota: row.tokens_quota }));
}

const listAdminsStatement = defineStatement({
  name: 'list admins',
  sql: `SELECT id, email, created_at FROM users WHERE role = 'admin' ORDER BY email`,
  params: {},
  row: z.object({ id: z.string(), email: z.string(), created_at: z.date() }),
  replay: 'safe',
});

/** The users the watchdog notifies. */
export function listAdmins(db: SqlExecutor) {
  return runStatement(db, listAdminsStatement, {});
}

const listNotificationsStatement = defineStatement({
  name: 'list notifications',
  sql: `
SELECT n.id, n.created_at, n.level, n.kind, u.email AS recipient, n.message,
  n.organization_database_id, n.job_id, n.read_at
FROM notifications n JOIN users u ON u.id = n.user_id
ORDER BY n.created_at DESC, n.id
LIMIT :limit`,
  params: { limit: 'int' },
  row: z.object({
    id: z.string(),
    created_at: z.date(),
    level: z.string(),
    kind: z.string(),
    recipient: z.string(),
    message: z.string(),
    organization_database_id: z.string().nullable(),
    job_id: z.string().nullable(),
    read_at: z.date().nullable(),
  }),
  replay: 'safe',
});

export type NotificationRow = z.infer<typeof listNotificationsStatement.row>;

/** The watchdog's output, newest first. */
export function listNotifications(db: SqlExecutor, limit: number): Promise<NotificationRow[]> {
  return runStatement(db, listNotificationsStatement, { limit });
}

// ---------------------------------------------------------------------------------
// Writes

const recordOperatorNoteStatement = defineStatement({
  name: 'record operator note on a job',
  sql: `
INSERT INTO provisioning_job_events (job_id, occurred_at, kind, from_status, to_status, actor, reason, detail)
SELECT j.id, :now, :kind, j.status, j.status, :actor, :reason, CAST(:detail AS jsonb)
FROM provisioning_jobs j WHERE j.id = :jobId
RETURNING id`,
  params: {
    jobId: 'uuid',
    kind: 'text',
    actor: 'text',
    reason: 'text',
    detail: 'json',
    now: 'timestamp',
  },
  row: z.object({ id: z.number().int() }),
});

/**
 * Writes to a job's history what an operator did through another path (a callback
 * replayed through the route records the orchestrator as its actor): who, and why.
 */
export async function recordOperatorNote(
  db: SqlExecutor,
  note: {
    readonly jobId: string;
    readonly kind: string;
    readonly actor: Actor;
    readonly reason: string;
    readonly detail: Readonly<Record<string, unknown>>;
  },
  now: Date,
): Promise<{ recorded: boolean }> {
  const rows = await runStatement(db, recordOperatorNoteStatement, { ...note, now });
  return { recorded: rows.length > 0 };
}

const storeResolvedPayloadStatement = defineStatement({
  name: 'store resolved trigger payload',
  sql: `
WITH prior AS (
  SELECT j.id, j.account_id, j.stripe_session_id, j.status, j.trigger_payload IS NULL AS payload_missing,
    a.email AS account_email
  FROM provisioning_jobs j JOIN customer_accounts a ON a.id = j.account_id
  WHERE j.stripe_session_id = :sessionId
  FOR UPDATE OF j
), package AS (
  SELECT slug, tier, tokens_quota FROM packages WHERE slug = :packageSlug
), job AS (
  UPDATE provisioning_jobs j SET
    package_slug = package.slug,
    tokens_quota = package.tokens_quota,
    trigger_payload = jsonb_build_object(
      'job_id', prior.id,
      'stripe_session_id', prior.stripe_session_id,
      'account_id', prior.account_id,
      'package_slug', package.slug,
      'tokens_quota', package.tokens_quota,
      'customer_email', coalesce(prior.account_email, CAST(:email AS text)),
      'callback_url', CAST(:callbackUrl AS text)),
    -- The package is known now; any other error (a transport failure) still stands.
    last_error = CASE WHEN j.last_error = '${UNKNOWN_PACKAGE}' THEN NULL ELSE j.last_error END,
    updated_at = :now
  FROM prior, package
  WHERE j.id = prior.id AND prior.status <> 'provisioned' AND prior.payload_missing
  RETURNING j.id, j.status, j.account_id, j.trigger_payload
), account AS (
  UPDATE customer_accounts a SET
    package_slug = package.slug,
    tier = coalesce(a.tier, package.tier),
    email = coalesce(a.email, CAST(:email AS text)),
    tokens_quota = CASE WHEN a.tokens_quota > 0 THEN a.tokens_quota ELSE package.tokens_quota END,
    updated_at = :now
  FROM job, package
  WHERE a.id = job.account_id
  RETURNING a.id
), history AS (
  INSERT INTO provisioning_job_events (job_id, occurred_at, kind, from_status, to_status, actor, reason, detail)
  SELECT job.id, :now, 'payload_resolved', prior.status, job.status, :actor, :reason,
    jsonb_build_object('package_slug', package.slug, 'tokens_quota', package.tokens_quota,
      'source', CAST(:source AS text))
  FROM job JOIN prior ON prior.id = job.id CROSS JOIN package
)
SELECT prior.status AS prior_status, prior.payload_missing,
  EXISTS (SELECT 1 FROM package) AS package_known,
  job.id IS NOT NULL AS applied, job.trigger_payload
FROM prior LEFT JOIN job ON true`,
  params: {
    sessionId: 'text',
    packageSlug: 'text',
    email: 'text',
    callbackUrl: 'text',
    source: 'text',
    actor: 'text',
    reason: 'text',
    now: 'timestamp',
  },
  row: z.object({
    prior_status: jobStatus,
    payload_missing: z.boolean(),
    package_known: z.boolean(),
    applied: z.boolean(),
    trigger_payload: z.record(z.string(), z.unknown()).nullable(),
  }),
});

export type ResolvePayloadResult =
  | { readonly kind: 'stored'; readonly triggerPayload: Record<string, unknown> }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'refused_provisioned' }
  | { readonly kind: 'refused_payload_present' }
  | { readonly kind: 'refused_unknown_package' };

/**
 * Runbook 6b: stores the trigger payload of a job recorded without one, from a package
 * the operator recovered (from the Stripe session) and the catalogue's quota for it, in
 * the shape the webhook would have stored. The account gets the package's tier and
 * quota where it has none. Refuses a provisioned job, a job that has a payload by now,
 * and a package the catalogue does not sell; nothing is written then.
 */
export async function storeResolvedPayload(
  db: SqlExecutor,
  request: {
    readonly stripeSessionId: string;
    readonly packageSlug: string;
    /** The customer's e-mail, used only when the account has none. */
    readonly customerEmail: string | null;
    readonly callbackUrl: string;
    /** Where the package came from, for the history (e.g. `stripe_checkout_session`). */
    readonly source: string;
    readonly actor: Actor;
    readonly reason: string;
  },
  now: Date,
): Promise<ResolvePayloadResult> {
  const [row] = await runStatement(db, storeResolvedPayloadStatement, {
    sessionId: request.stripeSessionId,
    packageSlug: request.packageSlug,
    email: request.customerEmail,
    callbackUrl: request.callbackUrl,
    source: request.source,
    actor: request.actor,
    reason: request.reason,
    now,
  });
  if (!row) return { kind: 'not_found' };
  if (row.applied && row.trigger_payload) {
    return { kind: 'stored', triggerPayload: row.trigger_payload };
  }
  if (row.prior_status === 'provisioned') return { kind: 'refused_provisioned' };
  if (!row.payload_missing) return { kind: 'refused_payload_present' };
  return { kind: 'refused_unknown_package' };
}

const demoteAdminStatement = defineStatement({
  name: 'demote admin unless last',
  sql: `
WITH admins AS (
  -- Locks every admin: two removals at once cannot each leave the other as the last.
  SELECT id, email FROM users WHERE role = 'admin' FOR UPDATE
), demoted AS (
  UPDATE users u SET role = 'member'
  FROM admins
  WHERE u.id = admins.id AND admins.email = :email AND (SELECT count(*) FROM admins) > 1
  RETURNING u.id
)
SELECT EXISTS (SELECT 1 FROM admins WHERE email = :email) AS was_admin,
  EXISTS (SELECT 1 FROM demoted) AS demoted`,
  params: { email: 'text' },
  row: z.object({ was_admin: z.boolean(), demoted: z.boolean() }),
});

export type RemoveAdminResult = 'removed' | 'not_admin' | 'last_admin';

/**
 * Makes an admin a member (kept, not deleted: their notifications refer to them). The
 * last admin is never removed: the watchdog's notifications would reach nobody.
 */
export async function removeAdmin(db: SqlExecutor, email: string): Promise<RemoveAdminResult> {
  const row = await runStatementForOne(db, demoteAdminStatement, { email });
  if (row.demoted) return 'removed';
  if (!row.was_admin) return 'not_admin';
  return 'last_admin';
}
