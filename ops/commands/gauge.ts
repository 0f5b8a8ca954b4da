import { countStuckJobs } from '../../functions/db/jobs/reconcile-claims.js';
import type { Command } from '../command.js';
import { positionals } from '../options.js';
import { duration } from '../render.js';

export const gauge: Command = {
  name: 'gauge',
  synopsis: 'gauge',
  summary: 'the STUCK gauge, exactly the number the alarm counts (runbook 3.2)',
  help: `Counts the jobs on the STUCK gauge with the same statement the reconciler publishes
and the ProvisioningJobsStuck alarm watches: not provisioned, and without progress for
the STUCK threshold or at the attempt cap. The alarm clears once this is 0.`,
  options: [],
  async run(context, args) {
    positionals(args, []);
    const target = await context.target();
    const rules = target.rules();
    const stuck = await countStuckJobs(target.db, context.now(), rules);
    context.out.result(
      { stuck, stuck_after_seconds: rules.stuckAfterSeconds, max_attempts: rules.maxAttempts },
      () =>
        `${stuck} STUCK (not provisioned, and no progress for ${duration(rules.stuckAfterSeconds)} or ${rules.maxAttempts} attempts) on the ${target.description}`,
    );
  },
};
