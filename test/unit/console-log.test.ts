import { PassThrough } from 'node:stream';
import { WriteStream } from 'node:tty';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { consoleLog } from '../../local/console-log.js';

/** A stream that reports what a colour terminal reports, judged by the environment. */
function colourTerminal() {
  return Object.assign(new PassThrough(), {
    isTTY: true,
    getColorDepth: WriteStream.prototype.getColorDepth,
  });
}

afterEach(() => {
  vi.unstubAllEnvs();
});

function capture(format: 'pretty' | 'json') {
  const lines: string[] = [];
  return { log: consoleLog(format, (line) => lines.push(line)), lines };
}

describe('the local runtime log', () => {
  it('writes one JSON object per line when piped, with the level, message and fields', () => {
    const { log, lines } = capture('json');

    log.warn('callback refused', { stripeSessionId: 'cs_1', reason: 'bad signature' });

    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({
      level: 'WARN',
      message: 'callback refused',
      stripeSessionId: 'cs_1',
      reason: 'bad signature',
      timestamp: expect.any(String),
    });
  });

  it('writes one readable line in a terminal: time, level, message, then key=value fields', () => {
    const { log, lines } = capture('pretty');

    log.info('checkout recorded', { jobId: 'j-1', attempt: 1 });

    const ansiColour = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
    const plain = (lines[0] ?? '').replace(ansiColour, '');
    expect(plain).toMatch(/^\d{2}:\d{2}:\d{2} INFO {2}checkout recorded jobId=j-1 attempt=1$/);
  });

  it('keeps an error as its message, never a raw object dump', () => {
    const { log, lines } = capture('json');

    log.error('shutdown failed', new Error('pool closed'));

    expect(JSON.parse(lines[0] ?? '')).toMatchObject({
      message: 'shutdown failed',
      error: 'pool closed',
    });
  });
});

describe('colours in the local runtime log', () => {
  const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`);
  const lineIn = (stream: NodeJS.WritableStream) => {
    const lines: string[] = [];
    consoleLog('pretty', (line) => lines.push(line), stream).warn('breaker opened', { jobs: 3 });
    return lines[0] ?? '';
  };

  it('colour the level in a colour terminal', () => {
    // Node judges colour depth by the environment: a CI runner (CI=…) counts as monochrome.
    vi.stubEnv('CI', undefined);
    vi.stubEnv('FORCE_COLOR', undefined);
    vi.stubEnv('NO_COLOR', undefined);
    vi.stubEnv('NODE_DISABLE_COLORS', undefined);
    vi.stubEnv('TERM', 'xterm-256color');

    expect(lineIn(colourTerminal())).toMatch(ANSI);
  });

  it('are left out under NO_COLOR, and when the output is not a terminal', () => {
    vi.stubEnv('FORCE_COLOR', undefined);
    vi.stubEnv('TERM', 'xterm-256color');
    const piped = lineIn(new PassThrough());
    vi.stubEnv('NO_COLOR', '1');
    const noColor = lineIn(colourTerminal());

    expect(piped).not.toMatch(ANSI);
    expect(noColor).not.toMatch(ANSI);
    expect(noColor).toMatch(/WARN {2}breaker opened jobs=3$/);
  });
});
