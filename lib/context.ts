import { parseSettings, SETTING_KEYS, type StackSettings } from './settings.js';

/**
 * Context CDK itself defines, which the product must leave alone: feature flags
 * (`@aws-cdk/…`), switches (`aws:cdk:…`), cached lookups (`availability-zones:…`), and
 * what the CLI stores (`cdk acknowledge`, `cdk cli-telemetry`).
 */
const CDK_KEYS: readonly string[] = ['acknowledged-issue-numbers', 'cli-telemetry'];

export function isCdkContextKey(key: string): boolean {
  return key.startsWith('@') || key.includes(':') || CDK_KEYS.includes(key);
}

/** A setting the app cannot run with, said in one line with the fix. */
export class ContextError extends Error {
  override readonly name = 'ContextError';
}

/**
 * The stack's settings from the whole CDK context (cdk.json, cdk.context.json, `-c`).
 * A key that is neither CDK's nor a setting stops the synth: a mistyped `triggerURL`
 * must not deploy a stack that silently has no orchestrator.
 */
export function settingsFromContext(context: Readonly<Record<string, unknown>>): StackSettings {
  const ours = Object.entries(context).filter(([key]) => !isCdkContextKey(key));
  const unknown = ours.map(([key]) => key).filter((key) => !SETTING_KEYS.includes(key));
  if (unknown.length) {
    const named = unknown.map((key) => {
      const meant = SETTING_KEYS.find((known) => known.toLowerCase() === key.toLowerCase());
      return meant ? `${key} (did you mean ${meant}?)` : key;
    });
    throw new ContextError(
      `Unknown CDK context ${unknown.length === 1 ? 'key' : 'keys'} ${named.join(', ')}: fix or remove ${unknown.length === 1 ? 'it' : 'them'} in cdk.json or -c; the settings are ${SETTING_KEYS.join(', ')}`,
    );
  }
  try {
    return parseSettings(Object.fromEntries(ours));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ContextError(
      `${message}. Fix the value in cdk.json or -c key=value (the README's settings table says what each takes)`,
    );
  }
}
