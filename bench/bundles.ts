import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Metafile, type Plugin } from 'esbuild';
import {
  BUNDLE_BUDGET_BYTES,
  LAMBDA_BUNDLING,
  STRIPE_BUNDLE_BUDGET_BYTES,
  STRIPE_HANDLERS,
  TRACER_PACKAGES,
} from '../lib/constructs/bundling.js';
import { median } from './stats.js';

/**
 * Each Lambda's bundle, built with the stack's own esbuild options, against its floor:
 * a bundle of nothing but the AWS SDK clients it carries (read from its metafile). Cold
 * init is the CPU time of a whole `node` process importing the bundle, the two
 * alternated, so a drifting machine moves both alike; the ratio per pair is reported.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The handler modules the stack deploys (functions/handlers/*.ts). */
export const LAMBDA_ENTRIES = [
  'stripe-webhook',
  'handoff-consumer',
  'callback',
  'reconcile',
  'watchdog',
  'status',
  'operator-job-read',
  'operator-jobs',
  'stripe-eventbridge',
  'sweep',
  'migrate',
  'openapi',
] as const;

/** The class each AWS SDK client package exports. */
const CLIENT_CLASSES: Readonly<Record<string, string>> = {
  '@aws-sdk/client-rds-data': 'RDSDataClient',
  '@aws-sdk/client-sqs': 'SQSClient',
  '@aws-sdk/client-eventbridge': 'EventBridgeClient',
  '@aws-sdk/client-secrets-manager': 'SecretsManagerClient',
  '@aws-sdk/client-ssm': 'SSMClient',
};

export interface BundleFigure {
  readonly entry: string;
  readonly bytes: number;
  /** Of those, the Tracer's X-Ray SDK (counted apart from the budgets). */
  readonly tracerBytes: number;
  readonly budget: number;
  readonly clients: readonly string[];
  readonly initMs: number;
  readonly floorMs: number;
  /** Median of the per-pair ratios bundle / floor. */
  readonly ratio: number;
  /** The same, with the Tracer replaced by an inert stand-in: what tracing costs at init. */
  readonly untracedRatio: number;
}

/**
 * Powertools' Tracer as an inert stand-in (the same calls, doing nothing), so the bench
 * can time each bundle without the X-Ray SDK beside the one the stack deploys.
 */
const WITHOUT_TRACER: Plugin = {
  name: 'without-tracer',
  setup(build) {
    build.onResolve({ filter: /^@aws-lambda-powertools\/tracer(\/middleware)?$/ }, (args) => ({
      path: args.path,
      namespace: 'inert-tracer',
    }));
    build.onLoad({ filter: /.*/, namespace: 'inert-tracer' }, () => ({
      loader: 'js',
      contents: `export class Tracer {
        captureAWSv3Client(client) { return client; }
        putAnnotation() {}
      }
      export function captureLambdaHandler() { return { before() {} }; }`,
    }));
  },
};

async function bundle(
  outfile: string,
  input: { entry: string } | { contents: string },
  plugins: Plugin[] = [],
): Promise<Metafile> {
  const result = await build({
    plugins,
    ...('entry' in input
      ? { entryPoints: [join(ROOT, 'functions/handlers', `${input.entry}.ts`)] }
      : { stdin: { contents: input.contents, resolveDir: ROOT, loader: 'ts' } }),
    bundle: true,
    platform: 'node',
    format: 'esm',
    minify: LAMBDA_BUNDLING.minify,
    sourcemap: LAMBDA_BUNDLING.sourceMap,
    target: LAMBDA_BUNDLING.target,
    mainFields: [...LAMBDA_BUNDLING.mainFields],
    banner: { js: LAMBDA_BUNDLING.banner },
    outfile,
    metafile: true,
    logLevel: 'error',
  });
  return result.metafile;
}

/** Bytes of the bundle that come from the Tracer's X-Ray SDK. */
function tracerBytesOf(metafile: Metafile): number {
  let bytes = 0;
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const name = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1];
      if (name && (TRACER_PACKAGES as readonly string[]).includes(name)) bytes += bytesInOutput;
    }
  }
  return bytes;
}

/** The AWS SDK clients whose code is in the bundle (not merely read and shaken out). */
function clientsOf(metafile: Metafile): string[] {
  const packages = new Set<string>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const name = /node_modules\/(@aws-sdk\/client-[^/]+)\//.exec(input)?.[1];
      if (name && bytesInOutput > 0) packages.add(name);
    }
  }
  return [...packages].sort();
}

/**
 * CPU milliseconds (user and system) of one `node` process that imports the module and
 * exits, as the process itself counts them: unlike wall time, a busy shared machine
 * does not add its waits for a core.
 */
function coldImport(file: string): number {
  const run = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `await import(${JSON.stringify(pathToFileURL(file).href)});
       const { user, system } = process.cpuUsage();
       process.stdout.write(String((user + system) / 1000));`,
    ],
    { encoding: 'utf8' },
  );
  if (run.status !== 0) throw new Error(`importing ${file} failed: ${run.stderr}`);
  return Number(run.stdout);
}

export async function measureBundles(runs: number): Promise<BundleFigure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'provisioning-bundles-'));
  try {
    const figures: BundleFigure[] = [];
    for (const entry of LAMBDA_ENTRIES) {
      const file = join(dir, `${entry}.mjs`);
      const metafile = await bundle(file, { entry });
      const clients = clientsOf(metafile);
      const floor = join(dir, `${entry}.floor.mjs`);
      await bundle(floor, {
        contents: clients
          .map((name, i) => `export { ${CLIENT_CLASSES[name]} as c${i} } from '${name}';`)
          .join('\n'),
      });
      const untraced = join(dir, `${entry}.untraced.mjs`);
      await bundle(untraced, { entry }, [WITHOUT_TRACER]);
      coldImport(file);
      coldImport(floor);
      coldImport(untraced);
      const init: number[] = [];
      const base: number[] = [];
      const ratios: number[] = [];
      const untracedRatios: number[] = [];
      for (let i = 0; i < runs; i += 1) {
        const a = coldImport(file);
        const b = coldImport(floor);
        const c = coldImport(untraced);
        init.push(a);
        base.push(b);
        ratios.push(a / b);
        untracedRatios.push(c / b);
      }
      figures.push({
        entry,
        bytes: statSync(file).size,
        tracerBytes: tracerBytesOf(metafile),
        budget: (STRIPE_HANDLERS as readonly string[]).includes(entry)
          ? STRIPE_BUNDLE_BUDGET_BYTES
          : BUNDLE_BUDGET_BYTES,
        clients: clients.map((name) => name.replace('@aws-sdk/client-', '')),
        initMs: median(init),
        floorMs: median(base),
        ratio: median(ratios),
        untracedRatio: median(untracedRatios),
      });
    }
    return figures;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
