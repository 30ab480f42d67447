// Leader election: several operator processes on one Lease; only the leader writes. Killing the
// leader (SIGKILL: no release) lets a standby take over once the Lease expires, and a change made
// after the kill converges; stopping a leader normally (SIGTERM) releases the Lease for the next.
// A leader cut off from the API server exits (after the 10 s renew deadline, before its 15 s
// Lease can expire: the ordering itself is unit-tested with a fake clock). The API server's audit
// log tells each process's requests apart (one client certificate each).
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import { auditMark, describeRequests, requestsSince, writesSince } from '../harness/audit.js';
import { basicAuthSecret, Cluster, uniqueSuffix } from '../harness/cluster.js';
import { readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { isAlive, kubeconfigFor, testEnv } from '../../harness/controlplane.js';
import { type OperatorProcess, startOperator } from '../../harness/operator.js';
import { startTcpProxy } from '../harness/tcp-proxy.js';
import {
  passwordFor,
  type Scenario,
  startScenario,
  waitForCondition,
  waitForPullSecrets,
  waitForSecret,
} from '../harness/scenario.js';
import { waitFor } from '../../harness/wait.js';

const leaseNamespace = `lease-${uniqueSuffix()}`;
const leaseName = 'regcred-operator-test';
const electionArgs = [
  '--leader-elect',
  '--leader-election-namespace',
  leaseNamespace,
  '--leader-election-id',
  leaseName,
];

let s: Scenario;
let standby: OperatorProcess;
const extra: OperatorProcess[] = [];

async function isLeader(op: OperatorProcess): Promise<boolean> {
  return (await op.metric('regcred_leader')) === 1;
}

async function leaseHolder(): Promise<string> {
  const kc = new KubeConfig();
  kc.loadFromFile(s.cluster.kubeconfigPath);
  const lease = await kc
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease({ namespace: leaseNamespace, name: leaseName });
  return lease.spec?.holderIdentity ?? '';
}

beforeAll(async () => {
  await Cluster.admin().createNamespace(leaseNamespace);
  s = await startScenario('leader', { operatorArgs: electionArgs });
  await waitFor(() => isLeader(s.operator), { what: 'the first operator to lead' });
  standby = await startOperator({
    sourceNamespace: s.sourceNamespace,
    user: `${s.operator.user}-b`,
    args: electionArgs,
  });
  extra.push(standby);
});

afterAll(async () => {
  await s?.cleanup();
  for (const op of extra) await op.stop();
  await s?.cluster.deleteNamespace(leaseNamespace);
});

test('only the leader writes; the standby syncs its caches, is ready, and writes nothing', async () => {
  const mark = await auditMark();
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'before-kill'));
  const nss = await Promise.all(['l1', 'l2'].map((p) => s.namespace(p)));
  for (const ns of nss) await s.cluster.createServiceAccount(ns, 'app');
  const cred = await s.credential('le', {
    registries: [{ server: 'le.example.com', basicAuth: { secretName: 'robot' } }],
    namespaceSelector: s.selector,
    serviceAccounts: ['default', 'app'],
  });
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  for (const ns of nss) await waitForPullSecrets(s.cluster, ns, 'app', [cred]);

  expect(await isLeader(standby)).toBe(false);
  expect(await isLeader(s.operator)).toBe(true);
  // The standby's queue holds the work (its caches are live), but no worker ran.
  expect(await standby.metric('regcred_reconcile_total')).toBe(0);
  expect(await standby.metric('regcred_ready')).toBe(1);
  expect(describeRequests(await writesSince(mark, standby.user))).toEqual([]);
  const leaderWrites = await writesSince(mark, s.operator.user);
  expect(leaderWrites.filter((e) => e.objectRef?.resource === 'secrets').length).toBeGreaterThanOrEqual(nss.length);
  // The standby only reads the Lease (and watches its caches).
  const standbyRequests = await requestsSince(mark, standby.user);
  expect(standbyRequests.filter((e) => e.objectRef?.resource === 'leases').every((e) => e.verb === 'get')).toBe(true);
});

