/**
 * `npm run bench`: every figure of the performance table in one run, each measured here
 * against its goal, printed and written to docs/PERFORMANCE.md with the method and a
 * cost model derived from the counts. Public tools only: PostgreSQL, esbuild, node.
 *
 * Options: --large N (jobs of the large scan, default 1000000), --runs N (cold starts of
 * each bundle and of its floor, default 21), --checkouts N (local checkouts, default 30),
 * --stranded N (jobs the re-drive run finds, default 10000), --out FILE.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measureBundles } from './bundles.js';
import { benchServer } from './database.js';
import { countRoundTrips, idleHour } from './flows.js';
import { measureLocalLatency } from './local-latency.js';
import { measureRedrive } from './redrive.js';
import { renderReport } from './report.js';
import { timeStatements } from './scans.js';

const { values } = parseArgs({
  options: {
    large: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '21' },
    checkouts: { type: 'string', default: '30' },
    stranded: { type: 'string', default: '10000' },
    out: {
      type: 'string',
      default: fileURLToPath(new URL('../docs/PERFORMANCE.md', import.meta.url)),
    },
  },
});
const large = Number(values.large);
const step = (what: string) => process.stderr.write(`bench: ${what}…\n`);

const server = await benchServer();
try {
  step('round trips through the Data API bridge');
  const { trips, journey } = await countRoundTrips(await server.fresh());
  step('an idle hour of ticks');
  const idle = await idleHour(await server.fresh());
  step('hot statements at 10,000 jobs');
  const small = await timeStatements(
    await server.fresh(),
    { provisioned: 10_000, inFlight: 500 },
    15,
  );
  step(`hot statements at ${large.toLocaleString('en')} jobs (seeding takes a minute)`);
  const big = await timeStatements(await server.fresh(), { provisioned: large, inFlight: 500 }, 15);
  step('the local runtime, one checkout at a time');
  const local = await measureLocalLatency(await server.fresh(), Number(values.checkouts));
  step('re-drive capacity on a virtual clock');
  const redrive = await measureRedrive(await server.fresh(), {
    stranded: Number(values.stranded),
    rate: 20,
    latencyMs: 50,
  });
  step('bundles and their cold starts');
  const bundles = await measureBundles(Number(values.runs));

  const report = renderReport({
    trips,
    journey,
    idle,
    scans: { smallJobs: 10_000, largeJobs: large, small, large: big },
    local,
    redrive,
    bundles,
    machine: `${process.platform} ${process.arch}, node ${process.version}`,
  });
  writeFileSync(String(values.out), report.markdown);
  process.stdout.write(`${report.summary}\nwritten: ${values.out}\n`);
} finally {
  await server.stop();
}
