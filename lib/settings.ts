import type { ICertificate } from 'aws-cdk-lib/aws-certificatemanager';
import type { ITopicSubscription } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import * as z from 'zod';
import { STRIPE_MODES, type StripeMode } from '../functions/core/stripe-mode.js';

/**
 * The product's settings: the `ProvisioningHandoff` construct's props, or the CDK context
 * of `cdk deploy` (`cdk.json` or `-c key=value`), parsed at synth by one schema: a bad
 * value stops the synth with the prop or key named.
 */
const flag = z.union([
  z.boolean(),
  z.enum(['true', 'false']).transform((value) => value === 'true'),
]);
const count = z.coerce.number().int().positive();
/** A page origin (`https://app.example.com`); plain http only for a page on this machine. */
const origin = z.string().refine((value) => {
  try {
    const url = new URL(value);
    const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
    return url.origin === value && (url.protocol === 'https:' || local);
  } catch {
    return false;
  }
}, 'each must be an origin such as https://app.example.com (https, no path, no trailing slash)');
/** A list in cdk.json, or comma-separated on the command line (`-c allowedOrigins=a,b`). */
const origins = z.preprocess(
  (value) => (typeof value === 'string' ? value.split(',').map((item) => item.trim()) : value),
  z.array(origin),
);

/** SNS topic subscriptions (a pager, a chat bridge): objects that can bind to a topic. */
const topicSubscriptions = z
  .array(
    z.custom<ITopicSubscription>(
      (value) => typeof (value as ITopicSubscription | null)?.bind === 'function',
      'an SNS topic subscription (ITopicSubscription)',
    ),
  )
  .optional();

const contextSchema = z.strictObject({
  stage: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,20}$/, 'lowercase letters, digits and dashes')
    .default('dev'),
  /** Production keeps the database on delete (snapshot), deletion protection and longer backups and logs. */
  production: flag.optional(),
  /** Subscribed to the paging topic; a production stage must have it (or pagingSubscriptions). */
  alarmEmail: z.email().optional(),
  /** Subscribed to the notify topic (working hours); defaults to alarmEmail. */
  notifyEmail: z.email().optional(),
  /** The Stripe mode the webhook serves; events of the other mode are refused. */
  stripeMode: z.enum(STRIPE_MODES).optional(),
  triggerUrl: z.url().optional(),
  /** Where the runbooks are published; alarm descriptions then link them too. */
  runbookBaseUrl: z.url().optional(),
  /** Refuse callbacks without X-Provisioning-Timestamp; `false` only while an orchestrator migrates. */
  requireCallbackTimestamp: flag.default(true),
  reconcileEnabled: flag.default(true),
  watchdogEnabled: flag.default(true),
  /** The missed-checkout sweep's schedule switch; it runs only once a Stripe key is configured. */
  sweepEnabled: flag.default(true),
  /** Says the StripeApiKeySecretArn secret holds a restricted key: synth cannot see a secret's value. */
  stripeApiKeyConfigured: flag.default(false),
  sweepEveryMinutes: count.min(5).max(1440).default(60),
  sweepLookbackHours: count.max(720).default(72),
  /** Stripe's partner event source on EventBridge: adds the second intake. */
  stripeEventSourceName: z
    .string()
    .regex(
      /^aws\.partner\/stripe\.com\/[A-Za-z0-9._-]{1,200}$/,
      'the partner event source Stripe created, aws.partner/stripe.com/ed_…',
    )
    .optional(),
  staleAfterSeconds: count.default(300),
  stuckAfterSeconds: count.default(900),
  maxAttempts: count.default(8),
  retryMaxDelaySeconds: count.default(3600),
  breakerFailureThreshold: count.default(5),
  stallAfterSeconds: count.default(1800),
  renotifyAfterSeconds: count.default(21_600),
  reconcileBatchSize: count.max(1000).default(25),
  reconcileMaxRedrivesPerSecond: count.default(20),
  triggerTimeoutMs: count.max(25_000).default(10_000),
  handoffMaxConcurrency: count.min(2).max(1000).default(5),
  handoffMaxReceiveCount: count.default(5),
  backlogWarning: count.default(10),
  backlogCritical: count.default(50),
  oldestMessageSeconds: count.default(300),
  databaseMaxCapacityAcu: z.coerce.number().min(0.5).max(256).default(4),
  apiRateLimit: count.default(50),
  apiBurstLimit: count.default(100),
  /** Origins whose pages may read the status route (CORS). */
  allowedOrigins: origins.default([]),
  /** A custom domain for the HTTP API, with an ACM certificate for it in the stack's region. */
  domainName: z
    .string()
    .regex(/^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/, 'a lowercase domain name')
    .optional(),
  certificateArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[\w-]+$/, 'an ACM certificate ARN')
    .optional(),
  /** Props only: the certificate as a construct, instead of `certificateArn`. */
  certificate: z
    .custom<ICertificate>(
      (value) => Construct.isConstruct(value) && 'certificateArn' in value,
      'an ACM certificate construct (ICertificate)',
    )
    .optional(),
  /** A sandbox orchestrator in the stack, for `ops smoke`; never in production. */
  sandboxOrchestrator: flag.default(false),
  /** Props only: more subscriptions of the paging and notify topics. */
  pagingSubscriptions: topicSubscriptions,
  notifySubscriptions: topicSubscriptions,
});

