import { parseArgs } from 'node:util';
import { ConfigError } from '../functions/config.js';
import type { Actor } from '../functions/core/job.js';
import { StatementError } from '../functions/db/executor.js';
import { defaultCollaborators, type OpsCollaborators } from './collaborators.js';
import type { Command, CommandContext } from './command.js';
import { admins } from './commands/admins.js';
import { breaker } from './commands/breaker.js';
import { callbackCheck } from './commands/callback-check.js';
import { cancel } from './commands/cancel.js';
import { dlq } from './commands/dlq.js';
import { gauge } from './commands/gauge.js';
import { link } from './commands/link.js';
import { notifications } from './commands/notifications.js';
import { packages } from './commands/packages.js';
import { rearm } from './commands/rearm.js';
import { reconcileNow } from './commands/reconcile.js';
import { rejected } from './commands/rejected.js';
import { resolvePayload } from './commands/resolve-payload.js';
import { sandbox } from './commands/sandbox.js';
import { show } from './commands/show.js';
import { smoke } from './commands/smoke.js';
import { stuck } from './commands/stuck.js';
import { sweep } from './commands/sweep.js';
import { EXIT, type ExitCode, OpsError, UsageError } from './errors.js';
import { type OpsIo, Output } from './io.js';
import { type CommandArgs, GLOBAL_OPTIONS, OPTIONS, type OptionValues } from './options.js';
import { authorize, Prompter } from './prompt.js';
import { messageOf, type OpsTarget, openTarget } from './target.js';

/** In the order of the runbook. */
export const COMMANDS: readonly Command[] = [
  stuck,
  gauge,
  show,
  reconcileNow,
  sweep,
  breaker,
  rearm,
  link,
  cancel,
  resolvePayload,
  dlq,
  rejected,
  callbackCheck,
  admins,
  notifications,
  packages,
  sandbox,
  smoke,
];

const PROGRAM = 'provisioning-ops';

/**
 * The operator CLI: `npm run ops -- <command>`, or `npx provisioning-ops <command>`.
 * Everything it touches is injected (streams, environment, clock, HTTP, Stripe, the
 * Data API client), so tests run each command in process. Answers the exit code.
 */
export async function runOps(
  argv: readonly string[],
  io: OpsIo,
  collaborators: OpsCollaborators = defaultCollaborators,
): Promise<ExitCode> {
  let line: CommandLine;
  try {
    line = parseCommandLine(argv);
  } catch (error) {
    io.stderr.write(`error: ${messageOf(error)}\nRun ${PROGRAM} --help for the commands.\n`);
    return EXIT.usage;
  }
  if (line.kind === 'help') {
    io.stdout.write(line.command ? commandHelp(line.command) : generalHelp());
    return line.asked ? EXIT.ok : EXIT.usage;
  }
  const { command, values, args } = line;
  const out = new Output(io, values.json === true);
  const prompter = new Prompter(io);
  let target: Promise<OpsTarget> | undefined;
  const context: CommandContext = {
    io,
    out,
    collaborators,
    now: () => collaborators.clock(),
    target: () => {
      target ??= openTarget(
        { stack: stringValue(values.stack), region: stringValue(values.region) },
        io,
        out,
        collaborators,
      );
      return target;
    },
    authorize: (plan) =>
      authorize(
        prompter,
        out,
        {
          yes: values.yes === true,
          dryRun: values['dry-run'] === true,
          reason: stringValue(values.reason),
        },
        plan,
      ),
    actor: async (): Promise<Actor> => {
      const opened = await context.target();
      return `operator:${await opened.identity()}`;
    },
  };

  try {
    await command.run(context, args);
    return EXIT.ok;
  } catch (error) {
    return report(error, out, io, command);
  } finally {
    prompter.close();
    if (target) await target.then((opened) => opened.close()).catch(() => undefined);
  }
}

export type CommandLine =
  | { readonly kind: 'help'; readonly command: Command | undefined; readonly asked: boolean }
  | {
      readonly kind: 'run';
      readonly command: Command;
      readonly values: OptionValues;
      readonly args: CommandArgs;
    };

