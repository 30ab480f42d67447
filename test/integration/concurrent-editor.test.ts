// Spec semantics 5 (optimistic concurrency): another client keeps editing the same ServiceAccount
// while the operator adds and removes its entry. Every one of the other client's entries survives.
import { basicAuthSecret } from '../harness/cluster.js';
import { type Scenario, startScenario, waitForPullSecrets } from '../harness/scenario.js';
import { waitFor } from '../harness/wait.js';

let s: Scenario;
beforeAll(async () => {
  s = await startScenario('editor');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'p'));
});
afterAll(async () => s?.cleanup());

test('a concurrent editor of the same ServiceAccount loses nothing', async () => {
  const nss = await Promise.all(['e1', 'e2', 'e3'].map((p) => s.namespace(p)));
  for (const ns of nss) await s.cluster.createServiceAccount(ns, 'shared');
  const spec = { registries: [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }], namespaceSelector: s.selector, serviceAccounts: ['shared'] };

  // The editor appends its own entries one at a time (read-modify-write with resourceVersion,
  // retrying its own conflicts) while the operator injects, then while it cleans up.
  const added = new Map(nss.map((ns) => [ns, [] as string[]]));
  let stop = false;
  let conflicts = 0;
  const editor = (async () => {
    for (let i = 0; !stop && i < 400; i++) {
      const ns = nss[i % nss.length]!;
      const name = `editor-${i}`;
      for (;;) {
        const sa = (await s.cluster.getServiceAccount(ns, 'shared'))!;
        sa.imagePullSecrets = [...(sa.imagePullSecrets ?? []), { name }];
        try {
          await s.cluster.replaceServiceAccount(sa);
          added.get(ns)!.push(name);
          break;
        } catch (err) {
          if ((err as { code?: number }).code !== 409) throw err;
          conflicts++;
        }
      }
    }
  })();

  const cred = await s.credential('editor', spec);
  for (const ns of nss) await waitFor(async () => (await s.cluster.pullSecretNames(ns, 'shared'))?.includes(cred), { what: `${ns}/shared to list ${cred}` });
  await s.cluster.patchCredentialSpec(cred, { serviceAccounts: [] });
  for (const ns of nss) await waitFor(async () => !(await s.cluster.pullSecretNames(ns, 'shared'))?.includes(cred), { what: `${ns}/shared to lose ${cred}` });
  stop = true;
  await editor;

  for (const ns of nss) await waitForPullSecrets(s.cluster, ns, 'shared', added.get(ns)!);
  expect([...added.values()].flat().length).toBeGreaterThan(0);
  // The editor itself ran into the operator's writes, so both sides really raced.
  process.stderr.write(`[concurrent-editor] editor entries: ${[...added.values()].flat().length}, editor conflicts: ${conflicts}\n`);
});
