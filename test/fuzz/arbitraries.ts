import fc from 'fast-check';
import { hmacHex, signedContent } from '../../functions/core/signatures.js';

/**
 * What a hostile sender tries, field by field: the valid value most of the time (so
 * the rest of the input is reached), and otherwise control characters (NUL first),
 * lone surrogates, any code point, values just over each cap and far over them, the
 * wrong type. Then raw byte mutations of the whole body, signed and unsigned.
 */

const CONTROL = fc.constantFrom(
  '\u0000',
  '\u0001',
  '\u0008',
  '\u001b',
  '\u007f',
  '\u0085',
  '\n',
  '\t',
);
const SURROGATE = fc.constantFrom('\ud800', '\udfff', '\udbff');

/** A string made hostile: a control character or a lone surrogate somewhere in it, or made far too long. */
function corrupted(valid: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    fc.tuple(valid, fc.oneof(CONTROL, SURROGATE), fc.nat()).map(([text, bad, at]) => {
      const i = text.length ? at % (text.length + 1) : 0;
      return `${text.slice(0, i)}${bad}${text.slice(i)}`;
    }),
    fc
      .tuple(valid, fc.constantFrom(101, 201, 256, 501, 513, 1001, 100_001))
      .map(([text, length]) => (text || 'x').repeat(Math.ceil(length / Math.max(1, text.length)))),
  );
}

/**
 * How hostile an input is: every field valid (the input is reached whole), one field
 * hostile (the caps and checks of that field), or every field at random.
 */
export type Hostility =
  | { readonly kind: 'valid' }
  | { readonly kind: 'one'; readonly field: string }
  | { readonly kind: 'mixed' };

/**
 * Inputs built by `build` under every hostility, in these proportions: whole and valid
 * 3, one field hostile 5 (shared by the fields), everything at random 2. Each
 * arbitrary is built once: building them per input would cost more than the requests.
 */
export function underHostility<T>(
  fields: readonly string[],
  build: (how: Hostility) => fc.Arbitrary<T>,
): fc.Arbitrary<T> {
  const n = fields.length;
  return fc.oneof(
    { weight: 3 * n, arbitrary: build({ kind: 'valid' }) },
    ...fields.map((name) => ({ weight: 5, arbitrary: build({ kind: 'one', field: name }) })),
    { weight: 2 * n, arbitrary: build({ kind: 'mixed' }) },
  );
}

const wrongType = fc.oneof(
  fc.constant(null),
  fc.integer(),
  fc.boolean(),
  fc.constant({}),
  fc.constant([]),
);

/** Hostile values for a field: its text corrupted (when it is text), any code point, or not a string at all. */
function hostileValue(valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  const text = valid.map((value) => (typeof value === 'string' ? value : 'x'));
  return fc.oneof(
    { weight: 3, arbitrary: corrupted(text) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
    { weight: 1, arbitrary: wrongType },
  );
}

/** The arbitrary of one named field under a hostility. */
export function field(
  how: Hostility,
  name: string,
  valid: fc.Arbitrary<unknown>,
): fc.Arbitrary<unknown> {
  if (how.kind === 'valid') return valid;
  if (how.kind === 'one') return how.field === name ? hostileValue(valid) : valid;
  return fc.oneof({ weight: 3, arbitrary: valid }, { weight: 1, arbitrary: hostileValue(valid) });
}

/**
 * An object of these fields: whole unless the hostility is `mixed`, when any key may be
 * missing and a hostile extra key may come along.
 */
export function record(
  how: Hostility,
  fields: Record<string, fc.Arbitrary<unknown>>,
): fc.Arbitrary<Record<string, unknown>> {
  if (how.kind !== 'mixed') return fc.record(fields);
  return fc
    .tuple(
      fc.record(fields, { requiredKeys: [] }),
      fc.option(fc.tuple(fc.string({ unit: 'binary', maxLength: 8 }), fc.jsonValue()), { freq: 8 }),
    )
    .map(([value, extra]) => (extra ? { ...value, [extra[0]]: extra[1] } : value));
}

export const checkoutSessionIds = (pool: readonly string[]) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...pool) },
    { weight: 1, arbitrary: fc.stringMatching(/^cs_(test|live)_[A-Za-z0-9]{4,24}$/) },
  );

