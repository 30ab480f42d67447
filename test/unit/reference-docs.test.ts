// docs/configuration.md and docs/metrics.md each say they list every flag and every metric: these
// tests hold them to src/config.ts (FLAGS) and src/metrics.ts (what a Metrics registers), so a new
// flag or metric without its row fails here instead of going undocumented.
import { readFileSync } from 'node:fs';
import { FLAGS } from '../../src/config.js';
import { Metrics } from '../../src/metrics.js';

const read = (page: string) => readFileSync(new URL(`../../docs/${page}`, import.meta.url), 'utf8');
/** The first cell of every table row of a page, without its backquotes. */
const rowNames = (page: string) =>
  new Set(
    read(page)
      .split('\n')
      .map((line) => /^\| `([^`]+)` \|/.exec(line)?.[1])
      .filter((name): name is string => name !== undefined),
  );

test('docs/configuration.md has a row for every flag, with its environment variable', () => {
  const rows = read('configuration.md')
    .split('\n')
    .filter((line) => line.startsWith('| `--'));
  const missing = FLAGS.filter((flag, index) => {
    const primary = FLAGS.find((other) => other.key === flag.key)!;
    // a former name (a later flag of the same key) is named, with its variable, in the row of the current one
    if (FLAGS.indexOf(primary) !== index)
      return !rows.some(
        (row) => row.startsWith(`| \`${primary.flag}\` |`) && row.includes(`\`${flag.flag}\` (\`${flag.env}\`)`),
      );
    return !rows.some((row) => row.startsWith(`| \`${flag.flag}\` | \`${flag.env}\` |`));
  });
  expect(missing.map((flag) => flag.flag)).toEqual([]);
  expect(FLAGS.length).toBeGreaterThan(30);
});

test('docs/metrics.md has a row for every metric the operator registers', async () => {
  const names = (await new Metrics(false).registry.getMetricsAsJSON()).map((metric) => metric.name);
  expect(names.length).toBeGreaterThan(20);
  const rows = rowNames('metrics.md');
  expect(names.filter((name) => !rows.has(name))).toEqual([]);
});
