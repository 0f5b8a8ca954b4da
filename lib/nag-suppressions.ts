import { CfnElement, Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

interface Acknowledgement {
  readonly id: string;
  readonly reason: string;
}

function acknowledge(scope: IConstruct, ...findings: Acknowledgement[]): void {
  for (const finding of findings) Validations.of(scope).acknowledge(finding);
}

function child(root: IConstruct, path: string): IConstruct | undefined {
  return path
    .split('/')
    .reduce<IConstruct | undefined>((node, id) => node?.node.tryFindChild(id), root);
}

/**
 * The cdk-nag AwsSolutions findings the product accepts, each narrowed to where it
 * applies (within the `ProvisioningHandoff` construct, never beyond it) and with
 * the reason it is right here. Anything else fails the synth.
 */
export function suppressFindings(root: IConstruct, production: boolean): void {
  acknowledge(root, {
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'Only X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) is granted on "*": X-Ray has no resource-level permissions. A test (test/cdk) fails if any other action is granted on "*".',
  });
  acknowledge(root, {
    id: 'AwsSolutions-L1',
    reason:
      'Functions run on nodejs22.x deliberately: the runtime the code and its AWS SDK v3 are tested on. Moving to a newer runtime is a tested change, not an automatic one.',
  });
  acknowledge(root, {
    id: 'AwsSolutions-SMG4',
    reason:
      'The Stripe webhook secret and API key are issued by Stripe, and the trigger/callback secrets are shared with the orchestrator team: they rotate by the runbook docs/runbooks/secret-rotation.md with two values live during the switch, which an automatic rotation Lambda cannot coordinate. The database logins (master and the two roles the migrator creates) are used only by the Data API (no VPC-attached code); a rotation Lambda would need a VPC endpoint or NAT this stack deliberately does not have.',
  });
  for (const route of [
    'POST--api--webhooks--stripe',
    'POST--api--internal--provisioning--callback',
    'GET--api--provisioning--status',
    'GET--api--openapi.json',
  ]) {
    const node = child(root, `HttpApi/Api/${route}`);
    if (node) {
      acknowledge(node, {
        id: 'AwsSolutions-APIG4',
        reason:
          'Called by Stripe, the orchestrator, the checkout success page and API tools, which cannot sign AWS requests: the webhook verifies the Stripe-Signature and the callback an HMAC over the raw body in constant time; the status route reveals only a coarse state; the OpenAPI document is static. Operator routes use IAM.',
      });
    }
  }
  const stripeEventFailures = child(root, 'StripeEvents/DeadLetters');
  if (stripeEventFailures) {
    acknowledge(stripeEventFailures, {
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the Stripe EventBridge intake (its queue and its rule target).',
    });
  }
  const scheduleFailures = child(root, 'Schedules/FailedInvocations');
  if (scheduleFailures) {
    acknowledge(scheduleFailures, {
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the EventBridge Scheduler targets.',
    });
  }
  // CDK grants lambda:InvokeFunction on a named function and its versions
  // ("<function arn>:*") to the schedules' role and the migration Provider.
  const invoked = [
    'Reconciler/Function',
    'Watchdog/Function',
    'Sweep/Function',
    'Database/Migrator/Function',
  ].flatMap((path) => {
    const fn = child(root, path)?.node.defaultChild;
    return fn instanceof CfnElement
      ? [`AwsSolutions-IAM5[Resource::<${Stack.of(root).getLogicalId(fn)}.Arn>:*]`]
      : [];
  });
  // The schedules' roles are the stack's own (one per target function, whatever
  // construct asked for them); each acknowledgement names one of our functions.
  for (const node of Stack.of(root).node.findAll()) {
    const path = node.node.path;
    const framework = path.endsWith('/MigrationProvider/framework-onEvent');
    if (/\/SchedulerRoleForTarget-[^/]+$/.test(path) || framework) {
      for (const id of invoked) {
        acknowledge(node, {
          id,
          reason:
            'Invoke permission on one named function; only its version qualifier is wildcarded.',
        });
      }
    }
    if (framework) {
      acknowledge(node, {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          'The CDK custom-resource Provider framework function uses AWSLambdaBasicExecutionRole; it only relays the deploy-time migration to our migrator.',
      });
    }
  }
  if (!production) {
    const cluster = child(root, 'Database/Cluster');
    if (cluster) {
      acknowledge(cluster, {
        id: 'AwsSolutions-RDS10',
        reason:
          'Non-production stages can be torn down with the stack; production (production=true or stage=prod) turns deletion protection on and snapshots on delete.',
      });
    }
  }
}
