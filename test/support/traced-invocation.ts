/**
 * One Lambda invocation as the Lambda runtime runs it, with X-Ray active tracing: run as
 * a child process by test/handlers/tracing.test.ts, whose environment makes it look like
 * Lambda (AWS_EXECUTION_ENV, _X_AMZN_TRACE_ID) and points AWS and the X-Ray daemon at
 * the test's loopback servers. It builds the collaborators as the functions do
 * (functions/aws.ts), through the one middleware chain, and sends a hand-off and a
 * trigger: what the hand-off consumer does.
 */
import { awsConfig, awsHandoffQueue, awsOrchestrator, awsSecrets } from '../../functions/aws.js';
import { lambdaHandler } from '../../functions/handlers/middleware.js';
import { tagLogs } from '../../functions/observability.js';
import { lambdaContext } from './handler-harness.js';

const JOB_ID = '4b0c3ff8-6a2f-4c4e-9d7e-3f5f2a9c1b7e';
const config = awsConfig();
const queue = awsHandoffQueue(config);
const orchestrator = awsOrchestrator(awsSecrets(config), config);

const handler = lambdaHandler(async () => {
  tagLogs({ jobId: JOB_ID, stripeSessionId: 'cs_test_traced' });
  await queue.send({
    jobId: JOB_ID,
    attempt: 1,
    stripeSessionId: 'cs_test_traced',
    triggerPayload: { job_id: JOB_ID },
  });
  const outcome = await orchestrator.trigger({ jobId: JOB_ID, payload: { job_id: JOB_ID } });
  return outcome.outcome;
});

const outcome = await handler({}, lambdaContext());
process.stdout.write(`${outcome}\n`);
