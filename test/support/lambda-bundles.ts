import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

type FunctionResource = {
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
};

/**
 * What the Lambda runtime would call in a synthesized function's bundle (assembly
 * synthesized with asset metadata): its handler export, loaded as Node.js loads it;
 * undefined when the bundle or the export is missing.
 */
export async function bundledHandler(outdir: string, fn: FunctionResource): Promise<unknown> {
  const entry = join(outdir, String(fn.Metadata?.['aws:asset:path']), 'index.mjs');
  if (!existsSync(entry)) return undefined;
  const module = await import(pathToFileURL(entry).href);
  return module[String(fn.Properties?.Handler).replace(/^index\./, '')];
}
