import * as z from 'zod';
import type { SqlExecutor } from './executor.js';
import { defineStatement, runStatementForOne } from './statement.js';

/**
 * Operator requests for a job (comped or manual tenants), by idempotency key: the same
 * key always names the same synthetic session, hence the same job.
 */

const claimRequestStatement = defineStatement({
  name: 'claim operator request',
  sql: `
INSERT INTO operator_requests AS r (idempotency_key, request_hash, stripe_session_id, actor, created_at)
VALUES (:idempotencyKey, :requestHash, :sessionId, :actor, :now)
-- A no-op update, not DO NOTHING: it waits for a concurrent claim of the same key and
-- returns that committed row, which a plain SELECT in this statement's snapshot would miss.
ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = r.idempotency_key
RETURNING r.request_hash, r.stripe_session_id, r.actor, r.stripe_session_id = :sessionId AS created`,
  params: {
    idempotencyKey: 'text',
    requestHash: 'text',
    sessionId: 'text',
    actor: 'text',
    now: 'timestamp',
  },
  row: z.object({
    request_hash: z.string(),
    stripe_session_id: z.string(),
    actor: z.string(),
    created: z.boolean(),
  }),
  replay: 'safe',
});

export interface OperatorRequestClaim {
  /** The hash of the body first sent with this key: another body is a conflict. */
  readonly requestHash: string;
  readonly stripeSessionId: string;
  /** Who first sent the key. */
  readonly actor: string;
  /** False when the key was claimed before (a replay): `stripeSessionId` is the first one. */
  readonly created: boolean;
}

/**
 * Claims an idempotency key for a request, proposing `stripeSessionId` for it; a key
 * claimed before (or concurrently) answers the session and body hash it was first
 * claimed with. One statement, safe when identical requests race.
 */
export async function claimOperatorRequest(
  db: SqlExecutor,
  request: {
    readonly idempotencyKey: string;
    readonly requestHash: string;
    readonly stripeSessionId: string;
    readonly actor: string;
  },
  now: Date,
): Promise<OperatorRequestClaim> {
  const row = await runStatementForOne(db, claimRequestStatement, {
    idempotencyKey: request.idempotencyKey,
    requestHash: request.requestHash,
    sessionId: request.stripeSessionId,
    actor: request.actor,
    now,
  });
  return {
    requestHash: row.request_hash,
    stripeSessionId: row.stripe_session_id,
    actor: row.actor,
    created: row.created,
  };
}
