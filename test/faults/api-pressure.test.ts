// An API server under pressure, through harness/api-proxy.ts (setCapacity): first one that
// throttles like API Priority and Fairness with full queues (beyond 2 requests at once: 429 with
// Retry-After), then one that answers slowly (2 seats, every request holding one 300 ms, the rest
// queued). The operator runs with the flags deploy/ ships. It must back off (its in-flight bound,
// regcred_api_inflight_limit, falls; few 429s after the first), lose nothing (the invariants
// after a fan-out and a rotation), and grow its bound back once the pressure is gone.
import { basicAuthSecret } from '../harness/cluster.js';
import { type ApiProxy, startApiProxy } from '../../harness/api-proxy.js';
import { faultSeed, faultsSize, waitForInvariants } from '../harness/invariants.js';
import { type Scenario, startScenario } from '../harness/scenario.js';

const FULL = faultsSize() === 'full';
const NAMESPACES = FULL ? 60 : 16;
const MAX_INFLIGHT = 32;

let proxy: ApiProxy;
let s: Scenario;
/** The operator's in-flight bound, sampled every 100 ms while `sampling`. */
let lowest = MAX_INFLIGHT;
let sampler: NodeJS.Timeout | undefined;
beforeAll(async () => {
  proxy = await startApiProxy(faultSeed('api-pressure'));
  s = await startScenario('pressure', {
    wrapKubeconfig: (kc) => proxy.kubeconfigFor(kc),
    operatorArgs: ['--kube-api-timeout-seconds', '10'],
  });
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'v1'));
  sampler = setInterval(() => {
    s.operator
      .metric('regcred_api_inflight_limit')
      .then((limit) => (lowest = Math.min(lowest, limit)))
      .catch(() => undefined);
  }, 100);
});
afterAll(async () => {
  clearInterval(sampler);
  proxy?.setCapacity(undefined);
  await s?.cleanup();
  await proxy?.stop();
});

test(`throttled, then slow: the operator backs off, nothing is lost, and it recovers (${NAMESPACES} namespaces)`, async () => {
  const nss: string[] = [];
  for (let i = 0; i < NAMESPACES; i++) {
    const ns = await s.namespace(`p${i}`, { group: 'in' });
    await s.cluster.createServiceAccount(ns, 'app', ['foreign']);
    nss.push(ns);
  }
  const serviceAccounts = [
    { name: 'default', foreign: [] },
    { name: 'app', foreign: ['foreign'] },
  ];
  expect(await s.operator.metric('regcred_api_inflight_limit')).toBe(MAX_INFLIGHT);

  // 1. Throttling: a fan-out against 2 seats, 429 beyond them.
  proxy.setCapacity({ seats: 2, overflow: 'reject', serviceMs: 20 });
  const before = proxy.counts();
  lowest = MAX_INFLIGHT;
  const cred = await s.credential('c', {
    registries: [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }],
    namespaceSelector: s.selectorWith({ group: 'in' }),
    serviceAccounts: ['default', 'app'],
    secretName: 'pull',
  });
  const expected = {
    credential: cred,
    secretName: 'pull',
    selected: nss,
    deselected: [] as string[],
    serviceAccounts,
    foreignSecrets: [],
    passwords: { 'r.example.com': 'v1' },
  };
  await waitForInvariants(s.cluster, expected, 300_000);
  const throttled = {
    rejected: (proxy.counts().throttled ?? 0) - (before.throttled ?? 0),
    forwarded: (proxy.counts().forwarded ?? 0) - (before.forwarded ?? 0),
    lowest,
  };

  // 2. Slowness: a rotation against 2 seats held 300 ms each, the rest queued.
  proxy.setCapacity({ seats: 2, overflow: 'queue', serviceMs: 300 });
  lowest = MAX_INFLIGHT;
  const peakBefore = proxy.concurrency();
  await s.cluster.setPassword(s.sourceNamespace, 'robot', 'v2');
  await waitForInvariants(s.cluster, { ...expected, passwords: { 'r.example.com': 'v2' } }, 300_000);
  const slow = { lowest, peak: proxy.concurrency().peak };

  // 3. Pressure gone: the bound grows back as requests succeed. It grows by about one per window
  // of good answers, so the test gives it rotations (their writes) until it has grown, each one
  // held to the invariants; how many it took is printed.
  proxy.setCapacity(undefined);
  const afterPressure = await s.operator.metric('regcred_api_inflight_limit');
  let recovered = afterPressure;
  let rotations = 0;
  while (recovered <= afterPressure && rotations < 10) {
    rotations++;
    const password = `v${2 + rotations}`;
    await s.cluster.setPassword(s.sourceNamespace, 'robot', password);
    await waitForInvariants(s.cluster, { ...expected, passwords: { 'r.example.com': password } }, 120_000);
    recovered = await s.operator.metric('regcred_api_inflight_limit');
  }

  process.stderr.write(
    `[api-pressure] throttled fan-out: ${throttled.rejected} requests answered 429 of ` +
      `${throttled.forwarded + throttled.rejected}, bound down to ${throttled.lowest}; slow rotation: bound down to ` +
      `${slow.lowest}, at most ${slow.peak} requests at once at the proxy (before it: ${peakBefore.peak}); ` +
      `after: bound ${afterPressure} -> ${recovered} in ${rotations} rotation(s); invariants held\n`,
  );
  // backed off under throttling: the bound fell to the seats' order, and 429s stayed a minority
  expect(throttled.lowest).toBeLessThanOrEqual(4);
  expect(throttled.rejected).toBeGreaterThan(0);
  expect(throttled.rejected).toBeLessThan(throttled.forwarded);
  // backed off under slowness
  expect(slow.lowest).toBeLessThan(MAX_INFLIGHT);
  // recovers
  expect(recovered).toBeGreaterThan(afterPressure);
}, 1_200_000);
