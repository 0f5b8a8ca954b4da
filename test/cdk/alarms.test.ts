import { readFileSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { SqsSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import {
  ALARM_CATALOGUE,
  type AlarmEntry,
  type AlarmKind,
  alarmName,
  describeAlarm,
  headingAnchor,
  PER_FUNCTION,
} from '../../lib/constructs/alarm-catalogue.js';
import { ProvisioningHandoff } from '../../lib/provisioning-handoff.js';
import { ProvisioningStack } from '../../lib/provisioning-stack.js';
import { parseSettings } from '../../lib/settings.js';

type Resource = { Type: string; Properties?: Record<string, unknown> };

const THRESHOLDS = { backlogWarning: 10, backlogCritical: 50, oldestMessageSeconds: 300 };
const FUNCTIONS = [
  'StripeWebhook',
  'HandoffConsumer',
  'Callback',
  'Reconciler',
  'Watchdog',
  'Sweep',
  'Status',
  'OperatorJobRead',
  'OperatorJobCreate',
];
const STRIPE_EVENT_SOURCE =
  'aws.partner/stripe.com/ed_test_61QnBxEkTm7pB2Lzr16QnAuFSUEJqJ8XjvJQbi4UuLbN';

/** A stack as `cdk deploy -c stage=… ` makes it, without bundling (the alarms do not need it). */
function synth(
  context: Record<string, unknown>,
  app = new App({ context: { 'aws:cdk:bundling-stacks': [] } }),
) {
  const settings = parseSettings(context);
  const stack = new ProvisioningStack(app, `Provisioning-${settings.stage}`, {
    settings,
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  const resources = Template.fromStack(stack).toJSON().Resources as Record<string, Resource>;
  return { stack, resources };
}

function byType(resources: Record<string, Resource>, type: string): [string, Resource][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

function alarmsOf(resources: Record<string, Resource>) {
  return byType(resources, 'AWS::CloudWatch::Alarm').map(([, r]) => r.Properties ?? {});
}

/** The logical id of the topic with this display name ending. */
function topicId(resources: Record<string, Resource>, ending: string): string {
  const found = byType(resources, 'AWS::SNS::Topic').find(([, r]) =>
    String(r.Properties?.DisplayName).endsWith(ending),
  );
  if (!found) throw new Error(`no topic ${ending}`);
  return found[0];
}

/**
 * Every alarm of the catalogue by its name, functions' alarms once per function; the
 * EventBridge intake's only when the stack has it.
 */
function expectedAlarms(stage: string, withIntake = false): Map<string, AlarmKind> {
  const expected = new Map<string, AlarmKind>();
  const functions = withIntake ? [...FUNCTIONS, 'StripeEventsConsumer'] : FUNCTIONS;
  for (const kind of Object.keys(ALARM_CATALOGUE) as AlarmKind[]) {
    const entry: AlarmEntry = ALARM_CATALOGUE[kind];
    if (entry.only && !withIntake) continue;
    const suffix = PER_FUNCTION[kind];
    const names = suffix ? functions.map((fn) => `${fn}${suffix}`) : [kind];
    for (const name of names) expected.set(alarmName(stage, name), kind);
  }
  return expected;
}

const test = synth({ stage: 'test', alarmEmail: 'oncall@example.com' });

describe('the alarms of a stage', () => {
  it('are named Provisioning-<stage>-<Name>, one for each entry of the catalogue', () => {
    const names = alarmsOf(test.resources).map((alarm) => String(alarm.AlarmName));

    expect(names.sort()).toEqual([...expectedAlarms('test').keys()].sort());
  });

  it('add the EventBridge intake’s alarms, on their topics, only when the stack has the intake', () => {
    const { resources } = synth({ stage: 'intake', stripeEventSourceName: STRIPE_EVENT_SOURCE });
    const page = topicId(resources, 'on-call page');
    const names = alarmsOf(resources).map((alarm) => String(alarm.AlarmName));

    expect(names.sort()).toEqual([...expectedAlarms('intake', true).keys()].sort());
    for (const alarm of alarmsOf(resources).filter((a) =>
      /StripeEvent(DeadLetters|OldestMessage)$/.test(String(a.AlarmName)),
    )) {
      expect(alarm.AlarmActions).toEqual([{ Ref: page }]);
    }
  });

  it('go to the paging topic when a customer is stranded, and to the notify topic otherwise', () => {
    const page = topicId(test.resources, 'on-call page');
    const notify = topicId(test.resources, 'working hours');
    const expected = expectedAlarms('test');

    for (const alarm of alarmsOf(test.resources)) {
      const kind = expected.get(String(alarm.AlarmName));
      const topic = kind ? ALARM_CATALOGUE[kind].topic : undefined;
      const target = { Ref: topic === 'page' ? page : notify };
      expect({ name: alarm.AlarmName, actions: alarm.AlarmActions, ok: alarm.OKActions }).toEqual({
        name: alarm.AlarmName,
        actions: [target],
        ok: [target],
      });
    }
  });

  it('never page on what a stranger can send alone: refused signatures and inputs only notify', () => {
    for (const kind of [
      'CallbackSignatureFailures',
      'StripeSignatureFailures',
      'RefusedInputs',
    ] as const) {
      expect(ALARM_CATALOGUE[kind].topic, kind).toBe('notify');
    }
    const stranger = alarmsOf(test.resources).filter((alarm) =>
      [
        'CallbackSignatureRejected',
        'StripeSignatureRejected',
        'InputRejected',
        'HttpClientError',
      ].includes(String(alarm.MetricName)),
    );
    const page = topicId(test.resources, 'on-call page');
    expect(stranger).toHaveLength(3);
    for (const alarm of stranger) expect(alarm.AlarmActions).not.toContainEqual({ Ref: page });
  });

  it('page on every 5xx of every route, summed, and on the HTTP API’s own 5xx, when it recurs', () => {
    const [routes] = alarmsOf(test.resources).filter(
      (alarm) => alarm.AlarmName === 'Provisioning-test-HttpServerErrors',
    );
    const [api] = alarmsOf(test.resources).filter(
      (alarm) => alarm.AlarmName === 'Provisioning-test-ApiServerErrors',
    );
    const stats = (
      (routes?.Metrics ?? []) as { MetricStat?: { Metric: Record<string, unknown> } }[]
    ).flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric] : []));

    expect(stats.map((m) => m.MetricName)).toEqual(Array(6).fill('HttpServerError'));
    expect(
      stats
        .map(
          (m) =>
            (m.Dimensions as { Name: string; Value: string }[]).find((d) => d.Name === 'route')
              ?.Value,
        )
        .sort(),
    ).toEqual(['callback', 'jobCreate', 'jobRead', 'openApi', 'status', 'stripeWebhook']);
    for (const alarm of [routes, api]) {
      expect(alarm).toMatchObject({ Threshold: 0, EvaluationPeriods: 3, DatapointsToAlarm: 2 });
    }
    expect(api).toMatchObject({ Namespace: 'AWS/ApiGateway', MetricName: '5xx', Period: 300 });
  });

  it('evaluate a backlog that lasts: 5 one-minute periods, every one of them above the line', () => {
    const backlog = alarmsOf(test.resources).filter((alarm) =>
      /HandoffBacklog|HandoffOldestMessage/.test(String(alarm.AlarmName)),
    );

    expect(backlog.map((alarm) => [alarm.AlarmName, alarm.Threshold]).sort()).toEqual([
      ['Provisioning-test-HandoffBacklogCritical', 50],
      ['Provisioning-test-HandoffBacklogWarning', 10],
      ['Provisioning-test-HandoffOldestMessage', 300],
    ]);
    for (const alarm of backlog) {
      expect(alarm).toMatchObject({ Period: 60, EvaluationPeriods: 5, DatapointsToAlarm: 5 });
    }
  });

  it('say what it means, the first commands with the stack set, and the runbook’s path', () => {
    const expected = expectedAlarms('test');

    for (const alarm of alarmsOf(test.resources)) {
      const name = String(alarm.AlarmName);
      const kind = expected.get(name) as AlarmKind;
      const entry = ALARM_CATALOGUE[kind];
      const fn = FUNCTIONS.find((f) => name === alarmName('test', `${f}${PER_FUNCTION[kind]}`));
      const description = String(alarm.AlarmDescription);

      expect(description).toBe(
        describeAlarm(entry, {
          stackName: 'Provisioning-test',
          thresholds: THRESHOLDS,
          ...(fn ? { subject: `The ${fn} function` } : {}),
        }),
      );
      expect(description).toContain(
        `Runbook: docs/runbooks/${entry.runbook.file}#${headingAnchor(entry.runbook.section)}`,
      );
      for (const command of entry.commands) expect(description).toContain(command);
      if (entry.commands.length) expect(description).toContain('First: STACK=Provisioning-test;');
      expect(description).not.toMatch(/https?:|your-org/);
    }
  });

  it('link the published runbook too when runbookBaseUrl is set', () => {
    const { resources } = synth({
      stage: 'docs',
      runbookBaseUrl: 'https://github.com/acme/handoff/blob/main/docs/runbooks/',
    });
    const [stuck] = alarmsOf(resources).filter(
      (alarm) => alarm.AlarmName === 'Provisioning-docs-ProvisioningJobsStuck',
    );

    expect(String(stuck?.AlarmDescription)).toMatch(
      /Runbook: docs\/runbooks\/provisioning-stuck\.md#3-inspect \(https:\/\/github\.com\/acme\/handoff\/blob\/main\/docs\/runbooks\/provisioning-stuck\.md#3-inspect\)$/,
    );
  });
});

describe('one stage, one set of signals', () => {
  it('puts the stage in every product metric: the service dimension of alarms, dashboard and functions', () => {
    const product = alarmsOf(test.resources).flatMap((alarm) => {
      const inline = alarm.Namespace === 'ProvisioningHandoff' ? [alarm] : [];
      const math = ((alarm.Metrics ?? []) as { MetricStat?: { Metric: Record<string, unknown> } }[])
        .flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric] : []))
        .filter((m) => m.Namespace === 'ProvisioningHandoff');
      return [...inline, ...math];
    });
    const [[, dashboard] = []] = byType(test.resources, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard?.Properties?.DashboardBody);

    expect(product.length).toBeGreaterThan(10);
    for (const metric of product) {
      expect(metric.Dimensions).toContainEqual({
        Name: 'service',
        Value: 'provisioning-handoff-test',
      });
    }
    expect(body).toContain('\\"service\\",\\"provisioning-handoff-test\\"');
    expect(body).not.toContain('\\"service\\",\\"provisioning-handoff\\"');
    for (const [, fn] of byType(test.resources, 'AWS::Lambda::Function')) {
      const variables = (fn.Properties?.Environment as { Variables?: Record<string, unknown> })
        ?.Variables;
      if (variables?.POWERTOOLS_SERVICE_NAME === undefined) continue;
      expect(variables.POWERTOOLS_SERVICE_NAME).toBe('provisioning-handoff-test');
    }
  });

  it('gives two stages in one account no alarm name and no product metric in common', () => {
    // One account: what both deploy must not collide.
    const dev = synth({ stage: 'dev' });
    const prod = synth({ stage: 'prod', alarmEmail: 'oncall@example.com' });
    const signals = (resources: Record<string, Resource>) =>
      new Set(
        alarmsOf(resources).flatMap((alarm) => [
          String(alarm.AlarmName),
          ...(alarm.Namespace === 'ProvisioningHandoff'
            ? [`${alarm.MetricName} ${JSON.stringify(alarm.Dimensions)}`]
            : []),
        ]),
      );

    const shared = [...signals(dev.resources)].filter((s) => signals(prod.resources).has(s));

    expect(shared).toEqual([]);
  });
});

