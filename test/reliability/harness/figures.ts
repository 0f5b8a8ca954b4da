import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { expect } from 'vitest';
import { isStuck } from '../../../functions/core/rules.js';
import type { JobRow } from '../../../functions/db/jobs/job-row.js';
import { clockOf } from '../../../ops/advice.js';
import type { Pipeline } from './pipeline.js';

/**
 * What a fault class cost, measured at the end of its scenario: what the orchestrator
 * received, what the product spent and where every paid checkout ended.
 */
export interface Figures {
  /** Paid checkouts Stripe delivered (each twice). */
  readonly checkouts: number;
  /** Trigger POSTs that reached the orchestrator. */
  readonly triggers: number;
  /** Attempts counted against retry budgets (a re-arm's restored budget included). */
  readonly budgetSpent: number;
  /** Jobs that ran out of budget (capped at some point). */
  readonly capped: number;
  /** Jobs parked after a permanent refusal. */
  readonly parked: number;
  /** Paid checkouts neither provisioned nor on the STUCK gauge: stranded silently. */
  readonly lost: number;
  /** Paid checkouts with more than one tenant minted. */
  readonly duplicated: number;
  /** The STUCK gauge's peak over the reconcile runs: the customers on-call is paged about. */
  readonly pages: number;
  /** Jobs provisioned, their account active and linked to their one tenant. */
  readonly provisioned: number;
}

export async function measure(pipeline: Pipeline): Promise<Figures> {
  expect(pipeline.problems(), 'the scenario ran as scripted').toEqual([]);
  const { h, orchestrator, rules } = pipeline;
  const now = pipeline.time.clock();
  const { rows: jobs } = await h.db.pool.query<
    JobRow & { account_status: string; account_deployment: string | null }
  >(
    `SELECT j.*, a.status AS account_status, a.deployment_id AS account_deployment
     FROM provisioning_jobs j JOIN customer_accounts a ON a.id = j.account_id`,
  );
  const { rows: spent } = await h.db.pool.query<{
    capped: number;
    parked: number;
    rearmed_budget: number;
  }>(
    `SELECT count(DISTINCT job_id) FILTER (WHERE kind = 'capped')::int AS capped,
       count(DISTINCT job_id) FILTER (WHERE kind = 'parked')::int AS parked,
       coalesce(sum(CAST(detail->>'budget_spent_before' AS int)) FILTER (WHERE kind = 'rearmed'), 0)::int
         AS rearmed_budget
     FROM provisioning_job_events`,
  );
  const tenantsBySession = countBy(orchestrator.tenants.map((tenant) => tenant.sessionId));
  const jobBySession = new Map(jobs.map((job) => [job.stripe_session_id, job]));
  const provisioned = new Set(
    jobs.filter(
      (job) =>
        job.status === 'provisioned' &&
        job.account_status === 'active' &&
        job.account_deployment === job.deployment_id &&
        orchestrator.tenants.some(
          (tenant) => tenant.jobId === job.id && tenant.deploymentId === job.deployment_id,
        ),
    ),
  );
  const lost = pipeline.sessions.filter((session) => {
    const job = jobBySession.get(session);
    if (!job) return true;
    if (provisioned.has(job)) return false;
    return !isStuck(clockOf({ ...job, payload_missing: job.trigger_payload === null }), now, rules);
  });
  const [events] = spent;
  return {
    checkouts: pipeline.sessions.length,
    triggers: orchestrator.triggers.length,
    budgetSpent:
      jobs.reduce((sum, job) => sum + job.budget_spent, 0) + (events?.rearmed_budget ?? 0),
    capped: events?.capped ?? 0,
    parked: events?.parked ?? 0,
    lost: lost.length,
    duplicated: [...tenantsBySession.values()].filter((tenants) => tenants > 1).length,
    pages: Math.max(0, ...pipeline.runs.map((run) => run.summary.stuck_total)),
    provisioned: provisioned.size,
  };
}

function countBy(keys: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1);
  return counts;
}

// ---------------------------------------------------------------------------------
// docs/RELIABILITY.md

const DOC = fileURLToPath(new URL('../../../docs/RELIABILITY.md', import.meta.url));

/** A row of a class's table: what is measured, the figure, and the goal it is held to. */
export interface Row {
  readonly figure: string;
  readonly measured: number | string;
  readonly goal: string;
}

const LABELS: Record<keyof Figures, string> = {
  checkouts: 'paid checkouts (each delivered twice)',
  triggers: 'triggers sent',
  budgetSpent: 'attempts spent (budget)',
  capped: 'jobs capped',
  parked: 'jobs parked',
  lost: 'lost (not provisioned, not on the gauge)',
  duplicated: 'duplicated (two tenants for one checkout)',
  pages: 'pages (STUCK gauge, peak)',
  provisioned: 'provisioned',
};

/** The class's figures as the rows of its table, with the goal of each (empty: reported only). */
export function rowsOf(
  figures: Figures,
  goals: Partial<Record<keyof Figures, string>>,
  extra: readonly Row[] = [],
): Row[] {
  return [
    ...(Object.keys(LABELS) as (keyof Figures)[]).map((key) => ({
      figure: LABELS[key],
      measured: figures[key],
      goal: goals[key] ?? '',
    })),
    ...extra,
  ];
}

function renderTable(rows: readonly Row[]): string {
  return [
    '| figure | measured | goal |',
    '|---|---:|---|',
    ...rows.map((row) => `| ${row.figure} | ${row.measured} | ${row.goal} |`),
  ].join('\n');
}

/**
 * The table docs/RELIABILITY.md shows for a class, between `<!-- figures:NAME -->` and
 * `<!-- /figures:NAME -->`; undefined when it has none.
 */
function documentedTable(name: string): string | undefined {
  const doc = readFileSync(DOC, 'utf8');
  const start = `<!-- figures:${name} -->`;
  const from = doc.indexOf(start);
  const to = doc.indexOf(`<!-- /figures:${name} -->`);
  if (from < 0 || to < from) return undefined;
  return doc.slice(from + start.length, to).trim();
}

/**
 * Fails unless docs/RELIABILITY.md shows exactly these rows for the class, and says
 * what to paste there: the document cannot drift from what the suite measures.
 */
export function expectDocumented(name: string, rows: readonly Row[]): void {
  const table = renderTable(rows);
  expect(
    documentedTable(name),
    `docs/RELIABILITY.md must show what the suite measured for ${name}:\n\n<!-- figures:${name} -->\n${table}\n<!-- /figures:${name} -->\n`,
  ).toBe(table);
}

/** The job ids of the lifecycle events of `type` published to the bus, one entry per event. */
export function published(pipeline: Pipeline, type: string): string[] {
  return pipeline.h.eventBridge
    .commandCalls(PutEventsCommand)
    .flatMap((call) => call.args[0].input.Entries ?? [])
    .filter((entry) => entry.DetailType === type)
    .map((entry) => String(JSON.parse(entry.Detail ?? '{}').job_id));
}
