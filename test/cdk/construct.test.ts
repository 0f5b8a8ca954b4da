import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Bucket } from 'aws-cdk-lib/aws-s3';
// Through the package's own entry point, as a team embedding it imports it.
import { addStackOutputs, ProvisioningHandoff } from 'provisioning-handoff';
import { describe, expect, it } from 'vitest';

/**
 * The product as a construct inside someone else's stack: next to their resources,
 * configured by typed props, with errors that name the prop.
 */
describe('ProvisioningHandoff in a foreign stack', () => {
  it('adds the whole product next to the stack’s own resources, with the props it was given', () => {
    const app = new App();
    const stack = new Stack(app, 'SaasPlatform', {
      env: { account: '123456789012', region: 'eu-west-1' },
    });
    new Bucket(stack, 'Assets');

    const handoff = new ProvisioningHandoff(stack, 'Provisioning', {
      stage: 'staging',
      maxAttempts: 5,
      triggerUrl: 'https://orchestrator.example.com/trigger/onboarding',
    });
    addStackOutputs(stack, handoff);
    const template = Template.fromStack(stack);

    template.resourceCountIs('AWS::S3::Bucket', 1);
    template.resourceCountIs('AWS::RDS::DBCluster', 1);
    template.resourceCountIs('AWS::SQS::Queue', 3);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          MAX_ATTEMPTS: '5',
          PROVISIONING_TRIGGER_URL: 'https://orchestrator.example.com/trigger/onboarding',
        },
      },
    });
    expect(Object.keys(template.toJSON().Outputs)).toEqual(
      expect.arrayContaining(['WebhookUrl', 'CallbackUrl', 'StatusUrl']),
    );
    expect(handoff.settings).toMatchObject({
      stage: 'staging',
      production: false,
      stripeMode: 'test',
    });
  });

  it('refuses a bad prop at synth, naming it', () => {
    const stack = new Stack(new App(), 'SaasPlatform');

    expect(
      () =>
        new ProvisioningHandoff(stack, 'Provisioning', {
          maxAttempts: 0,
          alarmEmail: 'not an e-mail',
        }),
    ).toThrow(/^Invalid ProvisioningHandoff props: alarmEmail: .*; maxAttempts: /);
  });
});
