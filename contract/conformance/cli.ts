import { parseArgs } from 'node:util';
import { splitSecretList } from '../../functions/adapters/secrets.js';
import { parseLocalSettings } from '../../local/settings.js';
import { type ConformanceReport, runConformance } from './suite.js';

/**
 * `npm run conformance -- --trigger-url URL`: runs the conformance suite against an
 * orchestrator and prints a pass/fail table. Exit codes: 0 every check passed, 1 a
 * check failed, 2 a usage error (one line on stderr naming the fix).
 */

export const USAGE = `Usage: npm run conformance -- --trigger-url URL [options]

Drives an orchestrator's trigger endpoint through the provisioning contract and checks
the callbacks it sends back (docs/orchestrator-contract.md).

Options:
  --trigger-url URL     the orchestrator's trigger endpoint (required)
  --timeout SECONDS     how long to wait for the provisioned callback (default 60)
  --callback-port PORT  where the callback receiver listens on 127.0.0.1 (default: any free port)
  --callback-url URL    the callback URL to send instead, when the orchestrator reaches
                        the receiver through a tunnel to --callback-port
  --package SLUG        package_slug of the test tenant (default growth)
  --tokens-quota N      tokens_quota of the test tenant (default 1100000)
  --help                this text

Secrets, as the orchestrator knows them: PROVISIONING_TRIGGER_SECRET signs the triggers;
callbacks must be signed with PROVISIONING_CALLBACK_SECRET or, when it is unset, the
trigger secret. With neither set, the local runtime's defaults (as \`npm start\` uses).

Exit codes: 0 every check passed, 1 a check failed, 2 usage error.`;

export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

class UsageError extends Error {}

export async function runConformanceCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo,
): Promise<number> {
  let options: Parameters<typeof runConformance>[0];
  try {
    const parsed = parseOptions(argv);
    if (parsed === 'help') {
      io.out(`${USAGE}\n`);
      return 0;
    }
    options = { ...parsed, ...secretsFrom(env) };
  } catch (error) {
    io.err(`conformance: ${usageMessage(error)}\n`);
    return 2;
  }
  let report: ConformanceReport;
  try {
    report = await runConformance(options);
  } catch (error) {
    // The receiver could not listen: the run never started.
    io.err(`conformance: ${usageMessage(error)}\n`);
    return 2;
  }
  io.out(renderReport(report));
  return report.results.every((result) => result.passed) ? 0 : 1;
}

function parseOptions(argv: readonly string[]) {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      'trigger-url': { type: 'string' },
      timeout: { type: 'string', default: '60' },
      'callback-port': { type: 'string', default: '0' },
      'callback-url': { type: 'string' },
      package: { type: 'string', default: 'growth' },
      'tokens-quota': { type: 'string', default: '1100000' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help' as const;
  if (values['trigger-url'] === undefined) {
    throw new UsageError(
      "--trigger-url is required: the orchestrator's trigger endpoint, e.g. --trigger-url http://127.0.0.1:8080/trigger/onboarding",
    );
  }
  return {
    triggerUrl: httpUrl('--trigger-url', values['trigger-url']),
    callbackUrl:
      values['callback-url'] === undefined
        ? undefined
        : httpUrl('--callback-url', values['callback-url']),
    timeoutMs: whole('--timeout', values.timeout, 1, 3600) * 1000,
    callbackPort: whole('--callback-port', values['callback-port'], 0, 65_535),
    packageSlug: slug(values.package),
    tokensQuota: whole('--tokens-quota', values['tokens-quota'], 1, Number.MAX_SAFE_INTEGER),
  };
}

function secretsFrom(env: Readonly<Record<string, string | undefined>>) {
  const trigger = env.PROVISIONING_TRIGGER_SECRET?.trim();
  const callback = env.PROVISIONING_CALLBACK_SECRET?.trim();
  if (!trigger && !callback) {
    const local = parseLocalSettings({});
    return {
      triggerSecret: local.PROVISIONING_TRIGGER_SECRET,
      callbackSecrets: [local.PROVISIONING_CALLBACK_SECRET],
    };
  }
  if (!trigger) {
    throw new UsageError(
      'PROVISIONING_TRIGGER_SECRET is required when PROVISIONING_CALLBACK_SECRET is set: triggers are signed with it',
    );
  }
  return { triggerSecret: trigger, callbackSecrets: splitSecretList(callback || trigger) };
}

function httpUrl(option: string, value: string): string {
  if (URL.canParse(value) && /^https?:$/.test(new URL(value).protocol)) return value;
  throw new UsageError(`${option} must be an http(s) URL, got '${value}'`);
}

function whole(option: string, value: string, min: number, max: number): number {
  const number = Number(value);
  if (/^\d+$/.test(value) && number >= min && number <= max) return number;
  throw new UsageError(`${option} must be a whole number from ${min} to ${max}, got '${value}'`);
}

function slug(value: string): string {
  if (/^[a-z0-9][a-z0-9_-]{0,62}$/.test(value)) return value;
  throw new UsageError(`--package must be a package slug (a-z, 0-9, _ and -), got '${value}'`);
}

function usageMessage(error: unknown): string {
  if (error instanceof UsageError) return error.message;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE') return 'the --callback-port is in use: choose another, or 0 for any';
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code?.startsWith('ERR_PARSE_ARGS')) {
    return `${(error as Error).message.split('\n')[0]} (see --help)`;
  }
  return error instanceof Error ? error.message : String(error);
}

export function renderReport(report: ConformanceReport): string {
  const rows = report.results.map((result) => [
    result.passed ? 'PASS' : 'FAIL',
    result.check,
    result.detail,
  ]);
  const width = (column: number) =>
    Math.max(...rows.map((row) => row[column]?.length ?? 0), column === 0 ? 6 : 5);
  const line = (cells: readonly string[]) =>
    `${(cells[0] ?? '').padEnd(width(0))}  ${(cells[1] ?? '').padEnd(width(1))}  ${cells[2] ?? ''}`.trimEnd();
  const failed = report.results.filter((result) => !result.passed).length;
  return [
    `Orchestrator conformance: ${report.triggerUrl}`,
    `Callbacks received at:    ${report.callbackUrl}`,
    '',
    line(['RESULT', 'CHECK', 'DETAIL']),
    ...rows.map(line),
    '',
    failed === 0
      ? `All ${report.results.length} checks passed.`
      : `${failed} of ${report.results.length} checks failed.`,
    '',
  ].join('\n');
}
