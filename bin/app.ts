#!/usr/bin/env node
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ProvisioningStack } from '../lib/provisioning-stack.js';
import { parseSettings, SETTING_KEYS } from '../lib/settings.js';

const app = new App();
const context = Object.fromEntries(
  SETTING_KEYS.flatMap((key) => {
    const value = app.node.tryGetContext(key);
    return value === undefined ? [] : [[key, value]];
  }),
);
const settings = parseSettings(context);
new ProvisioningStack(app, `Provisioning-${settings.stage}`, {
  settings,
  description: 'Provisioning hand-off: Stripe checkout to tenant orchestrator, exactly once',
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
// Every unacknowledged AwsSolutions finding fails the synth (lib/nag-suppressions.ts
// holds the acknowledged ones, each with its reason).
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
