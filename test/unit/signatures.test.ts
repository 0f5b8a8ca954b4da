import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkProvisioningSignature,
  hmacHex,
  type ProvisioningSignature,
  signProvisioningBody,
} from '../../functions/core/signatures.js';

const SECRET = 'callback-secret-for-unit-tests';
const NOW = new Date('2026-11-23T10:00:00.000Z');
const NOW_SECONDS = Math.floor(NOW.getTime() / 1000);
const BODY = '{"stripe_session_id":"cs_test_1","status":"provisioned"}';

/** The reference signature, computed the way the orchestrator's docs do (openssl dgst -hmac). */
function reference(secret: string, content: string | Buffer): string {
  return createHmac('sha256', secret).update(content).digest('hex');
}

function check(overrides: Partial<ProvisioningSignature>) {
  return checkProvisioningSignature({
    rawBody: BODY,
    signature: reference(SECRET, BODY),
    timestamp: undefined,
    secrets: [SECRET],
    now: NOW,
    ...overrides,
  });
}

describe('the provisioning signature', () => {
  it('accepts the lowercase hex HMAC-SHA256 of the raw body', () => {
    expect(check({})).toBe('valid');
  });

  it('covers "<timestamp>.<body>" when a timestamp is sent', () => {
    const timestamp = String(NOW_SECONDS);

    expect(check({ timestamp, signature: reference(SECRET, `${timestamp}.${BODY}`) })).toBe(
      'valid',
    );
    expect(check({ timestamp, signature: reference(SECRET, BODY) })).toBe('mismatch');
  });

  it('accepts a timestamp up to 300 seconds away, either side, and refuses one beyond', () => {
    const at = (offset: number) => {
      const timestamp = String(NOW_SECONDS + offset);
      return check({ timestamp, signature: reference(SECRET, `${timestamp}.${BODY}`) });
    };

    expect([at(-300), at(300), at(-301), at(301)]).toEqual([
      'valid',
      'valid',
      'expired',
      'expired',
    ]);
  });

  it('honours a tolerance of its caller', () => {
    const timestamp = String(NOW_SECONDS - 61);

    expect(
      check({
        timestamp,
        signature: reference(SECRET, `${timestamp}.${BODY}`),
        toleranceSeconds: 60,
      }),
    ).toBe('expired');
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['uppercase', reference(SECRET, BODY).toUpperCase()],
    ['short', reference(SECRET, BODY).slice(0, 63)],
    ['long', `${reference(SECRET, BODY)}0`],
    ['prefixed', `sha256=${reference(SECRET, BODY)}`],
    ['not hex', 'z'.repeat(64)],
  ])('calls a %s signature malformed', (_case, signature) => {
    expect(check({ signature })).toBe('malformed');
  });

  it.each([
    ['empty', ''],
    ['milliseconds', String(NOW.getTime())],
    ['ISO 8601', NOW.toISOString()],
    ['negative', '-1'],
    ['fractional', `${NOW_SECONDS}.5`],
  ])('calls a %s timestamp malformed', (_case, timestamp) => {
    expect(check({ timestamp, signature: reference(SECRET, `${timestamp}.${BODY}`) })).toBe(
      'malformed',
    );
  });

  it('refuses another secret, and accepts any of several', () => {
    expect(check({ secrets: ['another-secret'] })).toBe('mismatch');
    expect(check({ secrets: ['another-secret', SECRET] })).toBe('valid');
    expect(check({ secrets: [] })).toBe('mismatch');
  });

  it('hashes raw bytes as received, even when they are not valid UTF-8', () => {
    const bytes = Buffer.concat([
      Buffer.from('{"x":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}'),
    ]);
    const timestamp = String(NOW_SECONDS);
    const timestamped = Buffer.concat([Buffer.from(`${timestamp}.`), bytes]);

    expect(check({ rawBody: bytes, signature: reference(SECRET, bytes) })).toBe('valid');
    expect(check({ rawBody: bytes, timestamp, signature: reference(SECRET, timestamped) })).toBe(
      'valid',
    );
    // Decoding first would replace the invalid bytes and hash something else.
    expect(check({ rawBody: bytes.toString('utf8'), signature: reference(SECRET, bytes) })).toBe(
      'mismatch',
    );
  });

  it('signs the same way for text and for its UTF-8 bytes', () => {
    const text = '{"phase":"préparé ✓"}';

    expect(hmacHex(SECRET, text)).toBe(hmacHex(SECRET, Buffer.from(text, 'utf8')));
    expect(hmacHex(SECRET, text)).toBe(reference(SECRET, Buffer.from(text, 'utf8')));
  });

  it('verifies what signProvisioningBody signs (the orchestrator checks triggers the same way)', () => {
    const { timestamp, signature } = signProvisioningBody(BODY, SECRET, NOW);

    expect(timestamp).toBe(String(NOW_SECONDS));
    expect(check({ timestamp, signature })).toBe('valid');
  });

  it('accepts every body signed with its secret, and refuses any altered byte', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 256 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (body, position, flip) => {
          const raw = Buffer.from(body);
          const signature = reference(SECRET, raw);
          const altered = Buffer.from(raw);
          const index = position % altered.length;
          altered[index] = (altered[index] ?? 0) ^ flip;
          expect(check({ rawBody: raw, signature })).toBe('valid');
          expect(check({ rawBody: altered, signature })).toBe('mismatch');
        },
      ),
    );
  });
});
