#!/usr/bin/env node
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ContextError, settingsFromContext } from '../lib/context.js';
import { ProvisioningStack } from '../lib/provisioning-stack.js';

const app = new App();
let settings: ReturnType<typeof settingsFromContext>;
try {
  settings = settingsFromContext(app.node.getAllContext());
} catch (error) {
  if (!(error instanceof ContextError)) throw error;
  // One line that names the fix, not a stack trace.
  process.stderr.write(`error: ${error.message}\n`);
  process.exit(1);
}
new ProvisioningStack(app, `Provisioning-${settings.stage}`, {
  settings,
  description: 'Provisioning hand-off: Stripe checkout to tenant orchestrator, exactly once',
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
// Every unacknowledged AwsSolutions finding fails the synth (lib/nag-suppressions.ts
// holds the acknowledged ones, each with its reason).
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
