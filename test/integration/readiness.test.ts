// /readyz answers 503 until every cache is synced and whenever the API server cannot be reached
// (watches dead), and 200 otherwise; /healthz stays 200 throughout (an unreachable API server is
// not a reason to restart the operator). A TCP proxy stands between this one operator and the API
// server, so only its connection is cut.
import { readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { httpGet, kubeconfigFor, kubectl, testEnv } from '../../harness/controlplane.js';
import { Cluster, uniqueSuffix } from '../harness/cluster.js';
import { type OperatorProcess, startOperator } from '../../harness/operator.js';
import { startTcpProxy, type TcpProxy } from '../harness/tcp-proxy.js';
import { waitFor } from '../../harness/wait.js';

const cluster = Cluster.admin();
const ns = `ready-${uniqueSuffix()}`;
let proxy: TcpProxy;
let op: OperatorProcess;

async function probe(url: string): Promise<{ status: number; body: string } | undefined> {
  try {
    return await httpGet(url);
  } catch {
    return undefined; // not listening yet
  }
}

const user = `readiness-${ns}`;
/** What the caches need, nothing more: this operator must not change the shared cluster. */
const readOnly = [
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: user },
    rules: [
      { apiGroups: [''], resources: ['namespaces', 'serviceaccounts', 'secrets', 'pods'], verbs: ['list', 'watch'] },
      { apiGroups: ['regcred.io'], resources: ['registrycredentials'], verbs: ['list', 'watch'] },
    ],
  },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: user },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: user },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
  },
];

beforeAll(async () => {
  await cluster.createNamespace(ns);
  expect(
    (
      await kubectl(['apply', '-f', '-'], {
        input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: readOnly }),
      })
    ).code,
  ).toBe(0);
  proxy = await startTcpProxy(testEnv().server, { startDown: true });
  const direct = JSON.parse(await readFile(await kubeconfigFor(user), 'utf8')) as {
    clusters: Array<{ cluster: { server: string } }>;
  };
  direct.clusters[0]!.cluster.server = proxy.url;
  const kubeconfig = path.join(testEnv().dir, `${user}-via-proxy.kubeconfig`);
  await writeFile(kubeconfig, JSON.stringify(direct), { mode: 0o600 });
  // No leader election: every request this process makes is one of its six caches'.
  op = await startOperator({ sourceNamespace: ns, user, kubeconfig, bindClusterAdmin: false, waitReady: false });
});

afterAll(async () => {
  await op?.stop();
  await proxy?.close();
  await cluster.deleteNamespace(ns);
  await kubectl(['delete', 'clusterrolebinding,clusterrole', user, '--ignore-not-found']);
});

const healthzUrl = () => op.readyzUrl.replace('/readyz', '/healthz');

test('503 before the caches are synced (the API server cannot be reached yet); /healthz 200', async () => {
  const first = await waitFor(() => probe(op.readyzUrl), { what: 'the probe server to listen' });
  expect(first).toEqual({ status: 503, body: 'starting\n' });
  expect((await httpGet(healthzUrl())).status).toBe(200);
  expect(await op.metric('regcred_ready')).toBe(0);
});

test('200 once the API server is reachable and every cache synced', async () => {
  proxy.up();
  await waitFor(async () => (await probe(op.readyzUrl))?.status === 200, { timeoutMs: 90_000, what: '/readyz 200' });
  expect(await op.logs()).toContain('caches synced');
  await waitFor(async () => (await op.metric('regcred_ready')) === 1, { what: 'regcred_ready 1' });
});

test('503 naming the dead watches while the API server is unreachable, 200 again after; /healthz 200 throughout', async () => {
  proxy.down();
  const notReady = await waitFor(
    async () => {
      const r = await probe(op.readyzUrl);
      return r?.status === 503 ? r : undefined;
    },
    { what: '/readyz 503' },
  );
  expect(notReady.body).toMatch(/^watch not healthy: /);
  // and it stays so while cut off: a watch that is being retried does not count as open
  const samples: number[] = [];
  await waitFor(
    async () => {
      samples.push((await probe(op.readyzUrl))?.status ?? 0);
      return samples.length >= 30;
    },
    { intervalMs: 100, what: '30 samples of /readyz' },
  );
  expect(samples.filter((code) => code !== 503)).toEqual([]);
  expect((await httpGet(healthzUrl())).status).toBe(200);
  await waitFor(async () => (await op.metric('regcred_ready')) === 0, { what: 'regcred_ready 0' });
  expect(await op.metric('regcred_watch_restarts_total')).toBeGreaterThan(0);
  proxy.up();
  await waitFor(async () => (await probe(op.readyzUrl))?.status === 200, {
    timeoutMs: 90_000,
    what: '/readyz 200 again',
  });
  expect((await httpGet(healthzUrl())).status).toBe(200);
});

test('503 while the API server silently drops packets: a watch that is still connecting is not an open watch', async () => {
  proxy.blackhole();
  await waitFor(async () => (await probe(op.readyzUrl))?.status === 503, { what: '/readyz 503' });
  // The watches fail, back off, and retry into the black hole, where they hang (until the idle
  // watchdog gives up). Once all five hang there, /readyz must still say 503.
  await waitFor(() => proxy.held() >= 5, { timeoutMs: 90_000, what: 'the five watches to hang in the black hole' });
  const samples: number[] = [];
  await waitFor(
    async () => {
      samples.push((await probe(op.readyzUrl))?.status ?? 0);
      return samples.length >= 20;
    },
    { intervalMs: 100, what: '20 samples of /readyz' },
  );
  expect(samples.filter((code) => code !== 503)).toEqual([]);
  expect((await httpGet(healthzUrl())).status).toBe(200);
  proxy.up();
  await waitFor(async () => (await probe(op.readyzUrl))?.status === 200, {
    timeoutMs: 90_000,
    what: '/readyz 200 again',
  });
});
