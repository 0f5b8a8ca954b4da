import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCallbackBody } from '../../functions/core/callback-body.js';

function parse(body: unknown) {
  return parseCallbackBody(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));
}

const PROVISIONED = {
  stripe_session_id: 'cs_test_a1B2c3',
  status: 'provisioned',
  deployment_id: 'dpl_7Qk2mX',
  cell_id: 'cell-eu-1',
  tokens_quota: 1_100_000,
};

describe('the callback body', () => {
  it('maps a provisioned report onto the job report, and its database report', () => {
    const parsed = parse({ ...PROVISIONED, database: { id: 'db_orgA', status: 'ready' } });

    expect(parsed).toEqual({
      ok: true,
      report: {
        stripeSessionId: 'cs_test_a1B2c3',
        status: 'provisioned',
        deploymentId: 'dpl_7Qk2mX',
        cellId: 'cell-eu-1',
        tokensQuota: 1_100_000,
        phase: undefined,
        error: undefined,
      },
      database: { id: 'db_orgA', status: 'ready' },
    });
  });

  it('reads null and empty free text as absent, and ignores fields it does not know', () => {
    const parsed = parse({
      stripe_session_id: 'cs_test_a1B2c3',
      status: 'failed',
      deployment_id: null,
      phase: '',
      error: '',
      database: null,
      retry_after: 30,
    });

    expect(parsed).toMatchObject({
      ok: true,
      report: { status: 'failed', deploymentId: undefined, phase: undefined, error: undefined },
      database: undefined,
    });
  });

  it('accepts the synthetic session of an operator-created job', () => {
    const sessionId = `op_${'0123456789abcdef'.repeat(2)}`;

    expect(parse({ stripe_session_id: sessionId, status: 'provisioning' })).toMatchObject({
      ok: true,
      report: { stripeSessionId: sessionId },
    });
  });

  it('keeps the first 1000 characters of a long orchestrator error rather than refusing it', () => {
    const parsed = parse({
      stripe_session_id: 'cs_test_1',
      status: 'failed',
      error: 'e'.repeat(5000),
    });

    expect(parsed.ok && parsed.report.error?.length).toBe(1000);
  });

  it.each([
    ['deployment_id', { deployment_id: undefined }],
    ['cell_id', { cell_id: undefined }],
    ['deployment_id', { deployment_id: null }],
  ])('requires %s when status is provisioned', (field, change) => {
    expect(parse({ ...PROVISIONED, ...change })).toEqual({
      ok: false,
      reason: `${field}: required when status is provisioned`,
      stripeSessionId: 'cs_test_a1B2c3',
    });
  });

  it.each([
    ['stripe_session_id', { stripe_session_id: 'pi_123' }],
    ['stripe_session_id', { stripe_session_id: 'op_not-hex' }],
    ['stripe_session_id', { stripe_session_id: 42 }],
    ['status', { status: 'PROVISIONED' }],
    ['deployment_id', { deployment_id: 'dep_1' }],
    ['deployment_id', { deployment_id: '' }],
    ['cell_id', { cell_id: 'cell eu' }],
    ['tokens_quota', { tokens_quota: '1100000' }],
    ['tokens_quota', { tokens_quota: -5 }],
    ['tokens_quota', { tokens_quota: 2 ** 60 }],
    ['phase', { phase: 'p'.repeat(201) }],
    ['database.id', { database: { id: '', status: 'ready' } }],
    ['database.status', { database: { id: 'db_1', status: 'READY' } }],
  ])('names %s when it is wrong', (field, change) => {
    const parsed = parse({ ...PROVISIONED, ...change });

    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.reason.startsWith(`${field}: `)).toBe(true);
  });

  it.each([
    ['not JSON', '{"status":', 'body: not valid JSON'],
    ['empty', '', 'body: not valid JSON'],
    ['a string', '"provisioned"', 'body: Invalid input: expected object, received string'],
  ])('refuses a body that is %s', (_case, body, reason) => {
    expect(parse(body)).toEqual({ ok: false, reason, stripeSessionId: undefined });
  });

  it('refuses bytes that are not UTF-8', () => {
    const parsed = parseCallbackBody(Buffer.from([0x7b, 0xff, 0x7d]));

    expect(parsed).toEqual({
      ok: false,
      reason: 'body: not valid UTF-8',
      stripeSessionId: undefined,
    });
  });

  it('keeps the claimed session of a refused body for the trail only when it can be kept as it is', () => {
    expect(parse({ stripe_session_id: 'cs_test_claimed', status: 'done' })).toMatchObject({
      ok: false,
      stripeSessionId: 'cs_test_claimed',
    });
    for (const claimed of [`cs_${'x'.repeat(400)}`, 'cs_test\u0000nul', 42]) {
      expect(parse({ stripe_session_id: claimed, status: 'done' })).toMatchObject({
        ok: false,
        stripeSessionId: undefined,
      });
    }
  });

  it('refuses control characters in every text field, naming the field; the error may span lines', () => {
    const failed = { stripe_session_id: 'cs_test_a1B2c3', status: 'failed' };
    const refusals = [
      [{ ...failed, phase: 'cell\u0000' }, 'phase: must not contain control characters'],
      [{ ...failed, phase: 'a\nb' }, 'phase: must not contain control characters'],
      [{ ...failed, phase: 'x'.repeat(201) }, 'phase: must be at most 200 characters'],
      [{ ...failed, error: 'boom\u0000' }, 'error: must not contain control characters'],
      [{ ...failed, error: '\u001b[31mred' }, 'error: must not contain control characters'],
      [{ ...failed, error: 'x'.repeat(100_001) }, 'error: must be at most 100000 characters'],
      [{ ...failed, error: 'half \ud800 pair' }, 'error: must not contain control characters'],
    ] as const;

    for (const [body, reason] of refusals) {
      expect(parse(body), reason).toMatchObject({ ok: false, reason });
    }
    expect(
      parse({ ...failed, error: 'Error: boom\n    at saga (cell.ts:1)\r\n\tnext' }),
    ).toMatchObject({
      ok: true,
      report: { error: 'Error: boom\n    at saga (cell.ts:1)\r\n\tnext' },
    });
  });

  it('never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array(),
          fc.json().map((text) => Buffer.from(text)),
        ),
        (raw) => {
          const parsed = parseCallbackBody(raw);
          expect(typeof parsed.ok).toBe('boolean');
        },
      ),
    );
  });
});
