import type { ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.js';

/** Every option the CLI knows; each command accepts the global ones and those it declares. */
export const OPTIONS = {
  // global
  stack: { type: 'string' },
  region: { type: 'string' },
  json: { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  'dry-run': { type: 'boolean' },
  reason: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  // per command
  limit: { type: 'string' },
  max: { type: 'string' },
  deployment: { type: 'string' },
  cell: { type: 'string' },
  quota: { type: 'string' },
  tier: { type: 'string' },
  direct: { type: 'boolean' },
  'callback-url': { type: 'string' },
  'trigger-url': { type: 'string' },
  'max-seconds': { type: 'string' },
  capped: { type: 'boolean' },
  parked: { type: 'boolean' },
  error: { type: 'string' },
  since: { type: 'string' },
  source: { type: 'string' },
  rate: { type: 'string' },
  'after-pause': { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

export type OptionName = keyof typeof OPTIONS;

export const GLOBAL_OPTIONS: readonly OptionName[] = [
  'stack',
  'region',
  'json',
  'yes',
  'dry-run',
  'reason',
  'help',
];

export type OptionValues = { readonly [K in OptionName]?: string | boolean };

export interface CommandArgs {
  readonly positionals: readonly string[];
  readonly options: OptionValues;
}

export function stringOption(args: CommandArgs, name: OptionName): string | undefined {
  const value = args.options[name];
  return typeof value === 'string' ? value : undefined;
}

export function requiredOption(args: CommandArgs, name: OptionName): string {
  const value = stringOption(args, name)?.trim();
  if (!value) throw new UsageError(`--${name} is required`);
  return value;
}

export function flag(args: CommandArgs, name: OptionName): boolean {
  return args.options[name] === true;
}

/** An integer option within bounds; absent gives the fallback. */
export function intOption(
  args: CommandArgs,
  name: OptionName,
  bounds: { min: number; max: number },
  fallback: number,
): number;
export function intOption(
  args: CommandArgs,
  name: OptionName,
  bounds: { min: number; max: number },
): number | undefined;
export function intOption(
  args: CommandArgs,
  name: OptionName,
  bounds: { min: number; max: number },
  fallback?: number,
): number | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`--${name} must be a whole number`);
  const value = Number(text.trim());
  if (value < bounds.min || value > bounds.max) {
    throw new UsageError(`--${name} must be between ${bounds.min} and ${bounds.max}`);
  }
  return value;
}

/** Exactly the positional arguments a command takes, named for the message. */
export function positionals(args: CommandArgs, names: readonly string[]): string[] {
  if (args.positionals.length < names.length) {
    throw new UsageError(`missing ${names.slice(args.positionals.length).join(' ')}`);
  }
  if (args.positionals.length > names.length) {
    throw new UsageError(`unexpected argument ${args.positionals[names.length]}`);
  }
  return [...args.positionals];
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** A look-back like `90s`, `30m`, `2h`, `3d` as seconds; absent gives undefined. */
export function durationOption(args: CommandArgs, name: OptionName): number | undefined {
  const text = stringOption(args, name)?.trim();
  if (text === undefined) return undefined;
  const match = /^(\d{1,6})([smhd])$/.exec(text);
  const unit = match?.[2];
  if (!match || unit === undefined) {
    throw new UsageError(`--${name} must be a duration such as 90s, 30m, 2h or 3d`);
  }
  return Number(match[1]) * (UNIT_SECONDS[unit] ?? 1);
}
