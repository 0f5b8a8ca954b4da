import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, required } from '../../functions/config.js';
import { DEFAULT_RULES } from '../../functions/core/rules.js';
import { parseSettings } from '../../lib/settings.js';
import { parseLocalSettings } from '../../local/settings.js';

const DATA_API = {
  DATABASE_RESOURCE_ARN: 'arn:aws:rds:eu-west-1:123456789012:cluster:provisioning',
  DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf',
};

describe('function configuration', () => {
  it('starts from the runbook thresholds when nothing is set', () => {
    const config = loadConfig({});

    expect(config.rules).toEqual(DEFAULT_RULES);
    expect(config.reconcile).toEqual({ batchSize: 25, maxRedrivesPerSecond: 20 });
    expect(config.database).toEqual({ kind: 'none' });
  });

  it('reads the Data API target and every threshold from the environment', () => {
    const config = loadConfig({
      ...DATA_API,
      MAX_ATTEMPTS: '3',
      STUCK_AFTER_SECONDS: '60',
      PUBLIC_BASE_URL: 'https://x.example.com/',
      DATA_API_RETRY_BUDGET_SECONDS: '20',
    });

    expect(config.database).toEqual({
      kind: 'data-api',
      ...{ resourceArn: DATA_API.DATABASE_RESOURCE_ARN, secretArn: DATA_API.DATABASE_SECRET_ARN },
      database: 'provisioning',
      retryBudgetMs: 20_000,
    });
    expect(config.rules).toMatchObject({ maxAttempts: 3, stuckAfterSeconds: 60 });
    expect(config.publicBaseUrl).toBe('https://x.example.com');
  });

  it('fails fast naming every bad variable, without echoing its value', () => {
    const attempt = () =>
      loadConfig({
        MAX_ATTEMPTS: 'eight',
        PROVISIONING_TRIGGER_SECRET_ARN: 'sk_live_pasted_by_mistake',
      });

    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/MAX_ATTEMPTS/);
    expect(attempt).toThrow(/PROVISIONING_TRIGGER_SECRET_ARN: must be an ARN/);
    expect(attempt).not.toThrow(/sk_live_pasted_by_mistake/);
  });

  it('refuses half a Data API target', () => {
    expect(() => loadConfig({ DATABASE_RESOURCE_ARN: DATA_API.DATABASE_RESOURCE_ARN })).toThrow(
      /DATABASE_RESOURCE_ARN and DATABASE_SECRET_ARN go together/,
    );
  });

  it('reads the Stripe mode the webhook serves, and refuses any other by name', () => {
    expect(loadConfig({ STRIPE_MODE: 'live' }).stripeMode).toBe('live');
    expect(loadConfig({ STRIPE_MODE: 'test' }).stripeMode).toBe('test');
    expect(() => required(loadConfig({}).stripeMode, 'STRIPE_MODE')).toThrow(
      /STRIPE_MODE is required/,
    );
    expect(() => loadConfig({ STRIPE_MODE: 'sandbox' })).toThrow(/STRIPE_MODE/);
  });

  it('requires the callback timestamp unless REQUIRE_CALLBACK_TIMESTAMP is false', () => {
    expect(loadConfig({}).requireCallbackTimestamp).toBe(true);
    expect(loadConfig({ REQUIRE_CALLBACK_TIMESTAMP: 'false' }).requireCallbackTimestamp).toBe(
      false,
    );
    expect(() => loadConfig({ REQUIRE_CALLBACK_TIMESTAMP: 'no' })).toThrow(
      /REQUIRE_CALLBACK_TIMESTAMP/,
    );
  });

  it('names the variable a function cannot work without', () => {
    expect(() => required(loadConfig({}).handoffQueueUrl, 'HANDOFF_QUEUE_URL')).toThrow(
      /HANDOFF_QUEUE_URL is required/,
    );
  });
});

describe('stack settings from CDK context', () => {
  const paged = { alarmEmail: 'oncall@example.com' };

  it('make stage prod a production stack', () => {
    expect(parseSettings({ stage: 'prod', ...paged }).production).toBe(true);
    expect(parseSettings({}).production).toBe(false);
  });

  it('refuse a production stage nobody would be paged for, naming alarmEmail', () => {
    expect(() => parseSettings({ stage: 'prod' })).toThrow(
      /^Invalid CDK context: alarmEmail: required when production is true/,
    );
    expect(() => parseSettings({ stage: 'staging', production: 'true' })).toThrow(/alarmEmail/);
    expect(parseSettings({ stage: 'staging' }).alarmEmail).toBeUndefined();
  });

  it('require the callback timestamp unless told otherwise, and link no runbook URL by default', () => {
    expect(parseSettings({}).requireCallbackTimestamp).toBe(true);
    expect(parseSettings({ requireCallbackTimestamp: 'false' }).requireCallbackTimestamp).toBe(
      false,
    );
    expect(parseSettings({}).runbookBaseUrl).toBeUndefined();
  });

  it('serve Stripe live mode in production and test mode otherwise, unless told', () => {
    expect(parseSettings({ stage: 'prod', ...paged }).stripeMode).toBe('live');
    expect(parseSettings({ stage: 'staging', production: 'true', ...paged }).stripeMode).toBe(
      'live',
    );
    expect(parseSettings({}).stripeMode).toBe('test');
    expect(parseSettings({ stage: 'prod', stripeMode: 'test', ...paged }).stripeMode).toBe('test');
    expect(() => parseSettings({ stripeMode: 'sandbox' })).toThrow(/stripeMode/);
  });

  it('stop the synth naming a bad key', () => {
    expect(() => parseSettings({ alarmEmail: 'not-an-email', maxAttempts: '0' })).toThrow(
      /alarmEmail.*maxAttempts|maxAttempts.*alarmEmail/,
    );
  });
});

describe('local runtime settings', () => {
  it('default to the production knobs and printed local secrets, never empty', () => {
    const settings = parseLocalSettings({});

    expect(settings).toMatchObject({
      PORT: 3000,
      SANDBOX_ORCHESTRATOR: 'ok',
      RECONCILE_EVERY_SECONDS: 600,
      WATCHDOG_EVERY_SECONDS: 3600,
    });
    expect(settings.STRIPE_WEBHOOK_SECRET).toMatch(/^whsec_/);
    // What `stripe listen` forwards and `simulate:checkout` sends.
    expect(settings.STRIPE_MODE).toBe('test');
    expect(settings.PROVISIONING_CALLBACK_SECRET.length).toBeGreaterThan(0);
  });

  it('refuse an unknown sandbox mode by name', () => {
    expect(() => parseLocalSettings({ SANDBOX_ORCHESTRATOR: 'flaky' })).toThrow(
      /SANDBOX_ORCHESTRATOR/,
    );
  });
});
