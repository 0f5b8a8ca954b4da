/**
 * How every Lambda bundle is built (esbuild, through CDK's NodejsFunction), in one place
 * so that `npm run bench` builds and times exactly what `cdk deploy` uploads.
 */
export const LAMBDA_BUNDLING = {
  minify: true,
  sourceMap: true,
  target: 'node22',
  mainFields: ['module', 'main'],
  // Some dependencies still call require(); ESM bundles need it defined.
  banner:
    "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
} as const;

/**
 * The size a function's bundle (its index.mjs) may reach: what a cold start loads and
 * parses. Two carry Stripe's library: the webhook (its signature check) and the sweep
 * (it reads checkout sessions); only they may.
 */
export const BUNDLE_BUDGET_BYTES = 600 * 1024;
export const STRIPE_BUNDLE_BUDGET_BYTES = 900 * 1024;
/**
 * The X-Ray SDK that Powertools' Tracer brings into every bundle (about 120 KB): the
 * observability decision's price, counted apart so that the budgets above keep guarding
 * what the functions' own code and clients weigh.
 */
export const TRACER_PACKAGES = [
  '@aws-lambda-powertools/tracer',
  'aws-xray-sdk-core',
  'atomic-batcher',
  'cls-hooked',
  'emitter-listener',
  'semver',
  'shimmer',
] as const;

/** The handler modules (functions/handlers/) that carry Stripe's library. */
export const STRIPE_HANDLERS = ['stripe-webhook', 'sweep'] as const;
