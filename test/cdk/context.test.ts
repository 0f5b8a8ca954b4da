import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { settingsFromContext } from '../../lib/context.js';
import { cdkJsonContext } from '../support/cdk-context.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `bin/app.ts` as `cdk synth` runs it, with the context the CLI passes in CDK_CONTEXT_JSON. */
async function synthWith(context: Record<string, unknown>) {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'bin/app.ts'],
      { cwd: ROOT, env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify(context) } },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('the CDK context of cdk deploy', () => {
  it('refuses a key it does not know, suggesting the setting it resembles, and lists the settings', () => {
    expect(() =>
      settingsFromContext({ triggerURL: 'https://orchestrator.example.com/trigger' }),
    ).toThrow(
      /^Unknown CDK context key triggerURL \(did you mean triggerUrl\?\): fix or remove it in cdk\.json or -c; the settings are stage, production, .*sandboxOrchestrator$/,
    );
  });

  it('leaves CDK’s own keys alone: feature flags, aws:cdk switches, cached lookups, what the CLI stores', () => {
    const settings = settingsFromContext({
      ...cdkJsonContext(),
      'aws:cdk:enable-path-metadata': true,
      'availability-zones:account=123456789012:region=eu-west-1': ['eu-west-1a'],
      'acknowledged-issue-numbers': [32775],
      'cli-telemetry': false,
      maxAttempts: '5',
    });

    expect(settings).toMatchObject({ stage: 'dev', maxAttempts: 5 });
  });

  it('names a bad value and where to fix it', () => {
    expect(() =>
      settingsFromContext({ maxAttempts: '0', allowedOrigins: 'shop.example.com' }),
    ).toThrow(
      /^Invalid CDK context: maxAttempts: .*; allowedOrigins\.0: .*\. Fix the value in cdk\.json or -c key=value/,
    );
  });

  it('takes allowedOrigins comma-separated on the command line, or as a list in cdk.json', () => {
    const expected = ['https://shop.example.com', 'https://app.example.com'];

    expect(
      settingsFromContext({ allowedOrigins: 'https://shop.example.com, https://app.example.com' })
        .allowedOrigins,
    ).toEqual(expected);
    expect(settingsFromContext({ allowedOrigins: expected }).allowedOrigins).toEqual(expected);
  });

  it('stops `cdk synth` with one line naming the fix, not a stack trace', async () => {
    const unknown = await synthWith({ triggerURL: 'https://orchestrator.example.com/trigger' });
    const invalid = await synthWith({ maxAttempts: 'many' });

    for (const result of [unknown, invalid]) {
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/^error: .*(cdk\.json or -c)/);
    }
    expect(unknown.stderr).toContain('did you mean triggerUrl?');
    expect(invalid.stderr).toContain('maxAttempts');
  }, 60_000);
});
