// Fault 4: the operator talks to the API server only through harness/api-proxy.ts, which
// answers a seeded share of its requests (reads and writes, not watches) with 429 + Retry-After,
// 500 or 503, lets some time out (forwarded: the write may have happened, the answer never comes)
// and resets others (half of them after forwarding). Through a fan-out, a rotation, a retargeting
// (secretTemplate edited, an SA relabelled out of serviceAccountSelector, an exclusion added), a
// deselection and a deletion, writes are retried with backoff and nothing is duplicated or lost.
import { basicAuthSecret } from '../harness/cluster.js';
import { type ApiProxy, startApiProxy } from '../../harness/api-proxy.js';
import { faultSeed, faultsSize, waitForInvariants } from '../harness/invariants.js';
import { type Scenario, startScenario } from '../harness/scenario.js';

const FULL = faultsSize() === 'full';
const NAMESPACES = FULL ? 60 : 12;
const SHARES = FULL
  ? { tooManyRequests: 0.1, internalError: 0.06, unavailable: 0.06, timeout: 0.03, reset: 0.05 }
  : { tooManyRequests: 0.06, internalError: 0.04, unavailable: 0.04, timeout: 0.02, reset: 0.04 };
const SEED = faultSeed('api-faults');

let proxy: ApiProxy;
let s: Scenario;
beforeAll(async () => {
  proxy = await startApiProxy(SEED);
  s = await startScenario('apifaults', {
    wrapKubeconfig: (kc) => proxy.kubeconfigFor(kc),
    // a timed-out request costs 2 s, not the default 30 s
    operatorArgs: ['--kube-api-timeout-seconds', '2'],
  });
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'v1'));
});
afterAll(async () => {
  proxy?.setFaults({});
  await s?.cleanup();
  await proxy?.stop();
});

test(`a share of 429/500/503/timeouts/resets on every phase: nothing duplicated or lost (${NAMESPACES} namespaces)`, async () => {
  const nss: string[] = [];
  for (let i = 0; i < NAMESPACES; i++) {
    const ns = await s.namespace(`f${i}`, { group: 'in' });
    await s.cluster.createServiceAccount(ns, 'app', ['foreign-a', 'foreign-b'], { pull: 'yes' });
    await s.cluster.createServiceAccount(ns, 'ci', ['mirror'], { pull: 'yes' });
    nss.push(ns);
  }
  const foreign = await s.cluster.createSecret(nss[0]!, {
    metadata: { name: 'not-ours' },
    type: 'Opaque',
    stringData: { k: 'v' },
  });
  const foreignSecrets = [
    { namespace: nss[0]!, name: 'not-ours', resourceVersion: foreign.metadata!.resourceVersion! },
  ];
  const serviceAccounts = [
    { name: 'default', foreign: [] },
    { name: 'app', foreign: ['foreign-a', 'foreign-b'] },
    { name: 'ci', foreign: ['mirror'] },
  ];
  const forwardedBefore = proxy.counts().forwarded ?? 0;
  proxy.setFaults(SHARES, { retryAfterSeconds: 1 });

  // fan-out
  const cred = await s.credential('c', {
    registries: [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }],
    namespaceSelector: s.selectorWith({ group: 'in' }),
    namespaceNames: [`f*-${s.id}`],
    serviceAccounts: ['default'],
    serviceAccountSelector: { matchLabels: { pull: 'yes' } },
    secretName: 'pull',
    secretTemplate: { labels: { team: 'a', tier: 'gold' } },
  });
  const expected = {
    credential: cred,
    secretName: 'pull',
    selected: nss,
    deselected: [] as string[],
    serviceAccounts,
    foreignSecrets,
    passwords: { 'r.example.com': 'v1' },
    secretMetadata: { labels: { team: 'a', tier: 'gold' } },
  };
  await waitForInvariants(s.cluster, expected, 240_000);

  // rotation
  await s.cluster.setPassword(s.sourceNamespace, 'robot', 'v2');
  await waitForInvariants(s.cluster, { ...expected, passwords: { 'r.example.com': 'v2' } }, 240_000);

  // retargeting: the template edited, ci relabelled out of the selector in half the namespaces, app excluded
  const relabelled = new Set(nss.slice(0, NAMESPACES / 2));
  await s.cluster.patchCredentialSpec(cred, {
    secretTemplate: { labels: { team: 'b', tier: null } },
    excludeServiceAccounts: ['app'],
  });
  for (const ns of relabelled) await s.cluster.labelServiceAccount(ns, 'ci', { pull: null });
  const retargeted = {
    ...expected,
    passwords: { 'r.example.com': 'v2' },
    serviceAccounts: [
      { name: 'default', foreign: [] },
      { name: 'app', foreign: ['foreign-a', 'foreign-b'], selected: false },
      { name: 'ci', foreign: ['mirror'], selected: (ns: string) => !relabelled.has(ns) },
    ],
    secretMetadata: { labels: { team: 'b', tier: null } },
  };
  await waitForInvariants(s.cluster, retargeted, 240_000);

  // deselection of half
  const out = nss.slice(NAMESPACES / 2);
  for (const ns of out) await s.cluster.labelNamespace(ns, { group: 'out' });
  await waitForInvariants(
    s.cluster,
    { ...retargeted, selected: nss.slice(0, NAMESPACES / 2), deselected: out },
    240_000,
  );

  // deletion
  await s.cluster.deleteCredential(cred);
  await waitForInvariants(
    s.cluster,
    { ...retargeted, selected: [], deselected: nss, deleted: true, passwords: {} },
    240_000,
  );

  const counts = proxy.counts();
  proxy.setFaults({});
  const injected = ['tooManyRequests', 'internalError', 'unavailable', 'timeout', 'reset'].map((k) => counts[k] ?? 0);
  process.stderr.write(
    `[api-faults] seed ${SEED}: ${(counts.forwarded ?? 0) - forwardedBefore} requests forwarded; ` +
      `injected 429 ${injected[0]}, 500 ${injected[1]}, 503 ${injected[2]}, timeouts ${injected[3]}, ` +
      `resets ${injected[4]}; invariants held\n`,
  );
  // the faults really happened, each kind at least once
  for (const n of injected) expect(n).toBeGreaterThan(0);
  // retried writes: the operator saw failures and got past them (its own metric of API answers)
  expect(await s.operator.metric('regcred_api_requests_total', { code: '429' })).toBeGreaterThan(0);
}, 1_200_000);
