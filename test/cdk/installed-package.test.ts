import { execFile } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundledHandler } from '../support/lambda-bundles.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

type Resource = {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, string>;
};

let consumer: string;
let outdir: string;
let resources: Record<string, Resource>;

/** A CDK app of another team, with this package installed from npm in its node_modules. */
const CONSUMER_APP = `
import { App, Stack } from 'aws-cdk-lib';
import { ProvisioningHandoff } from 'provisioning-handoff';

const app = new App({ outdir: process.argv[2], context: { 'aws:cdk:enable-asset-metadata': true } });
const stack = new Stack(app, 'SaasPlatform', { env: { account: '123456789012', region: 'eu-west-1' } });
new ProvisioningHandoff(stack, 'Provisioning', { stage: 'staging', sandboxOrchestrator: true });
app.synth();
`;

beforeAll(async () => {
  consumer = mkdtempSync(join(tmpdir(), 'provisioning-consumer-'));
  outdir = join(consumer, 'cdk.out');
  // Exactly the files npm would publish, copied (not linked: a link would resolve back here).
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: ROOT,
  });
  const [packed] = JSON.parse(stdout) as [{ files: { path: string }[] }];
  const installed = join(consumer, 'node_modules', 'provisioning-handoff');
  for (const { path } of packed.files) {
    mkdirSync(join(installed, path, '..'), { recursive: true });
    cpSync(join(ROOT, path), join(installed, path));
  }
  // Its dependencies, as npm would have hoisted them next to it.
  for (const entry of readdirSync(join(ROOT, 'node_modules'))) {
    if (entry.startsWith('.')) continue;
    symlinkSync(join(ROOT, 'node_modules', entry), join(consumer, 'node_modules', entry));
  }
  writeFileSync(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'saas-platform', private: true, type: 'module' }),
  );
  writeFileSync(
    join(consumer, 'package-lock.json'),
    JSON.stringify({ name: 'saas-platform', lockfileVersion: 3, requires: true, packages: {} }),
  );
  writeFileSync(join(consumer, 'app.ts'), CONSUMER_APP);
  await run(process.execPath, ['--import', 'tsx', 'app.ts', outdir], { cwd: consumer });
  const template = JSON.parse(readFileSync(join(outdir, 'SaasPlatform.template.json'), 'utf8'));
  resources = template.Resources;
}, 240_000);

afterAll(() => {
  rmSync(consumer, { recursive: true, force: true });
});

describe('the construct installed from npm in another app’s node_modules', () => {
  it('bundles every function from the installed package, with the app’s own dependencies, into modules that load', async () => {
    const functions = Object.values(resources).filter(
      (r) =>
        r.Type === 'AWS::Lambda::Function' &&
        JSON.stringify(r.Properties?.Environment ?? {}).includes('POWERTOOLS_SERVICE_NAME'),
    );

    // The sandbox orchestrator's two among them.
    expect(functions.length).toBeGreaterThanOrEqual(12);
    for (const fn of functions) {
      expect(typeof (await bundledHandler(outdir, fn))).toBe('function');
    }
  }, 60_000);

  it('ships every migration inside the migrator’s bundle', () => {
    const migrator = Object.entries(resources).find(
      ([id, r]) => r.Type === 'AWS::Lambda::Function' && id.includes('Migrator'),
    )?.[1];
    const bundled = readdirSync(
      join(outdir, String(migrator?.Metadata?.['aws:asset:path']), 'schema'),
    ).sort();

    expect(bundled).toEqual(readdirSync(join(ROOT, 'schema')).sort());
  });
});
