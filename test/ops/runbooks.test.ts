import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  ALARM_CATALOGUE,
  type AlarmKind,
  headingAnchor,
} from '../../lib/constructs/alarm-catalogue.js';
import { parseCommandLine } from '../../ops/cli.js';

const RUNBOOKS = fileURLToPath(new URL('../../docs/runbooks/', import.meta.url));

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

const anchor = headingAnchor;

/** The text of a section: from its heading to the next heading of the same or a higher level. */
function sectionOf(text: string, heading: string): string | undefined {
  const lines = text.split('\n');
  const start = lines.findIndex(
    (line) => /^#{1,6} /.test(line) && line.replace(/^#+ /, '') === heading,
  );
  if (start === -1) return undefined;
  const level = (lines[start]?.match(/^#+/)?.[0] ?? '#').length;
  const end = lines.findIndex(
    (line, i) =>
      i > start && /^#{1,6} /.test(line) && (line.match(/^#+/)?.[0].length ?? 7) <= level,
  );
  return lines.slice(start, end === -1 ? undefined : end).join('\n');
}

describe('the runbooks', () => {
  it.each(Object.keys(ALARM_CATALOGUE) as AlarmKind[])(
    'start %s where its description says: the section exists and holds its first commands',
    (kind) => {
      const { runbook, commands } = ALARM_CATALOGUE[kind];
      const file = runbooks.find((r) => r.name === runbook.file);
      const section = file ? sectionOf(file.text, runbook.section) : undefined;

      expect(section, `${runbook.file}: ${runbook.section}`).toBeDefined();
      for (const command of commands) expect(section).toContain(command);
    },
  );

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
