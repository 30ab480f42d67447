// Resilience: kube-apiserver restarts (same etcd) while the operator runs and namespaces keep being
// created. The operator recovers its watches by itself — same process, no restart — and catches up.
import { basicAuthSecret } from '../harness/cluster.js';
import { isAlive, restartApiServer } from '../harness/controlplane.js';
import { type Scenario, startScenario, waitForCondition, waitForPullSecrets, waitForSecret } from '../harness/scenario.js';
import { waitFor } from '../harness/wait.js';

let s: Scenario;
beforeAll(async () => {
  s = await startScenario('apirestart');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'p'));
});
afterAll(async () => s?.cleanup());

test('three API server restarts during namespace creation: watches recover, everything converges', async () => {
  const cred = await s.credential('r', { registries: [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }], namespaceSelector: s.selector });
  const pid = s.operator.pid;
  const created: string[] = [];
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 3; i++) created.push(await s.namespace(`r${round}-${i}`));
    await restartApiServer();
    // namespaces created right after the restart, while the operator's watches are re-established
    created.push(await waitFor(() => s.namespace(`after${round}`).catch(() => undefined), { what: 'the API server to accept writes again' }));
  }
  for (const ns of created) {
    await waitForSecret(s.cluster, ns, cred, () => true, 120_000);
    await waitForPullSecrets(s.cluster, ns, 'default', [cred], 120_000);
  }
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' }, 120_000);
  expect((await s.cluster.getCredential(cred))!.status!.namespaces).toEqual({ selected: created.length, ready: created.length, failed: 0 });
  expect(s.operator.pid).toBe(pid);
  expect(isAlive(pid)).toBe(true);
  expect(await s.operator.metric('regcred_watch_restarts_total')).toBeGreaterThan(0);
  await waitFor(async () => (await fetch(s.operator.readyzUrl)).status === 200, { what: 'readiness back after the restarts' });
});
