import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { ProvisioningHandoff } from './provisioning-handoff.js';
import type { StackSettings } from './settings.js';

export interface ProvisioningStackProps extends StackProps {
  readonly settings: StackSettings;
}

/**
 * The stack `cdk deploy` creates from CDK context (bin/app.ts): the `ProvisioningHandoff`
 * construct and its outputs, under the names the operator CLI and the README use.
 */
export class ProvisioningStack extends Stack {
  readonly handoff: ProvisioningHandoff;

  constructor(scope: Construct, id: string, props: ProvisioningStackProps) {
    super(scope, id, props);
    // 'Default' keeps the construct out of every logical id: a stack deployed before the
    // construct existed updates in place instead of replacing its database.
    this.handoff = new ProvisioningHandoff(this, 'Default', props.settings);
    addStackOutputs(this, this.handoff);
  }
}

/** The construct's outputs as stack outputs, for `ops --stack` and the README's setup steps. */
export function addStackOutputs(stack: Stack, handoff: ProvisioningHandoff): void {
  for (const [id, { value, description }] of Object.entries(handoff.outputs)) {
    new CfnOutput(stack, id, { value, description });
  }
}
