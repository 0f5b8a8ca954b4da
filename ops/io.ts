import type { Log } from '../functions/services/dependencies.js';

/** A stream as the CLI sees it: a terminal or not. */
export interface OpsReadable extends NodeJS.ReadableStream {
  readonly isTTY?: boolean;
}
export interface OpsWritable extends NodeJS.WritableStream {
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** The process's streams and environment, injected so tests drive the CLI without spawning it. */
export interface OpsIo {
  readonly stdin: OpsReadable;
  readonly stdout: OpsWritable;
  readonly stderr: OpsWritable;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * Where a command's words go. The result goes to stdout: a rendering for people, or
 * with `--json` one JSON document a script can parse. Everything else (plans,
 * warnings, notes) goes to stderr whenever stdout is JSON, so stdout stays parseable.
 */
export class Output {
  constructor(
    private readonly io: OpsIo,
    readonly json: boolean,
  ) {}

  /** The command's one result. */
  result(value: unknown, human: () => string): void {
    this.io.stdout.write(this.json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
  }

  /** What a write is about to do, before it asks. */
  plan(text: string): void {
    (this.json ? this.io.stderr : this.io.stdout).write(`${text}\n`);
  }

  note(text: string): void {
    this.io.stderr.write(`${text}\n`);
  }

  warn(text: string): void {
    this.io.stderr.write(`warning: ${text}\n`);
  }
}

type LogArgs = Parameters<Log['warn']>;

/**
 * The log the domain services write through when the CLI runs them: their warnings
 * and errors reach the operator on stderr, their routine info stays quiet.
 */
export function operatorLog(out: Output): Log {
  const quiet = () => {};
  const say =
    (prefix: string) =>
    (...[message, ...extra]: LogArgs) => {
      const text = typeof message === 'string' ? message : JSON.stringify(message);
      const details = extra
        .map((item) => (item instanceof Error ? item.message : JSON.stringify(item, errorText)))
        .join(' ');
      out.note(`${prefix}${text}${details ? ` ${details}` : ''}`);
    };
  return { debug: quiet, info: quiet, warn: say('warning: '), error: say('error: ') };
}

function errorText(_key: string, value: unknown): unknown {
  return value instanceof Error ? value.message : value;
}
