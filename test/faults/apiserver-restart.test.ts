// Fault 2: kube-apiserver restarts (same etcd, same port and certificates) while the operator runs
// and namespaces keep being created. The same operator process recovers its watches by itself and
// catches up: every namespace gets its Secret and its entry, and the status counts end exact.
// Right after a restart the API server answers 403 for a while (its RBAC cache warms up): writes
// in that window fail and are retried with backoff.
import { basicAuthSecret } from '../harness/cluster.js';
import { isAlive, restartApiServer } from '../../harness/controlplane.js';
import { faultsSize, waitForInvariants } from '../harness/invariants.js';
import { type Scenario, startScenario } from '../harness/scenario.js';
import { waitFor } from '../../harness/wait.js';

const RESTARTS = faultsSize() === 'full' ? 8 : 3;
const PER_ROUND = faultsSize() === 'full' ? 5 : 3;

let s: Scenario;
beforeAll(async () => {
  s = await startScenario('apirestart');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'p'));
});
afterAll(async () => s?.cleanup());

test(`${RESTARTS} API server restarts during namespace creation: watches recover, everything converges`, async () => {
  const cred = await s.credential('r', {
    registries: [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }],
    namespaceSelector: s.selector,
    serviceAccounts: ['default', 'app'],
  });
  const pid = s.operator.pid;
  const created: string[] = [];
  const addNamespace = async (prefix: string) => {
    const ns = await s.namespace(prefix);
    await s.cluster.createServiceAccount(ns, 'app', ['foreign-a']);
    created.push(ns);
  };
  const restartsBefore = await s.operator.metric('regcred_watch_restarts_total');
  for (let round = 0; round < RESTARTS; round++) {
    for (let i = 0; i < PER_ROUND; i++) await addNamespace(`r${round}-${i}`);
    await restartApiServer();
    // created right after the restart, while the operator's watches are re-established and RBAC warms up
    const ns = await waitFor(() => s.namespace(`after${round}`).catch(() => undefined), {
      what: 'the API server to accept writes again',
    });
    await waitFor(
      () =>
        s.cluster.createServiceAccount(ns, 'app', ['foreign-a']).then(
          () => true,
          () => false,
        ),
      { what: `ServiceAccount ${ns}/app created` },
    );
    created.push(ns);
  }
  await waitForInvariants(s.cluster, {
    credential: cred,
    secretName: cred,
    selected: created,
    deselected: [],
    serviceAccounts: [
      { name: 'default', foreign: [] },
      { name: 'app', foreign: ['foreign-a'] },
    ],
    passwords: { 'r.example.com': 'p' },
  });
  expect(s.operator.pid).toBe(pid);
  expect(isAlive(pid)).toBe(true);
  const restarts = (await s.operator.metric('regcred_watch_restarts_total')) - restartsBefore;
  // every restart cuts all five watches
  expect(restarts).toBeGreaterThanOrEqual(5 * RESTARTS);
  await waitFor(async () => (await fetch(s.operator.readyzUrl)).status === 200, {
    what: 'readiness back after the restarts',
  });
  process.stderr.write(
    `[apiserver-restart] ${RESTARTS} restarts, ${created.length} namespaces, ${restarts} watch restarts, invariants ` +
      `held\n`,
  );
}, 600_000);
