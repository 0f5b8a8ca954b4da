import { describe, expect, it } from 'vitest';
import { consoleLog } from '../../local/console-log.js';

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
