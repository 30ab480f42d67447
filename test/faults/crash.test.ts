// Resilience: the operator is SIGKILLed at random points (seeded; the seed is printed) in the middle
// of a fan-out, a rotation, a deselection and a deletion, and restarted each time. Afterwards the
// cluster holds exactly the spec'd state: copies and SA entries where selected, none elsewhere,
// every foreign SA entry kept in order, the foreign Secret untouched.
import { prng } from '../harness/api-proxy.js';
import { basicAuthSecret } from '../harness/cluster.js';
import { auditMark, writesSince } from '../harness/audit.js';
import { faultsSize, waitForInvariants } from '../harness/invariants.js';
import { type Scenario, startScenario } from '../harness/scenario.js';
import { waitFor } from '../harness/wait.js';

// Quick: 12 namespaces, 3 kills per phase (12). Full: 200 namespaces, 13 kills per phase (52).
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

test(`SIGKILL at random writes during fan-out, rotation, deselection and deletion loses nothing (${4 * KILLS_PER_PHASE} kills)`, async () => {
  const random = prng(SEED);
  const nss: string[] = [];
  for (let i = 0; i < NAMESPACES; i++) {
    const ns = await s.namespace(`k${i}`, { group: 'in' });
    await s.cluster.createServiceAccount(ns, 'app', ['foreign-a', 'foreign-b']);
    nss.push(ns);
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
    serviceAccounts: ['default', 'app'],
    secretName: 'pull',
  };
  const cred = await (async () => {
    let name = '';
    await withCrashes('fan-out', async () => (name = await s.credential('c', spec)));
    return name;
  })();
  await withCrashes('rotation', async () => {
    const src = (await s.cluster.getSecret(s.sourceNamespace, 'robot'))!;
    src.data = { ...src.data, password: Buffer.from('v2').toString('base64') };
    await s.cluster.replaceSecret(src);
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
    deselected: out,
    serviceAccounts: [
      { name: 'default', foreign: [] },
      { name: 'app', foreign: ['foreign-a', 'foreign-b'] },
    ],
    foreignSecrets,
    passwords: { 'r.example.com': 'v2' },
  };
  await waitForInvariants(s.cluster, expected, 300_000);

  await withCrashes('deletion', async () => s.cluster.deleteCredential(cred));
  await waitForInvariants(
    s.cluster,
    { ...expected, selected: [], deselected: nss, deleted: true, passwords: {} },
    300_000,
  );
  process.stderr.write(`[crash] seed ${SEED}: ${kills} SIGKILLs, invariants held\n`);
  expect(kills).toBe(4 * KILLS_PER_PHASE);
}, 3_600_000);
