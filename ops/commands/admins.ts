import * as z from 'zod';
import { upsertUser } from '../../functions/db/catalogue-repository.js';
import { listAdmins, removeAdmin } from '../../functions/db/operator-repository.js';
import type { Command, CommandContext } from '../command.js';
import { RefusedError, UsageError } from '../errors.js';
import { show, table } from '../render.js';

const email = z.email().max(254);

export const admins: Command = {
  name: 'admins',
  synopsis: 'admins list | admins add EMAIL | admins remove EMAIL',
  summary: "who receives the watchdog's notifications",
  help: `list    the admins: every one of them gets the watchdog's notifications.
add     makes a user an admin (creating the user if needed).
remove  makes an admin a member again (the user and their notifications are kept).
        The last admin is never removed: the notifications would reach nobody.`,
  options: [],
  async run(context, args) {
    const [action, address, ...rest] = args.positionals;
    if (rest.length) throw new UsageError(`unexpected argument ${rest[0]}`);
    if (action === 'list') {
      if (address) throw new UsageError(`unexpected argument ${address}`);
      return list(context);
    }
    if (action === 'add' || action === 'remove') {
      const parsed = email.safeParse(address ?? '');
      if (!parsed.success) throw new UsageError(`admins ${action} takes an e-mail address`);
      return action === 'add' ? add(context, parsed.data) : remove(context, parsed.data);
    }
    throw new UsageError('admins takes list, add EMAIL or remove EMAIL');
  },
};

async function list(context: CommandContext): Promise<void> {
  const target = await context.target();
  const rows = await listAdmins(target.db);
  context.out.result({ admins: rows }, () =>
    rows.length
      ? table(
          [
            { header: 'EMAIL', value: (r) => r.email },
            { header: 'SINCE', value: (r) => show(r.created_at) },
          ],
          rows,
        )
      : "No admin: the watchdog's notifications reach nobody. Add one: ops admins add EMAIL",
  );
}

async function add(context: CommandContext, address: string): Promise<void> {
  const target = await context.target();
  const current = await listAdmins(target.db);
  if (current.some((admin) => admin.email === address)) {
    context.out.result(
      { result: 'already_admin', email: address },
      () => `${address} is already an admin.`,
    );
    return;
  }
  context.out.plan(`Make ${address} an admin on the ${target.description}.`);
  const authorization = await context.authorize({
    question: `Add ${address} as an admin?`,
    summary: { action: 'admins add', email: address },
    needsReason: false,
  });
  if (!authorization) return;
  await upsertUser(target.db, { email: address, role: 'admin' });
  context.out.note(`Done by ${await context.actor()}.`);
  context.out.result({ result: 'added', email: address }, () => `${address} is an admin.`);
}

async function remove(context: CommandContext, address: string): Promise<void> {
  const target = await context.target();
  const current = await listAdmins(target.db);
  if (!current.some((admin) => admin.email === address)) {
    throw new RefusedError(`${address} is not an admin`);
  }
  context.out.plan(`Make ${address} a member (no longer notified) on the ${target.description}.`);
  const authorization = await context.authorize({
    question: `Remove ${address} from the admins?`,
    summary: { action: 'admins remove', email: address },
    needsReason: false,
  });
  if (!authorization) return;
  const result = await removeAdmin(target.db, address);
  if (result === 'not_admin') throw new RefusedError(`${address} is not an admin`);
  if (result === 'last_admin') {
    throw new RefusedError(`${address} is the last admin: never removed`, [
      'Add another admin first: ops admins add EMAIL',
    ]);
  }
  context.out.note(`Done by ${await context.actor()}.`);
  context.out.result(
    { result: 'removed', email: address },
    () => `${address} is no longer an admin.`,
  );
}
