// Resilience: the operator is SIGKILLed at random points (seeded; the seed is printed) in the middle
// of a fan-out, a rotation, a deselection and a deletion, and restarted each time. Afterwards the
// cluster holds exactly the spec'd state: copies and SA entries where selected, none elsewhere,
// every foreign SA entry kept in order, the foreign Secret untouched.
import { basicAuthSecret } from '../harness/cluster.js';
import { auditMark, writesSince } from '../harness/audit.js';
import { passwordFor, type Scenario, startScenario, waitForCondition } from '../harness/scenario.js';
import { waitFor } from '../harness/wait.js';

const SEED = Number(process.env.REGCRED_CRASH_SEED ?? Date.now() % 100_000);
const KILLS_PER_PHASE = Number(process.env.REGCRED_CRASH_KILLS ?? 3);
const NAMESPACES = 12;

/** mulberry32: a tiny seeded PRNG so a failing run can be replayed with REGCRED_CRASH_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let s: Scenario;
beforeAll(async () => {
  process.stderr.write(`[crash] seed ${SEED} (replay with REGCRED_CRASH_SEED=${SEED})\n`);
  s = await startScenario('crash');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'v1'));
});
afterAll(async () => s?.cleanup());

test('SIGKILL at random writes during fan-out, rotation, deselection and deletion loses nothing', async () => {
  const random = prng(SEED);
  const nss: string[] = [];
  for (let i = 0; i < NAMESPACES; i++) {
    const ns = await s.namespace(`k${i}`, { group: 'in' });
    await s.cluster.createServiceAccount(ns, 'app', ['foreign-a', 'foreign-b']);
    nss.push(ns);
  }
  const foreign = await s.cluster.createSecret(nss[0]!, { metadata: { name: 'not-ours' }, type: 'Opaque', stringData: { k: 'v' } });
  let kills = 0;

  /** Starts `action`, SIGKILLs the operator after a random number of its writes, restarts it; KILLS_PER_PHASE times. */
  const withCrashes = async (phase: string, action: () => Promise<unknown>) => {
    await action();
    for (let k = 0; k < KILLS_PER_PHASE; k++) {
      const mark = await auditMark();
      const after = 1 + Math.floor(random() * NAMESPACES);
      // Kill once it has made `after` writes, or when it has gone quiet (already converged).
      await waitFor(async () => (await writesSince(mark, s.operator.user)).length >= after || (await s.operator.metric('regcred_workqueue_depth').catch(() => 0)) === 0, { intervalMs: 20, what: `${phase}: ${after} writes` });
      await s.operator.kill();
      kills++;
      await s.restartOperator();
    }
  };

  const spec = { registries: [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }], namespaceSelector: s.selectorWith({ group: 'in' }), serviceAccounts: ['default', 'app'], secretName: 'pull' };
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
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' }, 120_000);

  const expectState = async (selected: string[], deselected: string[]) => {
    for (const ns of selected) {
      await waitFor(async () => passwordFor(await s.cluster.getSecret(ns, 'pull'), 'r.example.com') === 'v2', { what: `${ns}/pull with the rotated password` });
      expect(await s.cluster.pullSecretNames(ns, 'app')).toEqual(['foreign-a', 'foreign-b', 'pull']);
      expect(await s.cluster.pullSecretNames(ns, 'default')).toEqual(['pull']);
    }
    for (const ns of deselected) {
      await waitFor(async () => !(await s.cluster.getSecret(ns, 'pull')), { what: `${ns}/pull removed` });
      await waitFor(async () => JSON.stringify(await s.cluster.pullSecretNames(ns, 'app')) === JSON.stringify(['foreign-a', 'foreign-b']), { what: `${ns}/app back to its own entries` });
      expect(await s.cluster.pullSecretNames(ns, 'default')).toEqual([]);
    }
  };
  await expectState(nss.slice(0, NAMESPACES / 2), out);

  await withCrashes('deletion', async () => s.cluster.deleteCredential(cred));
  await waitFor(async () => !(await s.cluster.getCredential(cred)), { timeoutMs: 120_000, what: 'the credential released by its finalizer' });
  for (const ns of nss) {
    expect(await s.cluster.getSecret(ns, 'pull')).toBeUndefined();
    expect(await s.cluster.pullSecretNames(ns, 'app')).toEqual(['foreign-a', 'foreign-b']);
  }
  expect((await s.cluster.getSecret(nss[0]!, 'not-ours'))!.metadata?.resourceVersion).toBe(foreign.metadata?.resourceVersion);
  process.stderr.write(`[crash] seed ${SEED}: ${kills} SIGKILLs, invariants held\n`);
  expect(kills).toBe(4 * KILLS_PER_PHASE);
});
