import { App, type CfnResource, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Certificate, CertificateValidation } from 'aws-cdk-lib/aws-certificatemanager';
import { Bucket } from 'aws-cdk-lib/aws-s3';
// Through the package's own entry point, as a team embedding it imports it.
import {
  addStackOutputs,
  ProvisioningHandoff,
  type ProvisioningHandoffProps,
} from 'provisioning-handoff';
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

describe('the functions an embedding team builds on', () => {
  it('lists every function the product runs by role, the optional Stripe events consumer included, the migrator apart', () => {
    const { template, handoff, stack } = synthesize({
      stripeEventSourceName: 'aws.partner/stripe.com/ed_test_61Sx',
    });
    const listed = Object.values(handoff.functions).map((fn) =>
      stack.resolve((fn.node.defaultChild as CfnResource).logicalId),
    );
    const product = functionsOf(template)
      .filter(([, fn]) => 'POWERTOOLS_SERVICE_NAME' in variablesOf(fn))
      .map(([id]) => id)
      .filter((id) => !id.includes('Migrator'));

    expect(Object.keys(handoff.functions)).toEqual(
      expect.arrayContaining(['sweep', 'stripeEventsConsumer', 'handoffConsumer', 'openApi']),
    );
    expect(listed.sort()).toEqual(product.sort());
  });
});

/** The construct in a stack of its own, synthesized without bundling (the tests read the template). */
function synthesize(
  props: ProvisioningHandoffProps | ((stack: Stack) => ProvisioningHandoffProps),
) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'SaasPlatform', {
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  const handoff = new ProvisioningHandoff(
    stack,
    'Provisioning',
    typeof props === 'function' ? props(stack) : props,
  );
  addStackOutputs(stack, handoff);
  return { template: Template.fromStack(stack), handoff, stack };
}

type Resource = { Type: string; Properties?: Record<string, unknown> };

function functionsOf(template: Template): [string, Resource][] {
  return Object.entries(template.toJSON().Resources as Record<string, Resource>).filter(
    ([, r]) => r.Type === 'AWS::Lambda::Function',
  );
}

function variablesOf(fn: Resource | undefined): Record<string, unknown> {
  return (
    (fn?.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)
      ?.Variables ?? {}
  );
}

describe('props a SaaS team sets', () => {
  it('allowedOrigins lets a success page on those origins read the status route, and no other route', () => {
    const { template } = synthesize({
      allowedOrigins: ['https://shop.example.com', 'http://localhost:5173'],
    });
    const withOrigins = functionsOf(template).filter(
      ([, fn]) => 'ALLOWED_ORIGINS' in variablesOf(fn),
    );

    expect(withOrigins.map(([id]) => id)).toEqual([expect.stringMatching(/Status/)]);
    expect(variablesOf(withOrigins[0]?.[1]).ALLOWED_ORIGINS).toBe(
      'https://shop.example.com,http://localhost:5173',
    );
  });

  it('refuses an allowed origin that is not an origin, naming allowedOrigins', () => {
    for (const origin of ['https://shop.example.com/', 'http://shop.example.com', '*']) {
      expect(() => synthesize({ allowedOrigins: [origin] })).toThrow(
        /allowedOrigins\.0: each must be an origin/,
      );
    }
  });

  it('serves the API on a custom domain with its certificate, and every URL it hands out uses it', () => {
    const certificateArn =
      'arn:aws:acm:eu-west-1:123456789012:certificate/0f7bc0e2-2c3a-4f8e-9a53-3d9a61f0c2b8';
    const { template } = synthesize({ domainName: 'billing-api.example.com', certificateArn });
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;

    template.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: 'billing-api.example.com',
      DomainNameConfigurations: [{ CertificateArn: certificateArn, EndpointType: 'REGIONAL' }],
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::ApiMapping', {
      DomainName: { Ref: Match.stringLikeRegexp('Domain') },
      Stage: '$default',
    });
    expect(outputs.WebhookUrl?.Value).toBe('https://billing-api.example.com/api/webhooks/stripe');
    expect(outputs.ApiDomainTarget?.Value).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/Domain/), 'RegionalDomainName'],
    });
    // The callback URL in every trigger payload is the custom domain's too.
    const bases = functionsOf(template).flatMap(([, fn]) => variablesOf(fn).PUBLIC_BASE_URL ?? []);
    expect(new Set(bases)).toEqual(new Set(['https://billing-api.example.com']));
  });

  it('takes the certificate as a construct of the same stack', () => {
    const { template } = synthesize((stack) => ({
      domainName: 'billing-api.example.com',
      certificate: new Certificate(stack, 'ApiCertificate', {
        domainName: 'billing-api.example.com',
        validation: CertificateValidation.fromDns(),
      }),
    }));

    template.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainNameConfigurations: [
        { CertificateArn: { Ref: Match.stringLikeRegexp('ApiCertificate') } },
      ],
    });
  });

  it('refuses a domain without a certificate, a certificate without a domain, and both certificate forms', () => {
    const arn = 'arn:aws:acm:eu-west-1:123456789012:certificate/0f7bc0e2';

    expect(() => synthesize({ domainName: 'billing-api.example.com' })).toThrow(
      /certificateArn: required with domainName/,
    );
    expect(() => synthesize({ certificateArn: arn })).toThrow(/domainName: required/);
    expect(() => synthesize({ domainName: 'Not A Domain', certificateArn: arn })).toThrow(
      /domainName: a lowercase domain name/,
    );
  });

  it('refuses a prop it does not know, naming it, rather than ignore it', () => {
    const mistyped = { triggerURL: 'https://orchestrator.example.com/trigger' };

    expect(() => synthesize(mistyped as ProvisioningHandoffProps)).toThrow(/triggerURL/);
  });
});

