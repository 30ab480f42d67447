// Summarizes a V8 heap snapshot (.heapsnapshot, e.g. from `node --heapsnapshot-signal=SIGUSR2`):
// the heap's self sizes by kind of node (code, strings, objects, ...) and the largest kinds of
// object by constructor, largest first.
//   node hack/heap-summary.mjs <file.heapsnapshot> [top=25]
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node hack/heap-summary.mjs <file.heapsnapshot> [top]\n');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const snapshot = JSON.parse(readFileSync(file, 'utf8'));
const { node_fields: fields, node_types: types } = snapshot.snapshot.meta;
const width = fields.length;
const at = (name) => fields.indexOf(name);
const [TYPE, NAME, SIZE] = [at('type'), at('name'), at('self_size')];
const typeNames = types[0];
const { nodes, strings } = snapshot;

const byType = new Map();
const byConstructor = new Map();
let totalSize = 0;
for (let i = 0; i < nodes.length; i += width) {
  const type = typeNames[nodes[i + TYPE]];
  const name = strings[nodes[i + NAME]];
  const size = nodes[i + SIZE];
  totalSize += size;
  byType.set(type, (byType.get(type) ?? 0) + size);
  if (type === 'object' || type === 'closure' || type === 'array' || type === 'code' || type === 'hidden') {
    const key = `${type}: ${name.slice(0, 80)}`;
    const entry = byConstructor.get(key) ?? { size: 0, count: 0 };
    entry.size += size;
    entry.count++;
    byConstructor.set(key, entry);
  }
}
const mib = (bytes) => `${(bytes / 1048576).toFixed(2)} MiB`;
const rows = (map, n) =>
  [...map]
    .sort((a, b) => (b[1].size ?? b[1]) - (a[1].size ?? a[1]))
    .slice(0, n)
    .map(([k, v]) => {
      const count = v.count === undefined ? '' : `${String(v.count).padStart(7)}x `;
      return `  ${mib(v.size ?? v).padStart(11)}  ${count}${k}`;
    })
    .join('\n');
const objects = nodes.length / width;
process.stdout.write(`${file}: ${mib(totalSize)} in ${objects} heap objects\n\nby kind:\n${rows(byType, 20)}\n`);
process.stdout.write(`\nlargest kinds of object:\n${rows(byConstructor, top)}\n`);
