import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * One version of every Powertools package: package.json pins them together, but a copy
 * nested under another package (say an older `commons` under `tracer`) would be bundled
 * beside the pinned one, at a version nobody chose.
 */

const LOCK = fileURLToPath(new URL('../../package-lock.json', import.meta.url));
const SCOPE = 'node_modules/@aws-lambda-powertools/';

/** Every version the lock installs of each Powertools package, nested copies included. */
function powertoolsVersions(): Record<string, string[]> {
  const lock = JSON.parse(readFileSync(LOCK, 'utf8')) as {
    packages: Record<string, { version?: string }>;
  };
  const versions: Record<string, Set<string>> = {};
  for (const [path, entry] of Object.entries(lock.packages)) {
    const at = path.lastIndexOf(SCOPE);
    if (at === -1 || !entry.version) continue;
    const name = path.slice(at + SCOPE.length);
    versions[name] = new Set([...(versions[name] ?? []), entry.version]);
  }
  return Object.fromEntries(
    Object.entries(versions).map(([name, found]) => [name, [...found].sort()]),
  );
}

describe('the Powertools packages in package-lock.json', () => {
  it('are each installed in a single version, nested copies included', () => {
    const versions = powertoolsVersions();

    expect(Object.keys(versions)).toContain('commons');
    for (const [name, found] of Object.entries(versions)) {
      expect(found, `@aws-lambda-powertools/${name}`).toHaveLength(1);
    }
  });
});
