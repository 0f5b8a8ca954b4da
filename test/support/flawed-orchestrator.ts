import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HEADERS } from '../../contract/headers.js';
import { headerOf, verifyTrigger } from '../../contract/trigger.js';
import type { OnboardingInput } from '../../functions/core/onboarding-input.js';
import { hmacHex, signedContent } from '../../functions/core/signatures.js';
import { readBody } from '../../local/read-body.js';

/**
 * An orchestrator written with the contract kit, with one deliberate flaw, for the
 * conformance suite to catch. `none` is the correct implementation.
 */
export type Flaw =
  | 'none'
  /** Checks the signature but takes any timestamp: a captured trigger can be replayed forever. */
  | 'accepts-old-timestamps'
  /** Does not verify triggers at all. */
  | 'accepts-unsigned'
  /** Signs callbacks with a secret the product does not know. */
  | 'signs-callbacks-wrongly'
  /** Reports provisioned without the cell. */
  | 'omits-cell-id'
  /** Makes a new tenant for every accepted trigger, repeats included. */
  | 'new-tenant-per-trigger';

export interface FlawedOrchestrator {
  readonly url: string;
  stop(): Promise<void>;
}

export async function startFlawedOrchestrator(options: {
  readonly flaw: Flaw;
  readonly triggerSecret: string;
  readonly callbackSecret: string;
}): Promise<FlawedOrchestrator> {
  const { flaw, triggerSecret } = options;
  const tenants = new Map<string, string>();
  const sagas = new Set<Promise<void>>();

  const callback = async (url: string, report: Record<string, unknown>) => {
    await new Promise((resolve) => setTimeout(resolve, 10));
    const body = JSON.stringify(report);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const secret =
      flaw === 'signs-callbacks-wrongly' ? 'a-secret-of-its-own' : options.callbackSecret;
    await fetch(url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        [HEADERS.timestamp]: timestamp,
        [HEADERS.signature]: hmacHex(secret, signedContent(body, timestamp)),
      },
      body,
    }).catch(() => undefined);
  };

  const saga = async (input: OnboardingInput) => {
    const known = flaw === 'new-tenant-per-trigger' ? undefined : tenants.get(input.job_id);
    const deployment = known ?? `dpl_${randomBytes(4).toString('hex')}`;
    tenants.set(input.job_id, deployment);
    const session = { stripe_session_id: input.stripe_session_id };
    await callback(input.callback_url, { ...session, status: 'provisioning', phase: 'cell' });
    await callback(input.callback_url, {
      ...session,
      status: 'provisioned',
      deployment_id: deployment,
      ...(flaw === 'omits-cell-id' ? {} : { cell_id: 'cell-1' }),
    });
  };

  const server: Server = createServer(async (request, response) => {
    const body = await readBody(request);
    const timestamp = headerOf(request.headers, HEADERS.timestamp);
    const verification = verifyTrigger(
      { body, headers: request.headers },
      {
        secret: triggerSecret,
        // Judging the timestamp by itself accepts any age.
        ...(flaw === 'accepts-old-timestamps' && timestamp
          ? { now: new Date(Number(timestamp) * 1000) }
          : {}),
      },
    );
    const input = verification.ok
      ? verification.input
      : flaw === 'accepts-unsigned'
        ? (JSON.parse(body.toString('utf8')) as OnboardingInput)
        : undefined;
    if (!input) return void response.writeHead(verification.ok ? 500 : verification.status).end();
    response.writeHead(202).end();
    const run = saga(input).finally(() => sagas.delete(run));
    sagas.add(run);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/trigger/onboarding`,
    stop: async () => {
      await Promise.allSettled([...sagas]);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
