/** `npm run conformance -- --trigger-url URL` (see cli.ts). */
import { runConformanceCli } from './cli.js';

process.exitCode = await runConformanceCli(process.argv.slice(2), process.env, {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
});
