import type { OpsWritable } from './io.js';

export interface Progress {
  advance(by?: number): void;
  finish(): void;
}

const WIDTH = 30;

/**
 * A one-line progress bar for bulk work, redrawn in place on stderr. It draws only on a
 * terminal: piped or captured output gets no control characters.
 */
export function progressBar(stream: OpsWritable, label: string, total: number): Progress {
  if (!stream.isTTY) return { advance: () => {}, finish: () => {} };
  let done = 0;
  const draw = () => {
    const known = total > 0;
    const filled = known ? Math.min(WIDTH, Math.round((done / total) * WIDTH)) : 0;
    const bar = known ? `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ` : '';
    stream.write(`\r${label} ${bar}${done}${known ? `/${total}` : ''}`);
  };
  draw();
  return {
    advance(by = 1) {
      done += by;
      draw();
    },
    finish() {
      stream.write('\n');
    },
  };
}
