import { createScratchDatabase, type ScratchDatabase } from '../local/scratch-database.js';
import { startScratchPostgres } from '../local/scratch-postgres.js';

/** One measurement's own migrated database on the bench's PostgreSQL. */
export type BenchDatabase = ScratchDatabase;

/**
 * The bench's PostgreSQL: the server `adminUrl` names (`DATABASE_URL` by default), or a
 * throwaway embedded one. Each measurement gets a fresh migrated database; `stop` drops
 * every one of them, so a developer's server keeps none of the bench's data.
 */
export async function benchServer(adminUrl = process.env.DATABASE_URL) {
  const scratch = adminUrl ? undefined : await startScratchPostgres();
  const serverUrl = adminUrl ?? (scratch as { url: string }).url;
  const opened: BenchDatabase[] = [];
  return {
    async fresh(): Promise<BenchDatabase> {
      const database = await createScratchDatabase(serverUrl, { prefix: 'bench', poolSize: 10 });
      opened.push(database);
      return database;
    },
    async stop() {
      const drops = await Promise.allSettled(opened.map((database) => database.drop()));
      await scratch?.stop();
      const failed = drops.flatMap((drop) => (drop.status === 'rejected' ? [drop.reason] : []));
      if (failed.length) throw new AggregateError(failed, 'bench databases left on the server');
    },
  };
}
