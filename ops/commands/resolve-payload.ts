import { CHECKOUT_SESSION_ID } from '../../functions/core/session-id.js';
import { stripeKeyMode } from '../../functions/core/stripe-api-key.js';
import {
  findJob,
  findPackage,
  storeResolvedPayload,
} from '../../functions/db/operator-repository.js';
import type { CheckoutSessionFacts } from '../collaborators.js';
import type { Command, CommandContext } from '../command.js';
import { RefusedError, TransportError, UsageError } from '../errors.js';
import { positionals } from '../options.js';
import { keyValues, show } from '../render.js';
import { messageOf, type OpsTarget } from '../target.js';
import { NO_JOB_HINTS } from './show.js';

export const resolvePayload: Command = {
  name: 'resolve-payload',
  synopsis: 'resolve-payload SESSION [--reason TEXT]',
  summary: 'recover the package of a job recorded without payload from Stripe (runbook 6b)',
  help: `For a job recorded with no trigger payload (unknown package, or a legacy row): reads
the checkout session from Stripe with the Stripe API key (STRIPE_API_KEY locally, the
stack's StripeApiKeySecretArn secret), takes its metadata.package_slug, looks the quota
up in the catalogue, shows the payload it would store, and stores it only once you
confirm. Nothing is guessed: a session without package_slug, a package the catalogue
does not sell (add it first: ops packages set), a job that has a payload by now or is
provisioned are refused. The next reconcile hands the job off.
The reason and your identity are kept in the job's history.`,
  options: [],
  async run(context, args) {
    const [session = ''] = positionals(args, ['SESSION']);
    if (!CHECKOUT_SESSION_ID.test(session)) {
      throw new UsageError(
        `${session} is not a Stripe checkout session id (cs_…): only checkouts can be resolved from Stripe`,
      );
    }
    const target = await context.target();
    const job = await findJob(target.db, session);
    if (!job) {
      throw new RefusedError(`no provisioning job for stripe_session_id ${session}`, NO_JOB_HINTS);
    }
    if (job.status === 'provisioned') {
      throw new RefusedError(`job ${job.id} is provisioned: its payload is no longer needed`);
    }
    if (job.trigger_payload !== null) {
      throw new RefusedError(`job ${job.id} has a payload already: nothing to resolve`, [
        `Inspect it: ops show ${session}`,
      ]);
    }

    const checkout = await retrieveCheckout(context, target, session);
    if (checkout.payment_status === 'unpaid') {
      throw new RefusedError(`Stripe says checkout ${session} is unpaid: it should have no job`, [
        'Escalate (provisioning-stuck.md, section 7).',
      ]);
    }
    const slug = checkout.metadata?.package_slug?.trim();
    if (!slug) {
      throw new RefusedError(
        `checkout ${session} has no metadata.package_slug: the package cannot be recovered without guessing`,
        ['Escalate (provisioning-stuck.md, section 7): billing must say what was sold.'],
      );
    }
    if (job.package_slug && job.package_slug !== slug) {
      throw new RefusedError(
        `the job recorded package ${job.package_slug} but Stripe says ${slug}: not resolved`,
        ['Escalate (provisioning-stuck.md, section 7).'],
      );
    }
    const pkg = await findPackage(target.db, slug);
    if (!pkg) {
      throw new RefusedError(`package ${slug} is not in the catalogue: not resolved`, [
        `If it is a package you sell, add it first: ops packages set ${slug} --tier TIER --quota N`,
      ]);
    }
    const email = checkout.customer_details?.email ?? checkout.customer_email ?? null;
    const callbackUrl = target.callbackUrl();
    const rules = target.rules();

    context.out.plan(
      keyValues([
        ['target', target.description],
        ['job', job.id],
        ['session', session],
        ['stripe payment', checkout.payment_status],
        ['package', `${pkg.slug} (tier ${pkg.tier})`],
        ['tokens quota', String(pkg.tokensQuota)],
        ['customer email', `${show(email)} (used only if the account has none)`],
        ['callback url', callbackUrl],
      ]),
    );
    if (job.attempts >= rules.maxAttempts) {
      context.out.warn(
        `the job is at the attempt cap (${job.attempts}): after this, re-arm it too (ops rearm ${job.id}).`,
      );
    }
    const authorization = await context.authorize({
      question: `Store this payload on job ${job.id}?`,
      summary: {
        action: 'resolve-payload',
        job_id: job.id,
        stripe_session_id: session,
        package_slug: pkg.slug,
        tokens_quota: pkg.tokensQuota,
      },
      needsReason: true,
    });
    if (!authorization) return;
    const result = await storeResolvedPayload(
      target.db,
      {
        stripeSessionId: session,
        packageSlug: pkg.slug,
        customerEmail: email,
        callbackUrl,
        source: 'stripe_checkout_session',
        actor: await context.actor(),
        reason: authorization.reason,
      },
      context.now(),
    );
    switch (result.kind) {
      case 'not_found':
        throw new RefusedError(
          `no provisioning job for stripe_session_id ${session}`,
          NO_JOB_HINTS,
        );
      case 'refused_provisioned':
        throw new RefusedError(`job ${job.id} became provisioned meanwhile: nothing stored`);
      case 'refused_payload_present':
        throw new RefusedError(`job ${job.id} got a payload meanwhile: nothing stored`);
      case 'refused_unknown_package':
        throw new RefusedError(`package ${slug} left the catalogue meanwhile: nothing stored`);
      case 'stored':
        context.out.result(
          {
            result: 'stored',
            job_id: job.id,
            stripe_session_id: session,
            trigger_payload: result.triggerPayload,
          },
          () =>
            `Stored the payload of job ${job.id} (${pkg.slug}, ${pkg.tokensQuota} tokens). ` +
            `The next reconcile hands it off: ops reconcile${target.stack ? ` --stack ${target.stack.name}` : ''}.`,
        );
    }
  },
};

async function retrieveCheckout(
  context: CommandContext,
  target: OpsTarget,
  session: string,
): Promise<CheckoutSessionFacts> {
  const apiKey = await target.secrets.get('stripeApiKey');
  if (!apiKey) {
    throw new TransportError('no Stripe API key is configured', [
      target.kind === 'local'
        ? 'Set STRIPE_API_KEY (a restricted key that can read Checkout Sessions).'
        : 'Fill the StripeApiKeySecretArn secret of the stack with a restricted key that can read Checkout Sessions.',
    ]);
  }
  // The stack creates the secret with a random placeholder until someone fills it.
  if (!stripeKeyMode(apiKey)) {
    throw new TransportError('the Stripe API key secret holds no Stripe key (sk_… or rk_…)', [
      'Fill it with a restricted key that can read Checkout Sessions (docs/runbooks/secret-rotation.md).',
    ]);
  }
  try {
    return await context.collaborators
      .checkoutSessions(apiKey, target.stripeApiUrl)
      .retrieve(session);
  } catch (error) {
    const stripe = error as { type?: unknown; code?: unknown };
    if (stripe.code === 'resource_missing') {
      throw new RefusedError(`Stripe has no checkout session ${session}`, [
        'A test-mode key cannot read live sessions (and the reverse): check the key.',
      ]);
    }
    const what =
      stripe.type === 'StripeAuthenticationError' || stripe.type === 'StripePermissionError'
        ? 'Stripe refused the API key'
        : 'Stripe could not be asked';
    throw new TransportError(`${what}: ${messageOf(error)}`);
  }
}