/** A byte mutation of a body: flipped, cut, with a NUL, an invalid UTF-8 sequence or a BOM. */
export const mutation: fc.Arbitrary<(body: Buffer) => Buffer> = fc.oneof(
  { weight: 9, arbitrary: fc.constant((body: Buffer) => body) },
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => (body: Buffer) => {
    const copy = Buffer.from(body);
    if (copy.length) copy[at % copy.length] = byte;
    return copy;
  }),
  fc.nat().map((at) => (body: Buffer) => body.subarray(0, body.length ? at % body.length : 0)),
  fc
    .tuple(
      fc.nat(),
      fc.constantFrom(
        Buffer.from([0x00]),
        Buffer.from([0xff, 0xfe]),
        Buffer.from([0xc3]),
        Buffer.from([0xed, 0xa0, 0x80]),
        Buffer.from([0xef, 0xbb, 0xbf]),
        Buffer.from('\\u0000'),
      ),
    )
    .map(([at, bytes]) => (body: Buffer) => {
      const i = body.length ? at % body.length : 0;
      return Buffer.concat([body.subarray(0, i), bytes, body.subarray(i)]);
    }),
);

/** How a body is signed, or not: as the genuine sender would, and every way it should not be. */
export type Signing =
  | { readonly kind: 'genuine' }
  | { readonly kind: 'skewed'; readonly seconds: number }
  | { readonly kind: 'other-secret' }
  | { readonly kind: 'none' }
  | { readonly kind: 'garbage'; readonly header: string }
  | { readonly kind: 'before-mutation' };

export const signing: fc.Arbitrary<Signing> = fc.oneof(
  { weight: 15, arbitrary: fc.constant({ kind: 'genuine' as const }) },
  fc
    .constantFrom(-10 * 365 * 86_400, -301, 301, 86_400, 10 * 365 * 86_400)
    .map((seconds) => ({ kind: 'skewed' as const, seconds })),
  fc.constant({ kind: 'other-secret' as const }),
  fc.constant({ kind: 'none' as const }),
  fc
    .oneof(
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.constantFrom(
        't=1,v1=',
        'v1=',
        't=,v1=0',
        `t=1,v1=${'0'.repeat(64)}`,
        'sha256=deadbeef',
        '',
      ),
    )
    .map((header) => ({ kind: 'garbage' as const, header })),
  fc.constant({ kind: 'before-mutation' as const }),
);

/** A signature as a drawn `Signing` makes it; each route formats its own header from it. */
export type DrawnSignature =
  | { readonly kind: 'signed'; readonly timestamp: number | undefined; readonly signature: string }
  | Extract<Signing, { kind: 'none' | 'garbage' }>;

/**
 * Signs the body sent (or the one before mutation) with the route's secret (or another)
 * at `now` (or skewed), over `"<timestamp>.<body>"`, or over the body alone when untimed.
 */
export function drawnSignature(
  how: Signing,
  delivery: { secret: string; now: Date; original: Buffer; sent: Buffer; timed: boolean },
): DrawnSignature {
  const now = Math.floor(delivery.now.getTime() / 1000);
  const at = delivery.timed ? now : undefined;
  const sign = (secret: string, timestamp: number | undefined, body: Buffer) => ({
    kind: 'signed' as const,
    timestamp,
    signature: hmacHex(secret, signedContent(body, timestamp?.toString())),
  });
  switch (how.kind) {
    case 'genuine':
      return sign(delivery.secret, at, delivery.sent);
    case 'skewed':
      return sign(delivery.secret, now + how.seconds, delivery.sent);
    case 'other-secret':
      return sign('someone-else', at, delivery.sent);
    case 'none':
    case 'garbage':
      return how;
    case 'before-mutation':
      return sign(delivery.secret, at, delivery.original);
  }
}
