import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { FunctionUrlAuthType } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { TRIGGER_PATH } from '../../functions/sandbox/sandbox-orchestrator.js';
import { ProjectFunction } from './project-function.js';

export interface SandboxOrchestratorProps {
  /** Verifies the triggers, as the real orchestrator must. */
  readonly triggerSecret: ISecret;
  /** Signs the callbacks. */
  readonly callbackSecret: ISecret;
  readonly stage: string;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The sandbox orchestrator as two functions, for proving a deploy (`ops smoke`): one
 * behind a public function URL answers each signed trigger at once (202), the other,
 * invoked asynchronously, calls back signed through the stack's callback route. The
 * same code as the local runtime's sandbox (functions/sandbox/); never in production.
 */
export class SandboxOrchestrator extends Construct {
  /** Where the hand-off consumer sends its triggers. */
  readonly triggerUrl: string;

  constructor(scope: Construct, id: string, props: SandboxOrchestratorProps) {
    super(scope, id);
    const common = {
      handler: 'sandbox-orchestrator',
      stage: props.stage,
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      memorySize: 256,
    };
    const saga = new ProjectFunction(this, 'Saga', {
      ...common,
      exportName: 'sagaHandler',
      description:
        'Sandbox orchestrator: reports a job’s phases and tenant through the callback route',
      timeout: Duration.seconds(60),
      environment: { SANDBOX_DELAY_MS: '0' },
    }).bindSecret('PROVISIONING_CALLBACK_SECRET_ARN', props.callbackSecret);
    const trigger = new ProjectFunction(this, 'Trigger', {
      ...common,
      exportName: 'triggerHandler',
      description: 'Sandbox orchestrator: verifies and accepts triggers, starts the saga',
      timeout: Duration.seconds(10),
      environment: { SANDBOX_DELAY_MS: '0', SANDBOX_SAGA_FUNCTION: saga.fn.functionName },
    }).bindSecret('PROVISIONING_TRIGGER_SECRET_ARN', props.triggerSecret);
    // The function itself, not its versions (`grantInvoke` would add `:*`).
    trigger.fn.addToRolePolicy(
      new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [saga.fn.functionArn] }),
    );
    // Public like a real orchestrator's endpoint: every trigger's signature is verified.
    const url = trigger.fn.addFunctionUrl({ authType: FunctionUrlAuthType.NONE });
    // The function URL ends with a slash.
    this.triggerUrl = `${url.url}${TRIGGER_PATH.slice(1)}`;
  }
}
