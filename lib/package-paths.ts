import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where this package's own files are (`functions/`, `schema/`): this repository's root,
 * or `node_modules/provisioning-handoff` when a CDK app installs it.
 */
export const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));

const LOCK_FILES = ['package-lock.json', 'yarn.lock', 'pnpm-lock.yaml', 'bun.lock', 'bun.lockb'];

export interface BundlingRoot {
  /** The project that installed the dependencies: esbuild (or Docker) works from here. */
  readonly projectRoot: string;
  readonly lockFile: string;
}

/**
 * The nearest project with a lock file, from this package upwards: this repository
 * itself, or the app that installed it (npm publishes no lock file, so an installed
 * package never has its own). Its `node_modules` is where the bundles' dependencies
 * resolve.
 */
export function bundlingRoot(from: string = PACKAGE_ROOT): BundlingRoot {
  for (let directory = from; ; directory = dirname(directory)) {
    const lockFile = LOCK_FILES.map((name) => join(directory, name)).find((path) =>
      existsSync(path),
    );
    if (lockFile) return { projectRoot: directory, lockFile };
    if (dirname(directory) === directory) {
      throw new Error(
        `No lock file (${LOCK_FILES.join(', ')}) in ${from} or any folder above it: install the app's dependencies (npm install) before synthesizing`,
      );
    }
  }
}

/** A file of this package as bundling hooks see it: relative to the bundling root. */
export function packagePathFromRoot(root: BundlingRoot, path: string): string {
  return relative(root.projectRoot, join(PACKAGE_ROOT, path));
}
