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

  it('names the variable a function cannot work without', () => {
    expect(() => required(loadConfig({}).handoffQueueUrl, 'HANDOFF_QUEUE_URL')).toThrow(
      /HANDOFF_QUEUE_URL is required/,
    );
  });
});

describe('stack settings from CDK context', () => {
  it('make stage prod a production stack', () => {
    expect(parseSettings({ stage: 'prod' }).production).toBe(true);
    expect(parseSettings({}).production).toBe(false);
  });

  it('serve Stripe live mode in production and test mode otherwise, unless told', () => {
    expect(parseSettings({ stage: 'prod' }).stripeMode).toBe('live');
    expect(parseSettings({ stage: 'staging', production: 'true' }).stripeMode).toBe('live');
    expect(parseSettings({}).stripeMode).toBe('test');
    expect(parseSettings({ stage: 'prod', stripeMode: 'test' }).stripeMode).toBe('test');
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
