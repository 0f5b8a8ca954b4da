import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../ops/cli.js';

const RUNBOOKS = fileURLToPath(new URL('../../docs/runbooks/', import.meta.url));
const ALARMS = fileURLToPath(new URL('../../lib/constructs/alarms.ts', import.meta.url));

const runbooks = readdirSync(RUNBOOKS)
  .filter((name) => name.endsWith('.md'))
  .map((name) => ({ name, text: readFileSync(`${RUNBOOKS}${name}`, 'utf8') }));

/** Every `npm run ops -- …` a runbook tells the operator to type, split as a shell would. */
function opsCommandLines(text: string): string[][] {
  const lines: string[][] = [];
  for (const match of text.matchAll(/npm run ops -- ([^`\n]+)/g)) {
    const line = (match[1] ?? '')
      .replace(/\s+#.*$/, '')
      .replace(/<[^>]+>/g, 'PLACEHOLDER')
      .trim();
    if (line.startsWith('PLACEHOLDER')) continue; // `npm run ops -- <command> --help`
    lines.push([...line.matchAll(/"[^"]*"|\S+/g)].map(([word]) => word.replace(/^"|"$/g, '')));
  }
  return lines;
}

/** GitHub's anchor for a heading. */
function anchor(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

describe('the runbooks', () => {
  it('exist for every runbook an alarm description links', () => {
    const linked = [...readFileSync(ALARMS, 'utf8').matchAll(/runbook\('([a-z-]+)'\)/g)].map(
      ([, name]) => `${name}.md`,
    );

    expect(new Set(linked).size).toBeGreaterThanOrEqual(3);
    for (const name of linked) expect(runbooks.map((r) => r.name)).toContain(name);
  });

  it.each(runbooks)(
    '$name: every ops command line names a command and options it takes',
    ({ text }) => {
      const lines = opsCommandLines(text);

      expect(lines.length).toBeGreaterThan(0);
      for (const argv of lines) {
        const parsed = (() => {
          try {
            return parseCommandLine(argv);
          } catch (error) {
            return error instanceof Error ? error.message : String(error);
          }
        })();
        expect({ argv, parsed: typeof parsed === 'string' ? parsed : parsed.kind }).toEqual({
          argv,
          parsed: argv.includes('--help') ? 'help' : 'run',
        });
      }
    },
  );

  it.each(runbooks)(
    '$name: every link to a runbook names a file and a heading that exist',
    ({ text }) => {
      for (const [, file, fragment] of text.matchAll(/\]\(([a-z-]+\.md)(?:#([^)]+))?\)/g)) {
        const linked = runbooks.find((runbook) => runbook.name === file);
        expect(linked, `${file}`).toBeDefined();
        if (!fragment || !linked) continue;
        const headings = [...linked.text.matchAll(/^#{1,6} (.+)$/gm)].map(([, heading]) =>
          anchor(heading ?? ''),
        );
        expect(headings, `${file}#${fragment}`).toContain(fragment);
      }
    },
  );
});