test('SIGKILL the leader: the standby takes over and converges a change made after the kill', async () => {
  const cred = `le-${s.id}`;
  await s.operator.kill();
  const mark = await auditMark();
  // Changes made while nobody leads: a rotation and a new namespace.
  const source = (await s.cluster.getSecret(s.sourceNamespace, 'robot'))!;
  await s.cluster.replaceSecret({ ...source, data: undefined, stringData: { username: 'u', password: 'after-kill' } });
  const late = await s.namespace('late');

  await waitFor(() => isLeader(standby), { timeoutMs: 60_000, what: 'the standby to take over the Lease' });
  await waitForSecret(s.cluster, late, cred, (sec) => passwordFor(sec, 'le.example.com') === 'after-kill');
  for (const ns of [`l1-${s.id}`, `l2-${s.id}`])
    await waitForSecret(s.cluster, ns, cred, (sec) => passwordFor(sec, 'le.example.com') === 'after-kill');
  await waitForPullSecrets(s.cluster, late, 'default', [cred]);
  const writes = await writesSince(mark, standby.user);
  expect(writes.some((e) => e.objectRef?.resource === 'leases' && e.verb === 'update')).toBe(true);
  expect(writes.filter((e) => e.objectRef?.resource === 'secrets').length).toBeGreaterThanOrEqual(3);
  expect(await leaseHolder()).not.toBe('');
  // From here on the former standby is the scenario's operator (it removes the finalizers at cleanup).
  s.operator = standby;
  extra.splice(extra.indexOf(standby), 1);
});

test('SIGTERM the leader: it releases the Lease and the next standby takes over', async () => {
  const cred = `le-${s.id}`;
  const next = await startOperator({
    sourceNamespace: s.sourceNamespace,
    user: `${s.operator.user}-c`,
    args: electionArgs,
  });
  extra.push(next);
  expect(await isLeader(next)).toBe(false);
  const leader = s.operator;
  await leader.stop();
  expect(await leader.logs()).toContain('leader election: released the lock');
  const mark = await auditMark();
  const later = await s.namespace('later');
  await waitFor(() => isLeader(next), { timeoutMs: 60_000, what: 'the next standby to take over the released Lease' });
  await waitForSecret(s.cluster, later, cred);
  expect(
    (await writesSince(mark, next.user)).some((e) => e.objectRef?.resource === 'secrets' && e.verb === 'create'),
  ).toBe(true);
  s.operator = next;
  extra.splice(extra.indexOf(next), 1);
});

test('a leader cut off from the API server gives up and exits; a standby takes over and converges', async () => {
  const cred = `le-${s.id}`;
  // D reaches the API server only through a proxy the test can cut.
  const proxy = await startTcpProxy(testEnv().server);
  try {
    const userD = `${s.operator.user}-d`;
    const direct = JSON.parse(await readFile(await kubeconfigFor(userD), 'utf8')) as {
      clusters: Array<{ cluster: { server: string } }>;
    };
    direct.clusters[0]!.cluster.server = proxy.url;
    const viaProxy = path.join(testEnv().dir, `${userD}-via-proxy.kubeconfig`);
    await writeFile(viaProxy, JSON.stringify(direct), { mode: 0o600 });
    const d = await startOperator({
      sourceNamespace: s.sourceNamespace,
      user: userD,
      kubeconfig: viaProxy,
      bindClusterAdmin: true,
      args: electionArgs,
    });
    extra.push(d);
    await s.operator.stop(); // releases: D is the only candidate
    await waitFor(() => isLeader(d), { timeoutMs: 60_000, what: 'D to lead' });
    const e = await startOperator({
      sourceNamespace: s.sourceNamespace,
      user: `${s.operator.user}-e`,
      args: electionArgs,
    });
    extra.push(e);

    proxy.down();
    await waitFor(() => !isAlive(d.pid), { timeoutMs: 60_000, what: 'the cut-off leader to exit' });
    expect(await d.logs()).toContain('leader election: lost the lock');
    const gone = await s.namespace('gone');
    await waitFor(() => isLeader(e), { timeoutMs: 60_000, what: 'the standby to take over' });
    await waitForSecret(s.cluster, gone, cred);
    s.operator = e;
    extra.splice(extra.indexOf(e), 1);
  } finally {
    await proxy.close();
  }
});
