import { App, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { ProvisioningHandoff, type ProvisioningHandoffProps } from '../../lib/index.js';

/**
 * The two ways no paid checkout escapes the product beside the webhook: the sweep's
 * schedule and Stripe's EventBridge intake, as `cdk deploy` creates them from props.
 */

const SOURCE = 'aws.partner/stripe.com/ed_test_61SuiteDestination';

function synth(props: ProvisioningHandoffProps) {
  // No bundling: these tests read the template, not the functions' code.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Provisioning-intake', {
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  new ProvisioningHandoff(stack, 'Default', props);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  return { stack, template: Template.fromStack(stack) };
}

function alarmDescription(template: Template, prefix: string): string {
  const [alarm] = Object.entries(template.findResources('AWS::CloudWatch::Alarm')).filter(([id]) =>
    id.includes(prefix),
  );
  return String(alarm?.[1].Properties.AlarmDescription);
}

describe('the missed-checkout sweep', () => {
  it('is off while no Stripe key is configured, and synth says how to turn it on', () => {
    const { stack, template } = synth({});

    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(60 minutes)',
      State: 'DISABLED',
      Description: Match.stringLikeRegexp('no webhook or EventBridge event recorded'),
    });
    Annotations.fromStack(stack).hasWarning(
      '*',
      Match.stringLikeRegexp('The missed-checkout sweep is off: no Stripe API key is configured'),
    );
  });

  it('runs hourly by default once the key is configured, with the look-back it is given', () => {
    const { stack, template } = synth({ stripeApiKeyConfigured: true, sweepLookbackHours: 96 });

    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(60 minutes)',
      State: 'ENABLED',
      Target: Match.objectLike({
        RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
        DeadLetterConfig: Match.anyValue(),
      }),
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^Missed-checkout sweep'),
      Environment: {
        Variables: Match.objectLike({
          SWEEP_LOOKBACK_HOURS: '96',
          STRIPE_MODE: 'test',
          STRIPE_API_KEY_ARN: Match.anyValue(),
          HANDOFF_QUEUE_URL: Match.anyValue(),
        }),
      },
    });
    expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('sweep'))).toEqual(
      [],
    );
  });

  it('follows its switch and interval', () => {
    const { template } = synth({
      stripeApiKeyConfigured: true,
      sweepEnabled: false,
      sweepEveryMinutes: 15,
    });

    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(15 minutes)',
      State: 'DISABLED',
    });
  });

  it('notifies when it records a checkout no Stripe event had, naming the runbook', () => {
    const { template } = synth({});

    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'MissedCheckouts',
      Namespace: 'ProvisioningHandoff',
      Statistic: 'Sum',
      Period: 3600,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(alarmDescription(template, 'MissedCheckouts')).toMatch(
      /no webhook or EventBridge event had recorded.*missed-checkouts\.md/,
    );
  });

  it('refuses a bad setting at synth, naming it', () => {
    expect(() => synth({ sweepEveryMinutes: 2 })).toThrow(/sweepEveryMinutes/);
    expect(() => synth({ stripeEventSourceName: 'aws.partner/other.com/x' })).toThrow(
      /stripeEventSourceName: the partner event source Stripe created/,
    );
  });
});

describe('Stripe’s event destination on EventBridge', () => {
  it('is absent unless a partner event source is named', () => {
    const { template } = synth({});

    template.resourceCountIs('AWS::Events::Rule', 0);
    template.resourceCountIs('AWS::SQS::Queue', 3);
  });

  it('associates the partner event source with a bus of its own', () => {
    const { template } = synth({ stripeEventSourceName: SOURCE });

    template.hasResourceProperties('AWS::Events::EventBus', {
      Name: SOURCE,
      EventSourceName: SOURCE,
    });
  });

  it('routes the checkout event types to a queue with a dead-letter queue, retried for a day', () => {
    const { template } = synth({ stripeEventSourceName: SOURCE });

    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: Match.anyValue(),
      EventPattern: {
        source: [SOURCE],
        'detail-type': [
          'checkout.session.completed',
          'checkout.session.async_payment_succeeded',
          'checkout.session.async_payment_failed',
        ],
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('StripeEventsQueue'), 'Arn'] },
          DeadLetterConfig: {
            Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('StripeEventsDeadLetters'), 'Arn'] },
          },
          RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86_400 },
        }),
      ],
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: {
        deadLetterTargetArn: {
          'Fn::GetAtt': [Match.stringLikeRegexp('StripeEventsDeadLetters'), 'Arn'],
        },
        maxReceiveCount: 5,
      },
      SqsManagedSseEnabled: true,
    });
    // Only the rule may send to it.
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith(['sqs:SendMessage']),
            Principal: { Service: 'events.amazonaws.com' },
            Condition: { ArnEquals: { 'aws:SourceArn': Match.anyValue() } },
          }),
        ]),
      },
    });
  });

  it('feeds the webhook’s event handling, with partial batch responses and no secret', () => {
    const { template } = synth({ stripeEventSourceName: SOURCE });

    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('StripeEventsQueue'), 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
    const [consumer] = Object.values(
      template.findResources('AWS::Lambda::Function', {
        Properties: {
          Handler: 'index.handler',
          Description: Match.stringLikeRegexp('EventBridge'),
        },
      }),
    );
    const variables = consumer?.Properties.Environment.Variables as Record<string, unknown>;
    expect(Object.keys(variables)).toEqual(
      expect.arrayContaining(['STRIPE_MODE', 'HANDOFF_QUEUE_URL', 'DATABASE_RESOURCE_ARN']),
    );
    expect(Object.keys(variables).filter((name) => /SECRET_ARN|API_KEY/.test(name))).toEqual([
      'DATABASE_SECRET_ARN',
    ]);
  });

  it('notifies when an event waits in its dead-letter queue or too long in its queue', () => {
    const { template } = synth({ stripeEventSourceName: SOURCE });

    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        {
          Name: 'QueueName',
          Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('StripeEventsDeadLetters'), 'QueueName'] },
        },
      ],
      Threshold: 0,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [
        {
          Name: 'QueueName',
          Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('StripeEventsQueue'), 'QueueName'] },
        },
      ],
      Threshold: 300,
    });
    expect(alarmDescription(template, 'StripeEventDeadLetters')).toMatch(/redrive/);
    expect(alarmDescription(template, 'StripeEventsConsumerErrors')).toMatch(/failed/);
  });

  it('shows which path recorded each checkout on the dashboard', () => {
    const { template } = synth({ stripeEventSourceName: SOURCE });

    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    for (const metric of [
      'CheckoutRecordedByWebhook',
      'CheckoutRecordedByEventBridge',
      'MissedCheckouts',
      'SweepSessionsListed',
      'StripeEventBridgeReceived',
    ]) {
      expect(body).toContain(metric);
    }
  });
});
