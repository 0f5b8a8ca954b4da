import { createInterface, type Interface } from 'node:readline';
import { RefusedError, UsageError } from './errors.js';
import type { OpsIo, Output } from './io.js';

/**
 * Questions to the operator on stderr, answers from stdin, a line each. Lines that
 * arrive before the question (typed ahead, or piped in a test) are kept, not lost.
 */
export class Prompter {
  private reader: Interface | undefined;
  private readonly pending: string[] = [];
  private waiting: ((line: string | undefined) => void) | undefined;
  private ended = false;

  constructor(private readonly io: OpsIo) {}

  /** Only a terminal can confirm: a pipe or a closed stdin never answers for a person. */
  get interactive(): boolean {
    return this.io.stdin.isTTY === true;
  }

  /** The next line the operator types, or undefined when stdin ended. */
  async ask(question: string): Promise<string | undefined> {
    this.open();
    this.io.stderr.write(question);
    const line = this.pending.shift();
    if (line !== undefined || this.ended) return line;
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  close(): void {
    this.reader?.close();
  }

  private open(): void {
    if (this.reader) return;
    this.reader = createInterface({ input: this.io.stdin, terminal: false });
    this.reader.on('line', (line) => this.deliver(line));
    this.reader.on('close', () => {
      this.ended = true;
      this.deliver(undefined);
    });
  }

  private deliver(line: string | undefined): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting) waiting(line);
    else if (line !== undefined) this.pending.push(line);
  }
}

export interface WriteFlags {
  readonly yes: boolean;
  readonly dryRun: boolean;
  readonly reason: string | undefined;
}

export interface WritePlan {
  /** The yes/no question, e.g. `Re-arm job … ?` */
  readonly question: string;
  /** What would be done, as JSON: printed instead of the result on a dry run. */
  readonly summary: Readonly<Record<string, unknown>>;
  /** Whether the write keeps a reason in the job's history (asked for when not given). */
  readonly needsReason: boolean;
}

export type Authorization = { readonly reason: string } | undefined;

const MAX_REASON = 500;

/**
 * The gate in front of every write, after its plan was shown. A dry run stops here
 * (answers undefined). Without `--yes`, only a person at a terminal can say yes: when
 * stdin is not a terminal, nothing is done and the command exits 1 saying so.
 */
export async function authorize(
  prompter: Prompter,
  out: Output,
  flags: WriteFlags,
  plan: WritePlan,
): Promise<Authorization> {
  if (flags.dryRun) {
    out.result({ dry_run: true, ...plan.summary }, () => 'Dry run: nothing was done.');
    return undefined;
  }
  if (!flags.yes && !prompter.interactive) {
    throw new RefusedError(
      'not confirmed: stdin is not a terminal and --yes was not given; nothing was done',
      ['Review the plan above, then run the same command with --yes.'],
    );
  }
  let reason = flags.reason?.trim();
  if (plan.needsReason && !reason) {
    if (!prompter.interactive) {
      throw new UsageError('--reason is required: it is kept in the job history');
    }
    reason = (await prompter.ask("Reason (kept in the job's history): "))?.trim();
    if (!reason) throw new UsageError('a reason is required: it is kept in the job history');
  }
  if (reason && reason.length > MAX_REASON) {
    throw new UsageError(`--reason is longer than ${MAX_REASON} characters`);
  }
  if (!flags.yes) {
    const answer = (await prompter.ask(`${plan.question} [y/N] `))?.trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes') {
      throw new RefusedError('not confirmed; nothing was done');
    }
  }
  return { reason: reason ?? '' };
}