describe('who gets paged', () => {
  it('subscribes alarmEmail to the paging topic, and notifyEmail (else alarmEmail) to the notify topic', () => {
    const { resources } = synth({
      stage: 'subs',
      alarmEmail: 'oncall@example.com',
      notifyEmail: 'team@example.com',
    });
    const subscriptions = byType(resources, 'AWS::SNS::Subscription').map(([, r]) => [
      (r.Properties?.TopicArn as { Ref?: string } | undefined)?.Ref,
      r.Properties?.Endpoint,
    ]);

    expect(subscriptions.sort()).toEqual(
      [
        [topicId(resources, 'on-call page'), 'oncall@example.com'],
        [topicId(resources, 'working hours'), 'team@example.com'],
      ].sort(),
    );
    const fallback = byType(test.resources, 'AWS::SNS::Subscription').map(
      ([, r]) => r.Properties?.Endpoint,
    );
    expect(fallback).toEqual(['oncall@example.com', 'oncall@example.com']);
  });

  it('refuses a production stage without alarmEmail, naming the key, and takes a pager subscription instead', () => {
    const stack = () => new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Saas');

    expect(() => synth({ stage: 'prod' })).toThrow(
      /^Invalid CDK context: alarmEmail: required when production is true/,
    );
    expect(() => new ProvisioningHandoff(stack(), 'Provisioning', { production: true })).toThrow(
      /^Invalid ProvisioningHandoff props: alarmEmail: .*pagingSubscriptions/,
    );
    const withPager = stack();
    const pager = new Queue(withPager, 'Pager');
    new ProvisioningHandoff(withPager, 'Provisioning', {
      production: true,
      pagingSubscriptions: [new SqsSubscription(pager)],
    });
    Template.fromStack(withPager).resourceCountIs('AWS::SNS::Subscription', 1);
  });
});

describe('the README', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

  it('lists every alarm by the name CloudWatch shows, with its topic and runbook', () => {
    const rows = [
      ...readme.matchAll(
        /^\| `Provisioning-<stage>-([A-Za-z<>]+)` +\| (page|notify) +\|[^|]+\| `([a-z-]+\.md)` +\|$/gm,
      ),
    ].map(([, name, topic, runbook]) => ({ name, topic, runbook }));
    const catalogue = (Object.keys(ALARM_CATALOGUE) as AlarmKind[]).map((kind) => ({
      name: PER_FUNCTION[kind] ? `<Function>${PER_FUNCTION[kind]}` : kind,
      topic: ALARM_CATALOGUE[kind].topic,
      runbook: ALARM_CATALOGUE[kind].runbook.file,
    }));

    expect(rows.sort((a, b) => String(a.name).localeCompare(String(b.name)))).toEqual(
      catalogue.sort((a, b) => a.name.localeCompare(b.name)),
    );
  });
});