describe('sandboxOrchestrator: a stack that proves itself (ops smoke)', () => {
  it('sends every trigger to a sandbox behind a public function URL, which may start its saga', () => {
    const { template } = synthesize({ sandboxOrchestrator: true });
    const functions = functionsOf(template);
    const [consumerId, consumer] = functions.find(([id]) => id.includes('HandoffConsumer')) ?? [];
    const [triggerId] = functions.find(([id]) => id.includes('SandboxOrchestratorTrigger')) ?? [];
    const [sagaId] = functions.find(([id]) => id.includes('SandboxOrchestratorSaga')) ?? [];
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;

    expect(consumerId && triggerId && sagaId).toBeTruthy();
    template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'NONE',
      TargetFunctionArn: { 'Fn::GetAtt': [triggerId, 'Arn'] },
    });
    expect(JSON.stringify(variablesOf(consumer).PROVISIONING_TRIGGER_URL)).toContain(
      'trigger/onboarding',
    );
    expect(outputs.SandboxTriggerUrl).toBeDefined();
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'lambda:InvokeFunction',
            Resource: { 'Fn::GetAtt': [sagaId, 'Arn'] },
          }),
        ]),
      },
    });
  });

  it('signs the saga’s callbacks with the callback secret, without reading the trigger secret', () => {
    const { template } = synthesize({ sandboxOrchestrator: true });
    const [, saga] =
      functionsOf(template).find(([id]) => id.includes('SandboxOrchestratorSaga')) ?? [];

    expect(variablesOf(saga)).toHaveProperty('PROVISIONING_CALLBACK_SECRET_ARN');
    expect(variablesOf(saga)).not.toHaveProperty('PROVISIONING_TRIGGER_SECRET_ARN');
  });

  it('has none by default', () => {
    const { template } = synthesize({});

    template.resourceCountIs('AWS::Lambda::Url', 0);
    expect((template.toJSON().Outputs as object) ?? {}).not.toHaveProperty('SandboxTriggerUrl');
  });

  it('is refused in production, and next to a real orchestrator’s triggerUrl', () => {
    expect(() => synthesize({ stage: 'prod', sandboxOrchestrator: true })).toThrow(
      /sandboxOrchestrator: refused in production/,
    );
    expect(() =>
      synthesize({
        sandboxOrchestrator: true,
        triggerUrl: 'https://orchestrator.example.com/trigger/onboarding',
      }),
    ).toThrow(/triggerUrl: leave it unset with sandboxOrchestrator/);
  });
});
