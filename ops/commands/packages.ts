import { upsertPackage } from '../../functions/db/catalogue-repository.js';
import { findPackage, listPackages } from '../../functions/db/operator-repository.js';
import type { Command, CommandContext } from '../command.js';
import { UsageError } from '../errors.js';
import { type CommandArgs, intOption, requiredOption } from '../options.js';
import { keyValues, table } from '../render.js';

const SLUG = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export const packages: Command = {
  name: 'packages',
  synopsis: 'packages list | packages set SLUG --tier TIER --quota N',
  summary: 'the catalogue: which package grants which tokens quota',
  help: `list  the catalogue checkouts are mapped through (metadata.package_slug → quota).
set   adds a package, or changes its tier and quota for jobs recorded from now on
      (a recorded job keeps the payload it was recorded with).`,
  options: ['tier', 'quota'],
  async run(context, args) {
    const [action, slug, ...rest] = args.positionals;
    if (rest.length) throw new UsageError(`unexpected argument ${rest[0]}`);
    if (action === 'list') {
      if (slug) throw new UsageError(`unexpected argument ${slug}`);
      if (args.options.tier !== undefined || args.options.quota !== undefined) {
        throw new UsageError('--tier and --quota are options of packages set');
      }
      const target = await context.target();
      const rows = await listPackages(target.db);
      context.out.result({ packages: rows }, () =>
        rows.length
          ? table(
              [
                { header: 'SLUG', value: (r) => r.slug },
                { header: 'TIER', value: (r) => r.tier },
                { header: 'TOKENS QUOTA', value: (r) => String(r.tokensQuota) },
              ],
              rows,
            )
          : 'The catalogue is empty: every checkout is recorded as unknown_package.',
      );
      return;
    }
    if (action === 'set') return set(context, slug, args);
    throw new UsageError('packages takes list or set SLUG --tier TIER --quota N');
  },
};

async function set(context: CommandContext, slug: string | undefined, args: CommandArgs) {
  if (!slug || !SLUG.test(slug)) {
    throw new UsageError('packages set takes a slug: lowercase letters, digits, - and _');
  }
  const tier = requiredOption(args, 'tier');
  const tokensQuota = intOption(args, 'quota', { min: 1, max: Number.MAX_SAFE_INTEGER });
  if (tokensQuota === undefined) throw new UsageError('--quota is required');
  const target = await context.target();
  const current = await findPackage(target.db, slug);
  context.out.plan(
    keyValues([
      ['target', target.description],
      ['package', slug],
      ['tier', `${current ? `${current.tier} → ` : ''}${tier}`],
      ['tokens quota', `${current ? `${current.tokensQuota} → ` : ''}${tokensQuota}`],
    ]),
  );
  const authorization = await context.authorize({
    question: `${current ? 'Change' : 'Add'} package ${slug}?`,
    summary: { action: 'packages set', slug, tier, tokens_quota: tokensQuota },
    needsReason: false,
  });
  if (!authorization) return;
  await upsertPackage(target.db, { slug, tier, tokensQuota });
  context.out.note(`Done by ${await context.actor()}.`);
  context.out.result(
    { result: current ? 'changed' : 'added', slug, tier, tokens_quota: tokensQuota },
    () => `Package ${slug}: tier ${tier}, ${tokensQuota} tokens.`,
  );
}