/**
 * Reads a command line: the command, and options it accepts. Throws a UsageError for
 * an unknown command or option, and for `--stack` without a name (which must never fall
 * back to the local database). Also used to check the runbooks' command lines.
 */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  let parsed: { values: OptionValues; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(messageOf(error));
  }
  const { values, positionals } = parsed;
  const [name, ...rest] = positionals;
  if (!name || name === 'help') {
    const topic = COMMANDS.find((command) => command.name === rest[0]);
    return { kind: 'help', command: topic, asked: Boolean(name || values.help) };
  }
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (!command) throw new UsageError(`no command ${name}`);
  if (values.help) return { kind: 'help', command, asked: true };
  const allowed = new Set<string>([...GLOBAL_OPTIONS, ...command.options]);
  for (const option of Object.keys(values)) {
    if (!allowed.has(option)) throw new UsageError(`--${option} is not an option of ${name}`);
  }
  for (const option of ['stack', 'region'] as const) {
    if (values[option] !== undefined && !stringValue(values[option])) {
      throw new UsageError(`--${option} needs a value`);
    }
  }
  return { kind: 'run', command, values, args: { positionals: rest, options: values } };
}

function stringValue(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' && value.trim() ? value.trim() : undefined;
}

/** Says what went wrong in the operator's terms, and answers the exit code it means. */
function report(error: unknown, out: Output, io: OpsIo, command: Command): ExitCode {
  const { code, message, hints } = classify(error);
  io.stderr.write(`error: ${message}\n${hints.map((hint) => `  ${hint}\n`).join('')}`);
  if (code === EXIT.usage) io.stderr.write(`Usage: ${PROGRAM} ${command.synopsis}\n`);
  if (out.json)
    io.stdout.write(`${JSON.stringify({ error: message, exit_code: code, hints }, null, 2)}\n`);
  return code;
}

function classify(error: unknown): { code: ExitCode; message: string; hints: readonly string[] } {
  if (error instanceof OpsError)
    return { code: error.exitCode, message: error.message, hints: error.hints };
  if (error instanceof ConfigError)
    return { code: EXIT.transport, message: error.message, hints: [] };
  if (error instanceof StatementError) {
    const missingSchema = error.sqlState === '42P01';
    return {
      code: EXIT.transport,
      message: `the database refused a statement: ${error.message}`,
      hints: missingSchema
        ? ['The schema is not migrated here: npm run db:migrate (or start the local runtime once).']
        : [],
    };
  }
  return {
    code: EXIT.transport,
    message: messageOf(error),
    hints: [
      'The database, AWS or the network failed; nothing is known to be written beyond what was printed.',
    ],
  };
}

function generalHelp(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return `${PROGRAM}: every manual step of the provisioning runbook as one safe command.

Usage: npm run ops -- <command> [arguments] [options]
       npx ${PROGRAM} <command> [arguments] [options]
       ${PROGRAM} <command> --help       (a command's own help)

Commands:
${COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`).join('\n')}

Target:
  By default the local database: DATABASE_URL, else the embedded PostgreSQL under
  .data/postgres (the one npm start runs; reused when it is running), with the
  settings the running npm start left in .data/runtime.json (thresholds, trigger
  URL, secrets) under your own environment variables.
  --stack NAME   a deployed stack: its outputs from CloudFormation, SQL through the
                 Data API, queues and secrets with your own AWS credentials
                 (AWS_PROFILE, AWS_REGION or --region). Your identity (STS caller ARN,
                 or the OS user locally) goes into the job history of every write.

Options:
  --json         one JSON document on stdout, for scripts (messages go to stderr)
  --yes, -y      confirm a write without asking (scripts, runbooks)
  --dry-run      show what a write would do, and do nothing
  --reason TEXT  why: kept in the job history (asked for when not given)
  --region R     the stack's AWS region
  --help, -h     this help, or a command's

Writes show their plan, then ask. Without --yes and without a terminal on stdin,
a write does nothing and exits 1.

Exit codes:
  0  done, or nothing needed doing
  1  refused, not found, or not confirmed: nothing was written
  2  usage error: fix the command line
  3  transport or configuration error (database, AWS, HTTP, a missing secret or output)

Runbooks: docs/runbooks/provisioning-stuck.md and its neighbours.
`;
}

function commandHelp(command: Command): string {
  const own = command.options.length
    ? `\nOptions of ${command.name}: ${command.options.map((option) => `--${option}`).join(', ')}\n`
    : '';
  return `Usage: ${PROGRAM} ${command.synopsis}

${command.summary}.

${command.help}
${own}
Global options: --stack NAME, --region R, --json, --yes, --dry-run, --reason TEXT.
Exit codes: 0 done; 1 refused, not found or not confirmed; 2 usage; 3 transport or configuration.
`;
}
