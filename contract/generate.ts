/**
 * `npm run contract:generate`: writes the OpenAPI document and the JSON Schemas of this
 * folder from the zod schemas (the npm script then formats them with Biome). Run it
 * after changing a schema, a route or an answer; `test/contract/documents.test.ts`
 * fails until the checked-in files match.
 */
import { writeFile } from 'node:fs/promises';
import { buildJsonSchemas, buildOpenApiDocument } from './openapi.js';

const CONTRACT_DIR = new URL('./', import.meta.url);

const documents = { 'openapi.json': buildOpenApiDocument(), ...buildJsonSchemas() };
for (const [name, document] of Object.entries(documents)) {
  await writeFile(new URL(name, CONTRACT_DIR), `${JSON.stringify(document, null, 2)}\n`);
  process.stdout.write(`contract/${name}\n`);
}
