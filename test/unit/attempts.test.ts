import { describe, expect, it } from 'vitest';
import {
  isCredentialRefusal,
  outcomeClass,
  parseRetryAfter,
  type TriggerResult,
} from '../../functions/core/attempts.js';

describe('the outcome class of a trigger', () => {
  it.each<[TriggerResult, string]>([
    [{ outcome: 'accepted', httpStatus: 202 }, 'accepted'],
    [{ outcome: 'timeout' }, 'transient'],
    [{ outcome: 'fetch_error' }, 'transient'],
    [{ outcome: 'http_5xx', httpStatus: 503 }, 'transient'],
    [{ outcome: 'http_4xx', httpStatus: 408 }, 'transient'],
    [{ outcome: 'http_4xx', httpStatus: 429, retryAfterSeconds: 30 }, 'transient'],
    [{ outcome: 'http_4xx', httpStatus: 422 }, 'permanent'],
    [{ outcome: 'http_4xx', httpStatus: 401 }, 'permanent'],
    [{ outcome: 'http_4xx', httpStatus: 307 }, 'permanent'],
    [{ outcome: 'trigger_not_configured' }, 'permanent'],
  ])('%j is %s', (result, expected) => {
    expect(outcomeClass(result)).toBe(expected);
  });

  it('says a 401 or 403 means the trigger secret or URL is wrong, and nothing else does', () => {
    expect(
      [401, 403, 404, 422].map((httpStatus) =>
        isCredentialRefusal({ outcome: 'http_4xx', httpStatus }),
      ),
    ).toEqual([true, true, false, false]);
  });
});

describe('Retry-After', () => {
  const now = new Date('2026-11-23T10:00:00.000Z');

  it.each([
    ['120', 120],
    [' 0 ', 0],
    ['Mon, 23 Nov 2026 10:05:00 GMT', 300],
    ['Mon, 23 Nov 2026 09:55:00 GMT', undefined],
    ['-5', undefined],
    ['1.5', undefined],
    ['2026-11-23', undefined],
    ['', undefined],
    [null, undefined],
  ])('%j reads as %s seconds', (header, seconds) => {
    expect(parseRetryAfter(header, now)).toBe(seconds);
  });
});
