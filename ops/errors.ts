/**
 * What an operator command's exit code means. A script can tell "refused, nothing
 * written" from "fix the command line" from "something between here and the system
 * is broken", and act on each differently.
 */
export const EXIT = {
  /** Done, or nothing needed doing. */
  ok: 0,
  /** Refused, not found, or not confirmed: nothing was written. */
  refused: 1,
  /** The command line is wrong: fix it and run again. */
  usage: 2,
  /** A transport or configuration failure: database, AWS, HTTP, a missing secret or output. */
  transport: 3,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error whose message is for the operator, with the exit code it ends the command with. */
export abstract class OpsError extends Error {
  abstract readonly exitCode: ExitCode;
  /** Lines that say what to do next (a runbook section, another command). */
  readonly hints: readonly string[];

  constructor(message: string, hints: readonly string[] = []) {
    super(message);
    this.hints = hints;
  }
}

export class UsageError extends OpsError {
  override readonly name = 'UsageError';
  readonly exitCode = EXIT.usage;
}

/** Refused, not found, or not confirmed: the command wrote nothing. */
export class RefusedError extends OpsError {
  override readonly name = 'RefusedError';
  readonly exitCode = EXIT.refused;
}

export class TransportError extends OpsError {
  override readonly name = 'TransportError';
  readonly exitCode = EXIT.transport;
}