/** Settings that only props can carry: a construct or a subscription is no context value. */
const PROPS_ONLY: readonly string[] = ['certificate', 'pagingSubscriptions', 'notifySubscriptions'];

/**
 * The settings in force (production and the Stripe mode follow the stage unless set),
 * then the rules between settings, each reported on the setting to change.
 */
const consistentSchema = contextSchema
  .transform((s) => {
    const production = s.production ?? s.stage === 'prod';
    return { ...s, production, stripeMode: s.stripeMode ?? (production ? 'live' : 'test') };
  })
  .superRefine((s, issues) => {
    const issue = (path: string, message: string) =>
      issues.addIssue({ code: 'custom', path: [path], message });
    // Subscriptions are objects, so only the construct's props can carry them, never context.
    if (s.production && !s.alarmEmail && !s.pagingSubscriptions?.length) {
      issue(
        'alarmEmail',
        `required when production is true (stage ${s.stage}), or pagingSubscriptions on the construct: nobody would be paged`,
      );
    }
    if (s.sandboxOrchestrator && s.production) {
      issue('sandboxOrchestrator', 'refused in production: a sandbox provisions no real tenant');
    }
    if (s.sandboxOrchestrator && s.triggerUrl) {
      issue(
        'triggerUrl',
        'leave it unset with sandboxOrchestrator: the sandbox receives the triggers',
      );
    }
    if (s.certificate && s.certificateArn) {
      issue('certificateArn', 'give certificate or certificateArn, not both');
    }
    if (s.domainName && !s.certificate && !s.certificateArn) {
      issue('certificateArn', `required with domainName: an ACM certificate for ${s.domainName}`);
    }
    if (!s.domainName && (s.certificate || s.certificateArn)) {
      issue('domainName', 'required with a certificate: the domain it is for');
    }
  });

export type StackSettings = z.output<typeof consistentSchema>;

