// Spec semantics 5 (optimistic concurrency): other clients keep editing the same ServiceAccounts
// while the operator adds, removes and adds back its entry. Every one of their entries survives.
import { basicAuthSecret } from '../harness/cluster.js';
import { type Scenario, startScenario } from '../harness/scenario.js';
import { auditMark, requestsSince } from '../harness/audit.js';
import { waitForInvariants } from '../harness/invariants.js';
import { waitFor } from '../../harness/wait.js';

let s: Scenario;
beforeAll(async () => {
  s = await startScenario('editor');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'p'));
});
afterAll(async () => s?.cleanup());

test('concurrent editors of the same ServiceAccounts lose nothing', async () => {
  const nss = await Promise.all(['e1', 'e2', 'e3', 'e4'].map((p) => s.namespace(p)));
  for (const ns of nss) await s.cluster.createServiceAccount(ns, 'shared');
  const mark = await auditMark();

  // Four editors append their own entries (read-modify-write guarded by resourceVersion, retrying
  // their own conflicts) for as long as the operator works on the same ServiceAccounts.
  const added = new Map(nss.map((ns) => [ns, [] as string[]]));
  let stop = false;
  let editorConflicts = 0;
  const editor = async (id: number) => {
    for (let i = 0; !stop; i++) {
      const ns = nss[(i + id) % nss.length]!;
      const name = `editor${id}-${i}`;
      for (;;) {
        const sa = (await s.cluster.getServiceAccount(ns, 'shared'))!;
        sa.imagePullSecrets = [...(sa.imagePullSecrets ?? []), { name }];
        try {
          await s.cluster.replaceServiceAccount(sa);
          added.get(ns)!.push(name);
          break;
        } catch (err) {
          if ((err as { code?: number }).code !== 409) throw err;
          editorConflicts++;
        }
      }
    }
  };
  const editors = Promise.all([0, 1, 2, 3].map(editor));

  const spec = {
    registries: [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }],
    namespaceSelector: s.selector,
    serviceAccounts: ['shared'],
  };
  const cred = await s.credential('editor', spec);
  const has = (ns: string, want: boolean) =>
    waitFor(async () => (await s.cluster.pullSecretNames(ns, 'shared'))?.includes(cred) === want, {
      what: `${ns}/shared ${want ? 'to list' : 'to lose'} ${cred}`,
    });
  for (const round of [1, 2]) {
    for (const ns of nss) await has(ns, true);
    await s.cluster.patchCredentialSpec(cred, { serviceAccounts: [] });
    for (const ns of nss) await has(ns, false);
    if (round === 1) await s.cluster.patchCredentialSpec(cred, { serviceAccounts: ['shared'] });
  }
  await s.cluster.patchCredentialSpec(cred, { serviceAccounts: ['shared'] });
  for (const ns of nss) await has(ns, true);
  stop = true;
  await editors;

  // Every editor entry is there, in the order it was added, and ours exactly once (last, or
  // wherever it was when the editors appended after it).
  for (const ns of nss) {
    const names = (await s.cluster.pullSecretNames(ns, 'shared'))!;
    expect(names.filter((n) => n !== cred)).toEqual(added.get(ns));
    expect(names.filter((n) => n === cred)).toHaveLength(1);
  }
  // and the shared checks: exactly one copy per namespace, every editor entry kept, status exact
  await waitForInvariants(s.cluster, {
    credential: cred,
    secretName: cred,
    selected: nss,
    deselected: [],
    serviceAccounts: [{ name: 'shared', foreign: (ns) => added.get(ns)! }],
  });
  const operatorConflicts = (await requestsSince(mark, s.operator.user)).filter(
    (e) => e.verb === 'patch' && e.responseStatus?.code === 409,
  ).length;
  process.stderr.write(
    `[concurrent-editor] editor entries ${[...added.values()].flat().length}, editor conflicts ${editorConflicts}, ` +
      `operator conflicts ${operatorConflicts}\n`,
  );
  expect([...added.values()].flat().length).toBeGreaterThan(nss.length);
});
