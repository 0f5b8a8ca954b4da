import { callbackSigningSecret, type SecretSource } from '../functions/adapters/secrets.js';
import { hmacHex, signedContent } from '../functions/core/signatures.js';
import type { CommandContext } from './command.js';
import { TransportError } from './errors.js';
import { messageOf, type OpsTarget } from './target.js';

/**
 * The orchestrator's side of the callback contract (SPEC 2.2), for replays and checks:
 * the body signed as the orchestrator signs it and POSTed to the real route.
 */

export interface RouteAnswer {
  readonly status: number;
  /** The `error` of a JSON error body. */
  readonly error: string | undefined;
  readonly text: string;
  /** Which secret signed it, for messages (never its value). */
  readonly signedWith: string;
}

/** Signs `body` with the callback secret (or the trigger secret while none is set) and POSTs it. */
export async function postSignedCallback(
  context: CommandContext,
  target: OpsTarget,
  url: string,
  body: string,
): Promise<RouteAnswer> {
  const signer = await signingSecret(target.secrets);
  const timestamp = String(Math.floor(context.now().getTime() / 1000));
  let response: Response;
  try {
    response = await context.collaborators.fetch(url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-Provisioning-Timestamp': timestamp,
        'X-Provisioning-Signature': hmacHex(signer.secret, signedContent(body, timestamp)),
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    throw new TransportError(`could not reach the callback route ${url}: ${messageOf(error)}`, [
      target.kind === 'local'
        ? 'Is the local runtime running (npm start)? Or pass --callback-url.'
        : 'Check the network path to the API (CallbackUrl output).',
    ]);
  }
  const text = await response.text();
  return { status: response.status, error: errorOf(text), text, signedWith: signer.name };
}

/** The 401 in the operator's words: which secret this side used, and what the route expects. */
export function wrongSignatureSecret(answer: RouteAnswer, target: OpsTarget): TransportError {
  if (answer.error?.includes('X-Provisioning-Timestamp')) {
    return new TransportError(
      `the callback route refused the timestamp: this machine's clock is off (401: ${answer.error})`,
      ['Synchronise the clock (NTP) and run the command again.'],
    );
  }
  return new TransportError(
    `wrong signature secret: the callback route refused the signature (401: ${answer.error ?? 'unauthorized'})`,
    [
      `This command signed with the ${answer.signedWith} of the ${target.description}.`,
      'The route verifies with the callback secret, or with the trigger secret while no callback secret is set: both sides must hold the same value (docs/runbooks/callback-signature-failures.md).',
    ],
  );
}

/** The 503: the route has neither secret to verify with. */
export function routeNotConfigured(answer: RouteAnswer): TransportError {
  return new TransportError(
    `the callback route has no secret to verify with (503: ${answer.error ?? 'not configured'})`,
    ['Fill the callback secret (or the trigger secret) the route reads.'],
  );
}

async function signingSecret(
  secrets: SecretSource,
): Promise<{ readonly secret: string; readonly name: string }> {
  const signer = await callbackSigningSecret(secrets);
  if (signer?.name === 'callbackSecret') return { secret: signer.secret, name: 'callback secret' };
  if (signer) return { secret: signer.secret, name: 'trigger secret (no callback secret is set)' };
  throw new TransportError(
    'neither the callback secret nor the trigger secret is set: cannot sign',
    [
      'Locally: PROVISIONING_CALLBACK_SECRET or PROVISIONING_TRIGGER_SECRET. On a stack: the CallbackSecretArn secret.',
    ],
  );
}

function errorOf(text: string): string | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && 'error' in value) {
      const error = (value as { error: unknown }).error;
      return typeof error === 'string' ? error : undefined;
    }
  } catch {
    // not JSON: callers show the text
  }
  return undefined;
}
