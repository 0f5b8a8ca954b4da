/**
 * The package's entry point for CDK apps: the product as one construct with typed,
 * validated props, the stack `cdk deploy` uses, and the helper that names its outputs.
 */
export {
  type FunctionRole,
  type OptionalFunctionRole,
  ProvisioningHandoff,
  type ProvisioningHandoffProps,
  type StackOutputValue,
} from './provisioning-handoff.js';
export {
  addStackOutputs,
  ProvisioningStack,
  type ProvisioningStackProps,
} from './provisioning-stack.js';
export type { StackSettings } from './settings.js';