/** The construct's props: every setting optional, with the defaults of the README's table. */
export interface ProvisioningHandoffProps {
  /** Names the stage in metrics and alarm names; `prod` implies `production`. Default `dev`. */
  readonly stage?: string;
  /** Deletion protection, snapshot on delete, longer backups and logs. Default: stage is `prod`. */
  readonly production?: boolean;
  /** Subscribed to the paging topic. Required in production, unless `pagingSubscriptions` is given. */
  readonly alarmEmail?: string;
  /** Subscribed to the notify topic (what needs a look in working hours). Default: `alarmEmail`. */
  readonly notifyEmail?: string;
  /** Construct only: more subscriptions of the paging topic (a pager, a chat bridge). */
  readonly pagingSubscriptions?: readonly ITopicSubscription[];
  /** Construct only: more subscriptions of the notify topic. */
  readonly notifySubscriptions?: readonly ITopicSubscription[];
  /** The Stripe mode the webhook serves. Default `live` in production, `test` otherwise. */
  readonly stripeMode?: StripeMode;
  /** The orchestrator's trigger endpoint; unset parks every hand-off as not configured. */
  readonly triggerUrl?: string;
  /** Where the runbooks are published (e.g. your fork's docs/runbooks); alarm descriptions link them. Default: none, they name the file in this repository. */
  readonly runbookBaseUrl?: string;
  /**
   * Refuse orchestrator callbacks without `X-Provisioning-Timestamp`. Default `true`;
   * `false` is the migration path for an orchestrator that signs the body alone, until
   * it signs `"<timestamp>.<body>"`.
   */
  readonly requireCallbackTimestamp?: boolean;
  readonly reconcileEnabled?: boolean;
  readonly watchdogEnabled?: boolean;
  /** The missed-checkout sweep's schedule switch. Default true (it runs once the key is configured). */
  readonly sweepEnabled?: boolean;
  /**
   * The StripeApiKeySecretArn secret holds a restricted key that can read Checkout
   * Sessions (synth cannot read a secret). Until then the sweep's schedule is off and
   * synth warns. Default false.
   */
  readonly stripeApiKeyConfigured?: boolean;
  /** How often the sweep runs, in minutes (5 to 1440). Default 60. */
  readonly sweepEveryMinutes?: number;
  /** How far back the sweep lists completed sessions, in hours (up to 720). Default 72. */
  readonly sweepLookbackHours?: number;
  /**
   * The partner event source of Stripe's event destination on Amazon EventBridge
   * (`aws.partner/stripe.com/ed_…`): associates it with a bus of its own and adds the
   * EventBridge intake. Default: webhook only.
   */
  readonly stripeEventSourceName?: string;
  readonly staleAfterSeconds?: number;
  readonly stuckAfterSeconds?: number;
  readonly maxAttempts?: number;
  readonly retryMaxDelaySeconds?: number;
  readonly breakerFailureThreshold?: number;
  readonly stallAfterSeconds?: number;
  readonly renotifyAfterSeconds?: number;
  readonly reconcileBatchSize?: number;
  readonly reconcileMaxRedrivesPerSecond?: number;
  readonly triggerTimeoutMs?: number;
  readonly handoffMaxConcurrency?: number;
  readonly handoffMaxReceiveCount?: number;
  readonly backlogWarning?: number;
  readonly backlogCritical?: number;
  readonly oldestMessageSeconds?: number;
  readonly databaseMaxCapacityAcu?: number;
  readonly apiRateLimit?: number;
  readonly apiBurstLimit?: number;
  /**
   * Origins whose pages may read the status route (CORS), e.g. `https://app.example.com`:
   * a checkout success page served elsewhere than the API. Default: none.
   */
  readonly allowedOrigins?: readonly string[];
  /** A custom domain for the HTTP API (`billing-api.example.com`); needs a certificate. */
  readonly domainName?: string;
  /** The ACM certificate for `domainName`, in the stack's region, by ARN… */
  readonly certificateArn?: string;
  /** …or as a construct (`Certificate`, `Certificate.fromCertificateArn`). */
  readonly certificate?: ICertificate;
  /**
   * A sandbox orchestrator in the stack, which receives the triggers and calls back
   * signed, so `ops smoke` can prove a deploy end to end. Refused in production.
   */
  readonly sandboxOrchestrator?: boolean;
}

// Compile-time: the props interface and the schema name the same settings, no more, no less.
true satisfies [keyof ProvisioningHandoffProps] extends [keyof z.input<typeof contextSchema>]
  ? [keyof z.input<typeof contextSchema>] extends [keyof ProvisioningHandoffProps]
    ? true
    : false
  : false;

/** Validates props or context; `source` names where they came from in the error. */
export function parseSettings(
  input: ProvisioningHandoffProps | Record<string, unknown>,
  source = 'CDK context',
): StackSettings {
  const parsed = consistentSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.')}: ${issue.message}`,
    );
    throw new Error(`Invalid ${source}: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/** The context keys this stack reads (every setting a JSON value can carry). */
export const SETTING_KEYS: readonly string[] = Object.keys(contextSchema.shape).filter(
  (key) => !PROPS_ONLY.includes(key),
);
