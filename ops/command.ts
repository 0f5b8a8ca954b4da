import type { Actor } from '../functions/core/job.js';
import type { OpsCollaborators } from './collaborators.js';
import type { OpsIo, Output } from './io.js';
import type { CommandArgs, OptionName } from './options.js';
import type { Authorization, WritePlan } from './prompt.js';
import type { OpsTarget } from './target.js';

/** What every command receives: its output, its target (opened on first use), and the write gate. */
export interface CommandContext {
  readonly io: OpsIo;
  readonly out: Output;
  readonly collaborators: OpsCollaborators;
  now(): Date;
  target(): Promise<OpsTarget>;
  /** Shows nothing itself: call after printing the plan. Undefined on a dry run. */
  authorize(plan: WritePlan): Promise<Authorization>;
  /** `operator:<identity>`: how the job history names whoever runs the command. */
  actor(): Promise<Actor>;
}

export interface Command {
  readonly name: string;
  /** `rearm JOB [--reason TEXT]` */
  readonly synopsis: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The rest of `ops <command> --help`. */
  readonly help: string;
  /** Options beyond the global ones. */
  readonly options: readonly OptionName[];
  run(context: CommandContext, args: CommandArgs): Promise<void>;
}
