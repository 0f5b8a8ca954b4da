/**
 * `npm run bench`: what the partial indexes buy the two queries that run every few
 * minutes for the life of the product: the STUCK gauge and the reconciler's STALE
 * scan. Both run side by side, in one session, over the same data: once as planned
 * (partial indexes over jobs in flight) and once with index scans disabled (a scan of
 * every job ever recorded). Absolute times on a shared machine are noise; the ratio
 * is the result.
 *
 * Options: --provisioned N (default 200000), --in-flight N (default 200), --rounds N (default 30).
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_RULES, secondsBefore } from '../functions/core/rules.js';
import { loadMigrations, migrate } from '../functions/db/migrator.js';
import { createPool, PgExecutor } from '../functions/db/pg-executor.js';
import { toPositional } from '../functions/db/sql-text.js';
import { startScratchPostgres } from '../local/scratch-postgres.js';

const { values } = parseArgs({
  options: {
    provisioned: { type: 'string', default: '200000' },
    'in-flight': { type: 'string', default: '200' },
    rounds: { type: 'string', default: '30' },
  },
});
const provisioned = Number(values.provisioned);
const inFlight = Number(values['in-flight']);
const rounds = Number(values.rounds);

const STUCK_COUNT = `SELECT count(*) FROM provisioning_jobs
WHERE status <> 'provisioned' AND (updated_at < :stuckBefore OR attempts >= :maxAttempts)`;
const STALE_SCAN = `SELECT id FROM provisioning_jobs
WHERE status <> 'provisioned' AND attempts < :maxAttempts
  AND (last_attempt_at IS NULL OR last_attempt_at < :staleBefore) AND trigger_payload IS NOT NULL
ORDER BY last_attempt_at ASC NULLS FIRST, created_at ASC LIMIT 25`;

const scratch = process.env.DATABASE_URL ? undefined : await startScratchPostgres();
const pool = createPool(process.env.DATABASE_URL ?? (scratch as { url: string }).url, 1);
try {
  await migrate(
    new PgExecutor(pool),
    await loadMigrations(fileURLToPath(new URL('../schema', import.meta.url))),
  );
  await pool.query(
    'TRUNCATE provisioning_job_events, provisioning_jobs, customer_accounts CASCADE',
  );
  await pool.query(
    `INSERT INTO customer_accounts (id, stripe_session_id, status, created_at, updated_at)
     SELECT gen_random_uuid(), 'cs_bench_' || i, 'active', now(), now() FROM generate_series(1, $1::int) i`,
    [provisioned + inFlight],
  );
  await pool.query(
    `INSERT INTO provisioning_jobs (id, account_id, stripe_session_id, status, attempts, deployment_id, cell_id,
       trigger_payload, last_attempt_at, created_at, updated_at)
     SELECT gen_random_uuid(), a.id, a.stripe_session_id,
       CASE WHEN n.i <= $1 THEN 'provisioned' ELSE 'enqueued' END, 1,
       CASE WHEN n.i <= $1 THEN 'dpl_' || n.i END, CASE WHEN n.i <= $1 THEN 'cell' END,
       '{}'::jsonb, now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour'
     FROM customer_accounts a JOIN LATERAL (SELECT substr(a.stripe_session_id, 10)::int AS i) n ON true`,
    [provisioned],
  );
  await pool.query('VACUUM ANALYZE provisioning_jobs');

  const now = new Date();
  const params = {
    stuckBefore: secondsBefore(now, DEFAULT_RULES.stuckAfterSeconds).toISOString(),
    staleBefore: secondsBefore(now, DEFAULT_RULES.staleAfterSeconds).toISOString(),
    maxAttempts: DEFAULT_RULES.maxAttempts,
  };
  const time = async (sql: string, indexes: boolean): Promise<number> => {
    const { text, names } = toPositional(sql);
    const flag = indexes ? 'on' : 'off';
    await pool.query(
      `SET enable_indexscan = ${flag}; SET enable_indexonlyscan = ${flag}; SET enable_bitmapscan = ${flag}`,
    );
    const started = process.hrtime.bigint();
    await pool.query(
      text,
      names.map((name) => params[name as keyof typeof params]),
    );
    return Number(process.hrtime.bigint() - started) / 1e6;
  };
  const median = (xs: number[]) =>
    [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

  process.stdout.write(
    `${provisioned} provisioned jobs, ${inFlight} in flight, ${rounds} rounds each (interleaved)\n\n`,
  );
  process.stdout.write(
    'query          partial index (median ms)   full scan (median ms)   full scan / partial index\n',
  );
  for (const [name, sql] of [
    ['STUCK gauge', STUCK_COUNT],
    ['STALE scan', STALE_SCAN],
  ] as const) {
    const withIndex: number[] = [];
    const without: number[] = [];
    await time(sql, true);
    await time(sql, false);
    for (let round = 0; round < rounds; round += 1) {
      withIndex.push(await time(sql, true));
      without.push(await time(sql, false));
    }
    const a = median(withIndex);
    const b = median(without);
    process.stdout.write(
      `${name.padEnd(15)}${a.toFixed(3).padStart(26)}${b.toFixed(3).padStart(24)}${(b / a).toFixed(1).padStart(27)}x\n`,
    );
  }
} finally {
  await pool.end();
  await scratch?.stop();
}
