import { styleText } from 'node:util';
import type { Log } from '../functions/services/dependencies.js';

type Level = 'debug' | 'info' | 'warn' | 'error';
const COLORS = { debug: 'gray', info: 'cyan', warn: 'yellow', error: 'red' } as const;

/**
 * The local runtime's log: one readable line per entry in a terminal, JSON lines
 * otherwise (when piped, or with LOG_FORMAT=json), on stdout. Colours come from
 * node:util's styleText, which leaves them out where `stream` cannot show them and
 * under NO_COLOR (or NODE_DISABLE_COLORS, TERM=dumb); FORCE_COLOR forces them.
 */
export function consoleLog(
  format: 'pretty' | 'json',
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  stream: NodeJS.WritableStream = process.stdout,
): Log {
  const style = (color: (typeof COLORS)[Level], text: string) => styleText(color, text, { stream });
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
        `${time} ${style(COLORS[level], level.toUpperCase().padEnd(5))} ${text}${pairs ? ` ${style('gray', pairs)}` : ''}`,
      );
    };
  return { debug: entry('debug'), info: entry('info'), warn: entry('warn'), error: entry('error') };
}
