/**
 * `npm run integ`: runs the integration test in the AWS account of your credentials
 * (AWS_PROFILE, AWS_REGION), as integ-runner would: deploys the test stack and its
 * assertion stack with the project's pinned CDK CLI (an assertion that fails fails the
 * deploy), then destroys both, whatever happened. Costs a few cents and ~20 minutes.
 */
import { spawnSync } from 'node:child_process';

const APP = 'node --import tsx test/integ/integ.provisioning-handoff.ts';
const cdk = (...args: string[]) =>
  spawnSync('npx', ['cdk', ...args, '--app', APP, '--output', 'cdk.out/integ', '--all'], {
    stdio: 'inherit',
  }).status ?? 1;

const deployed = cdk('deploy', '--require-approval', 'never');
const destroyed = cdk('destroy', '--force');
process.stderr.write(
  `integration test ${deployed === 0 ? 'passed' : 'FAILED'}; stacks ${destroyed === 0 ? 'destroyed' : 'NOT destroyed: run npm run integ again, or cdk destroy them'}\n`,
);
process.exit(deployed || destroyed);
