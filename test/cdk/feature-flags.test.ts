import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { ProvisioningStack } from '../../lib/provisioning-stack.js';
import { parseSettings } from '../../lib/settings.js';
import { cdkJsonContext, featureFlags } from '../support/cdk-context.js';

/** The flags cdk.json carried when the first stacks were deployed. */
const FIRST_RELEASE_FLAGS = {
  '@aws-cdk/aws-lambda:recognizeLayerVersion': true,
  '@aws-cdk/core:checkSecretUsage': true,
  '@aws-cdk/aws-iam:minimizePolicies': true,
  '@aws-cdk/core:validateSnapshotRemovalPolicy': true,
  '@aws-cdk/aws-apigateway:disableCloudWatchRole': true,
  '@aws-cdk/core:enablePartitionLiterals': true,
  '@aws-cdk/aws-rds:databaseProxyUniqueResourceName': true,
  '@aws-cdk/aws-lambda-nodejs:useLatestRuntimeVersion': true,
  '@aws-cdk/aws-ec2:restrictDefaultSecurityGroup': true,
};

function template(flags: Record<string, unknown>, stage: string): unknown {
  const app = new App({ context: { ...flags, 'aws:cdk:bundling-stacks': [] } });
  const stack = new ProvisioningStack(app, 'Provisioning', {
    settings: parseSettings({ stage, alarmEmail: 'oncall@example.com' }),
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  return app.synth().getStackByName(stack.stackName).template;
}

describe('cdk.json’s feature flags', () => {
  it('set every flag the installed aws-cdk-lib recommends, at its recommended value', () => {
    const recommended = JSON.parse(
      readFileSync(
        new URL('../../node_modules/aws-cdk-lib/recommended-feature-flags.json', import.meta.url),
        'utf8',
      ),
    ) as Record<string, unknown>;

    // A new aws-cdk-lib recommends new flags: review each against the next test, then add it.
    expect(featureFlags(cdkJsonContext())).toEqual(recommended);
  });

  it.each(['dev', 'prod'])(
    'change nothing in a %s stack deployed under the first release’s flags: no resource replaced, none renamed',
    (stage) => {
      expect(template(featureFlags(cdkJsonContext()), stage)).toEqual(
        template(FIRST_RELEASE_FLAGS, stage),
      );
    },
  );
});
