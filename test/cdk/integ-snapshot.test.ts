import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SNAPSHOT_DIR, synthesizeIntegTest, templatesOf } from '../integ/snapshot.js';

const outdir = mkdtempSync(join(tmpdir(), 'provisioning-integ-'));
beforeAll(() => synthesizeIntegTest(outdir), 60_000);
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('the integration test (npm run integ, in an AWS account)', () => {
  it('synthesizes exactly the checked-in snapshot: the stack it deploys and the assertions it runs', () => {
    const synthesized = templatesOf(outdir);
    // After a reviewed change to the stack or the test: npm run integ:snapshot.
    expect(Object.keys(synthesized)).toEqual(Object.keys(templatesOf(SNAPSHOT_DIR)));
    for (const [name, template] of Object.entries(templatesOf(SNAPSHOT_DIR))) {
      expect(synthesized[name], name).toEqual(template);
    }
  });

  it('waits for the tenant through the public status route, after asking for it', () => {
    const assertions = Object.entries(templatesOf(outdir)).find(([name]) =>
      name.includes('DeployAssert'),
    )?.[1];

    expect(assertions).toContain('"state\\":\\"ready\\"');
    expect(assertions).toContain('executeStatement');
    expect(assertions).toContain('"statusCode\\":202');
  });
});
