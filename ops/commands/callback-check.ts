import { NO_JOB_FOR_SESSION } from '../../functions/services/callback.js';
import { postSignedCallback, routeNotConfigured, wrongSignatureSecret } from '../callback-route.js';
import type { Command } from '../command.js';
import { TransportError, UsageError } from '../errors.js';
import { positionals, stringOption } from '../options.js';

/** A session no checkout ever has: the route answers 404 for it once the signature verified. */
export const PROBE_SESSION = 'cs_ops_signature_check';

export const callbackCheck: Command = {
  name: 'callback-check',
  synopsis: 'callback-check [--callback-url URL]',
  summary: 'check that the callback route accepts what this side signs (no write)',
  help: `Sends the callback route a signed "provisioning" report for a session that does not
exist (${PROBE_SESSION}), signed exactly as link signs (the callback secret, or the
trigger secret while no callback secret is set). The route checks the signature before
anything else, so a 404 ("no provisioning job") proves it verifies with the same secret,
and a 401 proves it does not. Nothing is written; the route counts one 4xx answer.
Use it after a secret rotation (docs/runbooks/secret-rotation.md).`,
  options: ['callback-url'],
  async run(context, args) {
    positionals(args, []);
    const urlOption = stringOption(args, 'callback-url');
    if (urlOption && !/^https?:\/\/\S+$/.test(urlOption)) {
      throw new UsageError('--callback-url must be an http(s) URL');
    }
    const target = await context.target();
    const url = urlOption ?? target.callbackUrl();
    const body = JSON.stringify({ stripe_session_id: PROBE_SESSION, status: 'provisioning' });
    const answer = await postSignedCallback(context, target, url, body);
    if (answer.status === 404 && answer.error === NO_JOB_FOR_SESSION) {
      context.out.result(
        { result: 'signature_accepted', url, signed_with: answer.signedWith },
        () => `The callback route at ${url} accepts signatures made with the ${answer.signedWith}.`,
      );
      return;
    }
    if (answer.status === 401) throw wrongSignatureSecret(answer, target);
    if (answer.status === 503) throw routeNotConfigured(answer);
    throw new TransportError(
      `unexpected answer from ${url}: ${answer.status} ${answer.error ?? answer.text.slice(0, 200)}`,
      ['Is this the callback route? Check --callback-url (or the CallbackUrl output).'],
    );
  },
};
