// Fault 3: dropped and stale watches, injected by harness/api-proxy.ts between the operator
// and the API server: streams cut mid-way, 410 Gone when a watch resumes from its
// resourceVersion, and watches that stay open but deliver nothing (new ones never answered).
// Each is detected (the watchdog for the silent ones: --watch-idle-timeout-seconds 5), counted in
// regcred_watch_restarts_total{informer,reason}, reflected in /readyz, and followed by a resume or
// a re-list that catches up.
import { basicAuthSecret } from '../harness/cluster.js';
import { type ApiProxy, startApiProxy } from '../../harness/api-proxy.js';
import { faultSeed, faultsSize, waitForInvariants } from '../harness/invariants.js';
import { type Scenario, startScenario } from '../harness/scenario.js';
import { waitFor } from '../../harness/wait.js';

const FULL = faultsSize() === 'full';
const CUTS = FULL ? 20 : 5;
const GONE_ROUNDS = FULL ? 5 : 2;
const STALLS = FULL ? 3 : 1;
const SEED = faultSeed('watch-faults');
const INFORMERS = 5;

let proxy: ApiProxy;
let s: Scenario;
beforeAll(async () => {
  proxy = await startApiProxy(SEED);
  s = await startScenario('watchfaults', {
    wrapKubeconfig: (kc) => proxy.kubeconfigFor(kc),
    operatorArgs: ['--watch-idle-timeout-seconds', '5'],
  });
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'p'));
});
afterAll(async () => {
  proxy?.stallWatches(false);
  await s?.cleanup();
  await proxy?.stop();
});

const restarts = (reason?: string) => s.operator.metric('regcred_watch_restarts_total', reason ? { reason } : {});
const readyz = async () => (await fetch(s.operator.readyzUrl)).status;

test('cut, 410 on resume and silent watches: detected, re-listed or resumed, converged', async () => {
  const cred = await s.credential('w', {
    registries: [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }],
    namespaceSelector: s.selector,
  });
  const nss: string[] = [];
  const expected = () => ({
    credential: cred,
    secretName: cred,
    selected: nss,
    deselected: [],
    serviceAccounts: [{ name: 'default', foreign: [] }],
  });

  // 1. streams cut mid-way while namespaces are created
  const cutRestartsBefore = await restarts();
  let cut = 0;
  for (let i = 0; i < CUTS; i++) {
    await waitFor(() => proxy.openWatches() >= INFORMERS, { what: 'every watch open again through the proxy' });
    nss.push(await s.namespace(`cut${i}`));
    cut += proxy.cutWatches();
  }
  await waitForInvariants(s.cluster, expected());
  expect(await restarts()).toBeGreaterThanOrEqual(cutRestartsBefore + cut);

  // 2. 410 Gone when the watches resume: a re-list each time, diffed into the caches
  const goneBefore = await restarts('Gone');
  for (let round = 0; round < GONE_ROUNDS; round++) {
    await waitFor(() => proxy.openWatches() >= INFORMERS, { what: 'every watch open again through the proxy' });
    proxy.goneOnResume(INFORMERS);
    proxy.cutWatches();
    nss.push(await s.namespace(`gone${round}`));
    await waitFor(async () => (await restarts('Gone')) >= goneBefore + INFORMERS * (round + 1), {
      what: `round ${round}: every informer re-listed after 410`,
    });
  }
  await waitForInvariants(s.cluster, expected());

  // 3. silent watches: open streams stop delivering and new watch requests get no answer
  for (let round = 0; round < STALLS; round++) {
    const idleBefore = await restarts('Idle');
    const stalledBefore = proxy.counts().watchStalled ?? 0;
    proxy.stallWatches(true);
    const quiet = await s.namespace(`stall${round}`);
    // the watchdog notices (no event or bookmark for 5 s) and the operator reports not ready
    await waitFor(async () => (await restarts('Idle')) > idleBefore, {
      timeoutMs: 60_000,
      what: 'the watchdog to restart a silent watch',
    });
    await waitFor(async () => (await readyz()) === 503, {
      timeoutMs: 60_000,
      what: '/readyz 503 while the watches are dead',
    });
    // the restarted watches are not answered either: still not ready
    await waitFor(() => (proxy.counts().watchStalled ?? 0) > stalledBefore, {
      what: 'a new watch request held unanswered',
    });
    expect(await readyz()).toBe(503);
    // nothing reached the operator meanwhile: the new namespace is not served
    expect(await s.cluster.getSecret(quiet, cred)).toBeUndefined();
    proxy.stallWatches(false);
    nss.push(quiet);
    await waitForInvariants(s.cluster, expected());
    await waitFor(async () => (await readyz()) === 200, { what: '/readyz 200 once the watches deliver again' });
  }

  const byReason = Object.fromEntries(
    await Promise.all(['Transient', 'StreamError', 'Gone', 'Idle'].map(async (r) => [r, await restarts(r)] as const)),
  );
  process.stderr.write(
    `[watch-faults] seed ${SEED}: ${cut} streams cut, ${GONE_ROUNDS} rounds of 410 on resume, ${STALLS} stalls; ` +
      `watch restarts by reason ${JSON.stringify(byReason)}; proxy ${JSON.stringify(proxy.counts())}; ` +
      'invariants held\n',
  );
}, 900_000);
