import { listNotifications } from '../../functions/db/operator-repository.js';
import type { Command } from '../command.js';
import { intOption, positionals } from '../options.js';
import { show, table } from '../render.js';

export const notifications: Command = {
  name: 'notifications',
  synopsis: 'notifications [--limit N]',
  summary: "the watchdog's notifications, newest first",
  help: `The notifications the hourly watchdog wrote for the admins, newest first: stalled
organisation databases (provisioning or migrating past the stall threshold) and jobs
at the attempt cap. The watchdog only alerts; see docs/runbooks/watchdog-notification.md.
--limit caps the rows (default 20).`,
  options: ['limit'],
  async run(context, args) {
    positionals(args, []);
    const limit = intOption(args, 'limit', { min: 1, max: 1000 }, 20);
    const target = await context.target();
    const rows = await listNotifications(target.db, limit);
    context.out.result({ notifications: rows }, () =>
      rows.length
        ? table(
            [
              { header: 'WHEN', value: (r) => show(r.created_at) },
              { header: 'LEVEL', value: (r) => r.level },
              { header: 'KIND', value: (r) => r.kind },
              { header: 'TO', value: (r) => r.recipient },
              { header: 'ABOUT', value: (r) => show(r.organization_database_id ?? r.job_id) },
              { header: 'READ', value: (r) => (r.read_at ? 'yes' : 'no') },
              { header: 'MESSAGE', value: (r) => r.message },
            ],
            rows,
          )
        : 'No notification.',
    );
  },
};
