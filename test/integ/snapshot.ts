/**
 * The integration test's cloud assembly as the snapshot beside it holds it: synthesized
 * with cdk.json's feature flags and without bundling (asset hashes are masked when
 * compared). `npm run integ:snapshot` rewrites the snapshot after a reviewed change;
 * test/cdk/integ-snapshot.test.ts fails while the two differ.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { cdkJsonContext, featureFlags } from '../support/cdk-context.js';
import { defineIntegTest } from './provisioning-handoff-integ.js';

export const SNAPSHOT_DIR = fileURLToPath(
  new URL('./integ.provisioning-handoff.ts.snapshot', import.meta.url),
);

export function synthesizeIntegTest(outdir: string): void {
  const app = new App({
    outdir,
    context: { ...featureFlags(cdkJsonContext()), 'aws:cdk:bundling-stacks': [] },
  });
  defineIntegTest(app);
  app.synth();
}

/**
 * Each template of an assembly, what changes at every synth masked (asset hashes, and
 * the salt that makes each assertion run at every deploy): what a reviewer compares.
 */
export function templatesOf(assembly: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(assembly)
      .filter((name) => name.endsWith('.template.json'))
      .sort()
      .map((name) => [
        name,
        readFileSync(join(assembly, name), 'utf8')
          .replace(/[a-f0-9]{64}(\.zip)?/g, '<hash>')
          .replace(/"salt": "\d+"/g, '"salt": "<salt>"'),
      ]),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  rmSync(SNAPSHOT_DIR, { recursive: true, force: true });
  synthesizeIntegTest(SNAPSHOT_DIR);
  for (const name of readdirSync(SNAPSHOT_DIR)) {
    // Bundles are rebuilt by every synth; the snapshot keeps what a review reads.
    if (name.startsWith('asset.')) rmSync(join(SNAPSHOT_DIR, name), { recursive: true });
  }
  process.stdout.write(`integration test snapshot written to ${SNAPSHOT_DIR}\n`);
}
