import * as z from 'zod';
import type { Clock } from '../../functions/adapters/clock.js';
import {
  ClientFacingError,
  ConflictError,
  describeIssues,
  InvalidInputError,
  NotFoundError,
} from '../../functions/core/errors.js';
import { JOB_STATUSES } from '../../functions/core/job.js';
import type { ProvisioningRules } from '../../functions/core/rules.js';
import { isJobSessionId } from '../../functions/core/session-id.js';
import { openSeconds, readBreaker } from '../../functions/db/breaker-repository.js';
import type { SqlExecutor } from '../../functions/db/executor.js';
import { readJob } from '../../functions/db/jobs/operator-actions.js';
import { countStuckJobs } from '../../functions/db/jobs/reconcile-claims.js';
import { listPackages } from '../../functions/db/operator-repository.js';
import type { LocalFifoQueue } from '../fifo-queue.js';
import {
  SANDBOX_MODES,
  type SandboxOrchestrator,
  sandboxModeBody,
  switchSandboxMode as switchSandbox,
} from '../sandbox-orchestrator.js';
import { sendSimulatedCheckout } from '../simulated-checkout.js';
import { countJobsByStatus, listJobs } from './jobs-repository.js';

export interface ConsoleDependencies {
  readonly db: SqlExecutor;
  readonly clock: Clock;
  readonly rules: ProvisioningRules;
  readonly queue: Pick<LocalFifoQueue, 'depth'>;
  /** Undefined when `SANDBOX_ORCHESTRATOR=off`. */
  readonly sandbox: Pick<SandboxOrchestrator, 'mode' | 'url'> | undefined;
  /** The runtime's own URL and webhook secret: the checkout button goes through the real webhook route. */
  readonly baseUrl: string;
  readonly webhookSecret: string;
}

/** An answer of the console's JSON API. */
export interface ConsoleAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** The sandbox or the webhook route, which the console drives over HTTP, refused. */
export class RefusedUpstreamError extends ClientFacingError {
  override readonly name = 'RefusedUpstreamError';
  readonly status = 502;
}

/** How many jobs the list shows: the newest, which is what a person watching wants. */
const LIST_LIMIT = 200;

const jobsQuery = z.object({
  status: z.enum(JOB_STATUSES).optional(),
  search: z
    .string()
    .max(255)
    .regex(/^[A-Za-z0-9_]*$/, 'search may hold only letters, digits and _ (part of a session id)')
    .optional(),
});
const checkoutBody = z.object({
  package: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'package must be a package slug such as growth'),
});

/** The gauges, the queue, the breaker, the sandbox and the catalogue: everything but the jobs. */
export async function overview(deps: ConsoleDependencies): Promise<ConsoleAnswer> {
  const [stuck, counts, packages, breaker] = await Promise.all([
    countStuckJobs(deps.db, deps.clock(), deps.rules),
    countJobsByStatus(deps.db),
    listPackages(deps.db),
    readBreaker(deps.db),
  ]);
  return {
    status: 200,
    body: {
      stuck,
      queue: deps.queue.depth(),
      breaker: {
        state: breaker.state,
        held: breaker.forced,
        openSeconds: openSeconds(breaker, deps.clock()),
        consecutiveFailures: breaker.consecutive_failures,
        threshold: deps.rules.breakerFailureThreshold,
        reason: breaker.reason,
      },
      sandbox: deps.sandbox ? { mode: deps.sandbox.mode, modes: SANDBOX_MODES } : null,
      statuses: JOB_STATUSES,
      counts,
      packages: packages.map((pkg) => pkg.slug),
    },
  };
}

export async function jobs(
  deps: ConsoleDependencies,
  query: URLSearchParams,
): Promise<ConsoleAnswer> {
  const filter = parse(jobsQuery, Object.fromEntries(query));
  return {
    status: 200,
    body: { jobs: await listJobs(deps.db, { ...filter, limit: LIST_LIMIT }) },
  };
}

/** One job's timeline: `readJob`, the very function behind `ops show`, so the two never drift. */
export async function job(deps: ConsoleDependencies, session: string): Promise<ConsoleAnswer> {
  if (!isJobSessionId(session))
    throw new InvalidInputError(`${session} is not a session id (cs_… or op_…)`);
  const report = await readJob(deps.db, session);
  if (!report) throw new NotFoundError(`no provisioning job for stripe_session_id ${session}`);
  return { status: 200, body: report };
}

/** Switches the sandbox orchestrator through its own control route (`PUT /mode`). */
export async function switchSandboxMode(
  deps: ConsoleDependencies,
  body: unknown,
): Promise<ConsoleAnswer> {
  const { mode } = parse(sandboxModeBody, body);
  if (!deps.sandbox?.url)
    throw new ConflictError(
      'the sandbox orchestrator is off (SANDBOX_ORCHESTRATOR=off): triggers go to PROVISIONING_TRIGGER_URL',
    );
  await switchSandbox(deps.sandbox.url, mode).catch((error: unknown) => {
    throw new RefusedUpstreamError(`the sandbox refused the switch: ${String(error)}`);
  });
  return { status: 200, body: { mode: deps.sandbox.mode } };
}

/** Sends a simulated paid checkout through the real webhook route, as `simulate:checkout` does. */
export async function simulateCheckout(
  deps: ConsoleDependencies,
  body: unknown,
): Promise<ConsoleAnswer> {
  const { package: packageSlug } = parse(checkoutBody, body);
  const sent = await sendSimulatedCheckout({
    baseUrl: deps.baseUrl,
    secret: deps.webhookSecret,
    packageSlug,
  });
  if (sent.status < 200 || sent.status >= 300)
    throw new RefusedUpstreamError(
      `the webhook route answered ${sent.status}: ${sent.body.slice(0, 200)}`,
    );
  return {
    status: 201,
    body: {
      session_id: sent.sessionId,
      status_url: sent.statusUrl,
      success_url: sent.successUrl,
    },
  };
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new InvalidInputError(describeIssues(parsed.error.issues));
}
