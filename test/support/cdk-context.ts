import { readFileSync } from 'node:fs';

/** The context `cdk synth` passes the app from cdk.json: the stage and the feature flags. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
    context: Record<string, unknown>;
  };
  return cdkJson.context;
}

/** Feature flags only: context keys CDK defines (`@aws-cdk/…`), none of the product's settings. */
export function featureFlags(context: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(context).filter(([key]) => key.startsWith('@')));
}
