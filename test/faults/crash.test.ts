// Resilience: the operator is SIGKILLed at random points (seeded; the seed is printed) in the middle
// of a fan-out, a rotation, a retargeting (secretTemplate edited, excludeServiceAccounts moved from
// one SA to another, SAs relabelled out of serviceAccountSelector), a deselection and a deletion,
// and restarted each time. The RegistryCredential selects namespaces by label and name pattern
// (decoys with the label but another name stay untouched) and ServiceAccounts by name, selector and
// exclusion. Afterwards the cluster holds exactly the spec'd state: copies (with the template's
// keys, without the removed ones) and SA entries where selected, none elsewhere, every foreign SA
// entry kept in order, the foreign Secret untouched.
import { prng } from '../../harness/api-proxy.js';
import { basicAuthSecret } from '../harness/cluster.js';
import { auditMark, writesSince } from '../harness/audit.js';
import { faultsSize, waitForInvariants } from '../harness/invariants.js';
import { type Scenario, startScenario } from '../harness/scenario.js';
import { waitFor } from '../../harness/wait.js';

// Quick: 12 namespaces, 3 kills per phase (15). Full: 200 namespaces, 13 kills per phase (65).
const FULL = faultsSize() === 'full';
const SEED = Number(process.env.REGCRED_CRASH_SEED ?? process.env.REGCRED_FAULTS_SEED ?? Date.now() % 100_000);
const KILLS_PER_PHASE = Number(process.env.REGCRED_CRASH_KILLS ?? (FULL ? 13 : 3));
const NAMESPACES = FULL ? 200 : 12;

let s: Scenario;
beforeAll(async () => {
  process.stderr.write(
    `[crash] size ${faultsSize()}, seed ${SEED}, ${NAMESPACES} namespaces, ${KILLS_PER_PHASE} kills per phase ` +
      `(replay with REGCRED_CRASH_SEED=${SEED})\n`,
  );
  s = await startScenario('crash');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'v1'));
});
afterAll(async () => s?.cleanup());

test(`SIGKILL at random writes during fan-out, rotation, retargeting, deselection and deletion loses nothing (${5 * KILLS_PER_PHASE} kills)`, async () => {
  const random = prng(SEED);
  const nss: string[] = [];
  const PULL = { pull: 'yes' };
  for (let i = 0; i < NAMESPACES; i++) {
    const ns = await s.namespace(`k${i}`, { group: 'in' });
    await s.cluster.createServiceAccount(ns, 'app', ['foreign-a', 'foreign-b'], PULL);
    await s.cluster.createServiceAccount(ns, 'builder', ['mirror'], PULL);
    nss.push(ns);
  }
  // Labelled like the others, but outside namespaceNames: never touched.
  const decoys = [await s.namespace('z0', { group: 'in' }), await s.namespace('z1', { group: 'in' })];
  for (const ns of decoys) {
    await s.cluster.createServiceAccount(ns, 'app', ['foreign-a', 'foreign-b'], PULL);
    await s.cluster.createServiceAccount(ns, 'builder', ['mirror'], PULL);
  }
  const foreign = await s.cluster.createSecret(nss[0]!, {
    metadata: { name: 'not-ours' },
    type: 'Opaque',
    stringData: { k: 'v' },
  });
  let kills = 0;

  /** Starts `action`, SIGKILLs the operator after a random number of its writes, restarts it; KILLS_PER_PHASE times. */
  const withCrashes = async (phase: string, action: () => Promise<unknown>) => {
    await action();
    for (let k = 0; k < KILLS_PER_PHASE; k++) {
      const mark = await auditMark();
      const after = 1 + Math.floor(random() * NAMESPACES);
      // Kill once it has made `after` writes, or when it has gone quiet (already converged).
      await waitFor(
        async () =>
          (await writesSince(mark, s.operator.user)).length >= after ||
          (await s.operator.metric('regcred_workqueue_depth').catch(() => 0)) === 0,
        { intervalMs: 20, what: `${phase}: ${after} writes` },
      );
      await s.operator.kill();
      kills++;
      await s.restartOperator();
    }
  };

  const spec = {
    registries: [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }],
    namespaceSelector: s.selectorWith({ group: 'in' }),
    namespaceNames: [`k*-${s.id}`],
    serviceAccounts: ['default'],
    serviceAccountSelector: { matchLabels: PULL },
    excludeServiceAccounts: ['builder'],
    secretName: 'pull',
    secretTemplate: { labels: { team: 'a', tier: 'gold' }, annotations: { 'example.com/note': 'one' } },
  };
  const cred = await (async () => {
    let name = '';
    await withCrashes('fan-out', async () => (name = await s.credential('c', spec)));
    return name;
  })();
  await withCrashes('rotation', async () => {
    await s.cluster.setPassword(s.sourceNamespace, 'robot', 'v2');
  });
  // Retargeting: the template changes (tier goes, team changes, the annotation changes), the exclusion
  // moves from builder to app, and builder is relabelled out of the selector in a quarter of the namespaces.
  const relabelled = new Set(nss.slice(0, NAMESPACES / 4));
  await withCrashes('retargeting', async () => {
    await s.cluster.patchCredentialSpec(cred, {
      secretTemplate: { labels: { team: 'b', tier: null }, annotations: { 'example.com/note': 'two' } },
      excludeServiceAccounts: ['app'],
    });
    for (const ns of relabelled) await s.cluster.labelServiceAccount(ns, 'builder', { pull: null });
  });
  const out = nss.slice(NAMESPACES / 2);
  await withCrashes('deselection', async () => {
    for (const ns of out) await s.cluster.labelNamespace(ns, { group: 'out' });
  });
  const foreignSecrets = [
    { namespace: nss[0]!, name: 'not-ours', resourceVersion: foreign.metadata!.resourceVersion! },
  ];
  const expected = {
    credential: cred,
    secretName: 'pull',
    selected: nss.slice(0, NAMESPACES / 2),
    deselected: [...out, ...decoys],
    serviceAccounts: [
      { name: 'default', foreign: [] },
      { name: 'app', foreign: ['foreign-a', 'foreign-b'], selected: false },
      { name: 'builder', foreign: ['mirror'], selected: (ns: string) => !relabelled.has(ns) },
    ],
    foreignSecrets,
    passwords: { 'r.example.com': 'v2' },
    secretMetadata: { labels: { team: 'b', tier: null }, annotations: { 'example.com/note': 'two' } },
  };
  await waitForInvariants(s.cluster, expected, 300_000);

  await withCrashes('deletion', async () => s.cluster.deleteCredential(cred));
  await waitForInvariants(
    s.cluster,
    { ...expected, selected: [], deselected: nss, deleted: true, passwords: {} },
    300_000,
  );
  process.stderr.write(`[crash] seed ${SEED}: ${kills} SIGKILLs, invariants held\n`);
  expect(kills).toBe(5 * KILLS_PER_PHASE);
}, 3_600_000);
