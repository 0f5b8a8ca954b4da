import type { Log } from '../functions/services/dependencies.js';

type Level = 'debug' | 'info' | 'warn' | 'error';
const COLORS: Record<Level, string> = {
  debug: '\x1b[90m',
  info: '\x1b[36m',
  warn: '\x1b[33m',
  error: '\x1b[31m',
};
const RESET = '\x1b[0m';

/**
 * The local runtime's log: one readable line per entry in a terminal, JSON lines
 * otherwise (when piped, or with LOG_FORMAT=json), on stdout.
 */
export function consoleLog(
  format: 'pretty' | 'json',
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Log {
  const entry =
    (level: Level) =>
    (...[message, ...extra]: Parameters<Log['info']>): void => {
      const fields = Object.assign(
        {},
        ...extra.map((item) =>
          item instanceof Error
            ? { error: item.message }
            : typeof item === 'string'
              ? { detail: item }
              : item,
        ),
      );
      const text = typeof message === 'string' ? message : JSON.stringify(message);
      if (format === 'json') {
        write(
          JSON.stringify({
            level: level.toUpperCase(),
            message: text,
            timestamp: new Date().toISOString(),
            ...fields,
          }),
        );
        return;
      }
      const time = new Date().toISOString().slice(11, 19);
      const pairs = Object.entries(fields)
        .map(
          ([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`,
        )
        .join(' ');
      write(
        `${time} ${COLORS[level]}${level.toUpperCase().padEnd(5)}${RESET} ${text}${pairs ? ` \x1b[90m${pairs}${RESET}` : ''}`,
      );
    };
  return { debug: entry('debug'), info: entry('info'), warn: entry('warn'), error: entry('error') };
}
