// The README's examples are real: every manifest in examples/ is accepted by the API server with
// the CRD installed (server-side dry run: validation, defaults and CEL rules all run).
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { kubectl } from '../../harness/controlplane.js';

const dir = fileURLToPath(new URL('../../examples/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

test('there are examples', () => {
  expect(files.length).toBeGreaterThanOrEqual(4);
});

test.each(files)('examples/%s is accepted by the API server', async (file) => {
  const res = await kubectl(['apply', '--dry-run=server', '-f', path.join(dir, file)]);
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  expect(res.stdout).toMatch(/registrycredential\.regcred\.io\/\S+ created \(server dry run\)/);
});
