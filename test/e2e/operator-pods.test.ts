// The operator as Pods on the real node: its image built from the repository's unmodified
// Dockerfile (buildah, on a base made from this machine's Node.js), installed the two ways users
// install it, with nothing changed but the image:
// - deploy/install.yaml through a kustomize overlay that only overrides the image;
// - the Helm chart with --set image.repository/image.tag.
// What runs is what ships: two replicas Ready by their probes, uid 65532, a read-only root
// filesystem, leader election between the Pods, the in-cluster config (the `kubernetes` Service),
// the default source namespace (the Pod's own), its ServiceAccount's projected token with the
// shipped RBAC. A leader killed and a rollout restart in the middle of fan-outs lose nothing and
// write no Secret twice (the API server's audit log is the witness).
import type { V1Pod } from '@kubernetes/client-node';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { auditEvents, auditMark } from '../harness/audit.js';
import { basicAuthSecret, Cluster, uniqueSuffix } from '../harness/cluster.js';
import { httpGet, kubectl, run, runOk, testEnv } from '../../harness/controlplane.js';
import { ctr, trustRegistry } from '../harness/node.js';
import { type Registry, startRegistry } from '../harness/registry.js';
import { sumMetric } from '../../harness/operator.js';
import { waitForCondition, waitForPullSecrets, waitForSecret } from '../harness/scenario.js';
import { waitFor } from '../../harness/wait.js';
import {
  appImageLayout,
  nodeEnv,
  OPERATOR_IMAGE,
  operatorImageOnNode,
  podPullSecrets,
  Workloads,
} from '../harness/workloads.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const [IMAGE_REPOSITORY, IMAGE_TAG] = OPERATOR_IMAGE.split(':');
const OPERATOR_LABEL = 'app.kubernetes.io/name=regcred-operator';
/**
 * Namespaces per fan-out. With the shipped settings (no client-side QPS, an adaptive in-flight bound)
 * 120 namespaces took well under a second here, so the kill could land after the last copy: 240.
 */
const FAN_OUT = 240;

const cluster = Cluster.admin();
const workloads = new Workloads();
let registry: Registry;
let workDir: string;
const createdNamespaces: string[] = [];
const credentials: string[] = [];

beforeAll(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'regcred-e2e-pods-'));
  const [image] = await Promise.all([
    operatorImageOnNode(),
    (async () => {
      // On the node's bridge address: the node pulls from it over TLS (certs.d) and the operator's
      // Pods reach it to verify credentials (loopback inside a Pod is the Pod's own).
      registry = await startRegistry({
        users: [{ username: 'deployer', password: 'dep1oy-Pa55' }],
        address: nodeEnv().gateway,
      });
      await trustRegistry(nodeEnv(), registry.host, registry.caFile);
      await registry.push(await appImageLayout('operator-pods'), '1', 'apps/web:1');
    })(),
  ]);
  process.stderr.write(
    `[e2e] operator image ${image.name} built from the Dockerfile in ${image.buildSeconds.toFixed(1)} s\n`,
  );
}, 900_000);

afterAll(async () => {
  for (const name of credentials) await cluster.deleteCredential(name);
  for (const ns of createdNamespaces) await cluster.deleteNamespace(ns);
  await registry?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
}, 300_000);

describe('installed with deploy/install.yaml (kustomize overlay: the image only)', () => {
  const ns = 'regcred-system';
  const serviceAccountUser = `system:serviceaccount:${ns}:regcred-operator`;
  let overlay: string;

  beforeAll(async () => {
    overlay = path.join(workDir, 'overlay');
    await runOk('mkdir', ['-p', overlay]);
    await writeFile(path.join(overlay, 'install.yaml'), await readFile(path.join(REPO_ROOT, 'deploy', 'install.yaml')));
    await writeFile(
      path.join(overlay, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources: [install.yaml]',
        'images:',
        `  - {name: ghcr.io/regcred-operator/regcred-operator, newName: ${IMAGE_REPOSITORY}, newTag: ${IMAGE_TAG}}`,
        '',
      ].join('\n'),
    );
    await kubectlOk(['apply', '-k', overlay]);
    await waitForDeployment(ns, 2);
  }, 300_000);

  afterAll(async () => {
    await saveOperatorLogs(ns);
    // RegistryCredentials first, while the operator runs (its finalizer cleans up), then the
    // install without the CRD (the other e2e files use it).
    await deleteCredentials();
    const rendered = await kubectlOk(['kustomize', overlay]);
    const withoutCrd = rendered
      .split(/^---$/m)
      .filter((doc) => !/^kind: CustomResourceDefinition$/m.test(doc))
      .join('\n---\n');
    await kubectl(['delete', '--wait=true', '--ignore-not-found', '-f', '-'], { input: withoutCrd });
  }, 300_000);

  test('two replicas Ready by their probes, uid 65532, a read-only root filesystem, one Lease holder, /metrics from the Pod IP', async () => {
    const pods = await operatorPods(ns);
    expect(pods).toHaveLength(2);
    for (const pod of pods) {
      expect(pod.spec?.containers[0].image).toBe(OPERATOR_IMAGE);
      const facts = JSON.parse(
        await kubectlOk(['-n', ns, 'exec', pod.metadata!.name!, '--', 'node', '-e', PROCESS_FACTS]),
      ) as ProcessFacts;
      expect(facts).toEqual({ uid: 65532, gid: 65532, writeApp: 'EROFS', writeTmp: 'EROFS', root: 'ro' });
    }
    const holder = await leaseHolder(ns, 'regcred-operator');
    const leader = pods.find((p) => holder.startsWith(`${p.metadata!.name}_`));
    expect(leader).toBeDefined();
    for (const pod of pods) {
      const ip = pod.status!.podIP!;
      const metrics = (await httpGet(`http://${ip}:8080/metrics`)).body;
      expect(sumMetric(metrics, 'regcred_leader')).toBe(pod === leader ? 1 : 0);
      expect(sumMetric(metrics, 'regcred_ready')).toBe(1);
      expect((await httpGet(`http://${ip}:8081/readyz`)).status).toBe(200);
      expect((await httpGet(`http://${ip}:8081/healthz`)).status).toBe(200);
    }
  });

  test('in-cluster config, the default source namespace, the shipped RBAC: a Pod pulls with what the Pods of the operator wrote', async () => {
    await createSourceSecrets(ns);
    const app = await namespace('app', { 'e2e-pods': 'app' });
    const mark = await auditMark();
    const cred = await credential('pods-app', {
      registries: [
        {
          server: registry.host,
          basicAuth: { secretName: 'deployer-robot' },
          verify: { caSecretName: 'registry-ca', repository: 'apps/web' },
        },
      ],
      namespaceSelector: { matchLabels: { 'e2e-pods': 'app' } },
    });
    await waitForPullSecrets(cluster, app, 'default', [cred]);
    await workloads.createPod(app, 'web', [`${registry.host}/apps/web:1`]);
    const pod = await workloads.waitForRunning(app, 'web');
    expect(podPullSecrets(pod)).toEqual([cred]);
    // The copy was written with the projected token of the Pods' own ServiceAccount: a bound token
    // names its Pod (no other identity wrote the copy).
    const writers = (await auditEvents())
      .slice(mark)
      .filter((e) => e.objectRef?.resource === 'secrets' && e.objectRef.namespace === app && e.verb === 'create');
    expect(writers.map((e) => e.user.username)).toEqual([serviceAccountUser]);
    const operatorPodNames = (await operatorPods(ns)).map((p) => p.metadata!.name);
    expect(operatorPodNames).toContain(writers[0].user.extra?.['authentication.kubernetes.io/pod-name']?.[0]);
    // The leader Pod checked the credential against the registry over the Pod network.
    const verified = await waitForCondition(cluster, cred, 'CredentialsVerified', { status: 'True' });
    expect(verified.message).toBe('1 of 1 registries verified');
  });

  test("the leader's container killed in the middle of a fan-out: every namespace converges, no Secret is written twice", async () => {
    const group = await namespaceGroup(FAN_OUT, 'killed');
    // The leader is looked up before the fan-out starts, so that nothing but `ctr` stands between
    // its first copy and the freeze.
    const leader = await leaderPod(ns);
    const container = containerId(leader);
    const mark = await auditMark();
    const cred = await credential('pods-kill', fanOutSpec('killed'));
    // Freeze the leader at its first copy (so the kill lands mid-fan-out however fast it runs),
    // then SIGKILL it while frozen: runc thaws a paused container it kills, and the pending
    // SIGKILL ends the process before it runs another instruction.
    await waitForCopies(cred, 1);
    await ctrOk(['tasks', 'pause', container]);
    const copiesAtKill = await countCopies(cred);
    await ctrOk(['tasks', 'kill', '--signal', 'SIGKILL', container]);
    expect(copiesAtKill).toBeLessThan(FAN_OUT);
    process.stderr.write(
      `[e2e] leader ${leader.metadata!.name} killed with ${copiesAtKill}/${FAN_OUT} copies written\n`,
    );

    await waitForConverged(cred, group);
    // The killed container restarted and is Ready again (a standby now, or the leader again).
    await waitFor(
      async () => {
        const pod = await workloads.pod(ns, leader.metadata!.name!);
        const status = pod?.status?.containerStatuses?.[0];
        return (status?.restartCount ?? 0) >= 1 && status?.ready;
      },
      { timeoutMs: 120_000, what: 'the killed operator container to restart and be Ready' },
    );
    await expectEachWrittenOnce(mark, group, serviceAccountUser);
  });

  test('a rollout restart in the middle of a fan-out, namespaces arriving throughout: every namespace converges, no Secret is written twice', async () => {
    const group = await namespaceGroup(FAN_OUT, 'rollout');
    const mark = await auditMark();
    const before = new Set((await operatorPods(ns)).map((p) => p.metadata!.name!));
    const cred = await credential('pods-rollout', fanOutSpec('rollout'));
    await waitForCopies(cred, 1);
    await kubectlOk(['-n', ns, 'rollout', 'restart', 'deployment/regcred-operator']);
    const copiesAtRestart = await countCopies(cred);
    // Namespaces keep arriving, one at a time, until the old Pods are gone.
    const late: string[] = [];
    await waitFor(
      async () => {
        late.push(await namespace(`rollout-late-${late.length}`, { 'e2e-pods': 'rollout' }));
        const pods = await operatorPods(ns, true);
        return pods.length === 2 && pods.every((p) => !before.has(p.metadata!.name!) && isReadyPod(p));
      },
      { timeoutMs: 240_000, intervalMs: 200, what: 'the rollout to replace both operator Pods' },
    );
    await waitForDeployment(ns, 2);
    process.stderr.write(
      `[e2e] rollout restart with ${copiesAtRestart}/${FAN_OUT} copies written; ${late.length} namespaces ` +
        `created during the rollout\n`,
    );

    await waitForConverged(cred, [...group, ...late]);
    const holder = await leaseHolder(ns, 'regcred-operator');
    expect((await operatorPods(ns)).some((p) => holder.startsWith(`${p.metadata!.name}_`))).toBe(true);
    await expectEachWrittenOnce(mark, [...group, ...late], serviceAccountUser);
  });
});

describe('installed with the Helm chart (--set image.repository/tag)', () => {
  const ns = 'regcred-helm';
  // the release name users choose in the README (the chart's names are then plain regcred-operator)
  const release = 'regcred-operator';
  let helm: string;

  beforeAll(async () => {
    helm = (await runOk('bash', [path.join(REPO_ROOT, 'hack', 'build-helm.sh')])).trim().split('\n').pop()!;
    await runOk(
      helm,
      [
        'install',
        release,
        path.join(REPO_ROOT, 'deploy', 'helm', 'regcred-operator'),
        '--kubeconfig',
        cluster.kubeconfigPath,
        '--namespace',
        ns,
        '--create-namespace',
        '--set',
        `image.repository=${IMAGE_REPOSITORY}`,
        '--set',
        `image.tag=${IMAGE_TAG}`,
      ],
      { timeoutMs: 120_000 },
    );
    await waitForDeployment(ns, 2);
  }, 300_000);

  afterAll(async () => {
    await saveOperatorLogs(ns);
    await deleteCredentials();
    if (helm)
      await run(helm, ['uninstall', release, '--kubeconfig', cluster.kubeconfigPath, '--namespace', ns, '--wait'], {
        timeoutMs: 120_000,
      });
    await cluster.deleteNamespace(ns);
  }, 300_000);

  test('two replicas Ready, one Lease holder in the release namespace, a RegistryCredential served from it', async () => {
    const pods = await operatorPods(ns);
    expect(pods).toHaveLength(2);
    const holder = await leaseHolder(ns, 'regcred-operator');
    expect(pods.filter((p) => holder.startsWith(`${p.metadata!.name}_`))).toHaveLength(1);
    for (const pod of pods) {
      const facts = JSON.parse(
        await kubectlOk(['-n', ns, 'exec', pod.metadata!.name!, '--', 'node', '-e', PROCESS_FACTS]),
      ) as ProcessFacts;
      expect(facts).toMatchObject({ uid: 65532, writeApp: 'EROFS', root: 'ro' });
    }
    await createSourceSecrets(ns);
    const app = await namespace('helm-app', { 'e2e-pods': 'helm' });
    const cred = await credential('helm-app', {
      registries: [
        { server: registry.host, basicAuth: { secretName: 'deployer-robot' }, verify: { caSecretName: 'registry-ca' } },
      ],
      namespaceSelector: { matchLabels: { 'e2e-pods': 'helm' } },
    });
    await waitForPullSecrets(cluster, app, 'default', [cred]);
    await workloads.createPod(app, 'web', [`${registry.host}/apps/web:1`]);
    await workloads.waitForRunning(app, 'web');
    await waitForCondition(cluster, cred, 'CredentialsVerified', { status: 'True' });
  });
});

// ---------------------------------------------------------------------------------------------

/** Run inside an operator container: who it runs as and whether its filesystem is writable. */
const PROCESS_FACTS = `
const fs = require('fs');
const tryWrite = (p) => { try { fs.writeFileSync(p, 'x'); return 'written'; } catch (e) { return e.code; } };
const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\\n').map((line) => line.split(' '));
const root = mounts.find((fields) => fields[1] === '/');
process.stdout.write(JSON.stringify({
  uid: process.getuid(), gid: process.getgid(),
  writeApp: tryWrite('/app/x'), writeTmp: tryWrite('/tmp/x'), root: root[3].split(',')[0],
}));
`;
interface ProcessFacts {
  uid: number;
  gid: number;
  writeApp: string;
  writeTmp: string;
  root: string;
}

/**
 * The operator Pods' logs (and the killed container's previous one) into the control plane's dir, kept with
 * REGCRED_KEEP_TEST_DIRS=1.
 */
async function saveOperatorLogs(ns: string): Promise<void> {
  const out: string[] = [];
  for (const pod of await operatorPods(ns, true)) {
    for (const previous of [true, false]) {
      const res = await kubectl(['-n', ns, 'logs', pod.metadata!.name!, ...(previous ? ['--previous'] : [])]);
      if (res.code === 0)
        out.push(`=== ${pod.metadata!.name}${previous ? ' (previous container)' : ''}\n${res.stdout}`);
    }
  }
  await writeFile(path.join(testEnv().dir, `operator-pods-${ns}.log`), out.join('\n'));
}

async function kubectlOk(args: string[], input?: string): Promise<string> {
  const res = await kubectl(args, { input });
  if (res.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${res.stderr.trim()}`);
  return res.stdout;
}

async function ctrOk(args: string[]): Promise<void> {
  const res = await ctr(nodeEnv(), args);
  if (res.code !== 0) throw new Error(`ctr ${args.join(' ')}: ${res.stderr.trim()}`);
}

async function namespace(prefix: string, labels: Record<string, string>): Promise<string> {
  const name = `${prefix}-${uniqueSuffix()}`;
  await cluster.createNamespace(name, labels);
  createdNamespaces.push(name);
  return name;
}

async function namespaceGroup(n: number, group: string): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < n; i += 10) {
    names.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(10, n - i) }, () => namespace(group, { 'e2e-pods': group })),
      )),
    );
  }
  return names;
}

async function credential(prefix: string, spec: Record<string, unknown>): Promise<string> {
  const name = `${prefix}-${uniqueSuffix()}`;
  await cluster.createCredential(name, spec);
  credentials.push(name);
  return name;
}

/**
 * The source Secrets of the e2e registry in the operator's source namespace: the robot account and the registry's CA.
 */
async function createSourceSecrets(ns: string): Promise<void> {
  await cluster.createSecret(ns, basicAuthSecret('deployer-robot', 'deployer', 'dep1oy-Pa55'));
  await cluster.createSecret(ns, {
    metadata: { name: 'registry-ca' },
    stringData: { 'ca.crt': await readFile(registry.caFile, 'utf8') },
  });
}

function fanOutSpec(group: string): Record<string, unknown> {
  return {
    registries: [
      { server: registry.host, basicAuth: { secretName: 'deployer-robot' }, verify: { caSecretName: 'registry-ca' } },
    ],
    namespaceSelector: { matchLabels: { 'e2e-pods': group } },
  };
}

async function deleteCredentials(): Promise<void> {
  for (const name of credentials.splice(0)) await cluster.deleteCredential(name);
  await waitFor(
    async () => {
      const list = (await cluster.custom.listClusterCustomObject({
        group: 'regcred.io',
        version: 'v1alpha1',
        plural: 'registrycredentials',
      })) as { items: unknown[] };
      return list.items.length === 0;
    },
    { timeoutMs: 120_000, what: 'every RegistryCredential to be cleaned up and gone' },
  );
}

async function operatorPods(ns: string, includeTerminating = false): Promise<V1Pod[]> {
  const pods = (await workloads.core.listNamespacedPod({ namespace: ns, labelSelector: OPERATOR_LABEL })).items;
  return includeTerminating ? pods : pods.filter((p) => !p.metadata?.deletionTimestamp);
}

function isReadyPod(pod: V1Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** The Deployment rolled out: `replicas` Pods of the current template Ready, no other Pods left. */
async function waitForDeployment(ns: string, replicas: number, name = 'regcred-operator'): Promise<void> {
  await waitFor(
    async () => {
      const d = await workloads.apps.readNamespacedDeployment({ namespace: ns, name });
      const s = d.status ?? {};
      const done =
        (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
        s.replicas === replicas &&
        s.updatedReplicas === replicas &&
        s.readyReplicas === replicas &&
        s.availableReplicas === replicas;
      return done && (await operatorPods(ns, true)).length === replicas;
    },
    { timeoutMs: 180_000, intervalMs: 250, what: `deployment ${ns}/${name}: ${replicas} replicas Ready, nothing else` },
  );
}

async function leaseHolder(ns: string, name: string): Promise<string> {
  return waitFor(
    async () => {
      const lease = JSON.parse(await kubectlOk(['-n', ns, 'get', 'lease', name, '-o', 'json'])) as {
        spec?: { holderIdentity?: string };
      };
      return lease.spec?.holderIdentity || undefined;
    },
    { timeoutMs: 60_000, what: `a holder of Lease ${ns}/${name}` },
  );
}

async function leaderPod(ns: string): Promise<V1Pod> {
  const holder = await leaseHolder(ns, 'regcred-operator');
  const pod = (await operatorPods(ns)).find((p) => holder.startsWith(`${p.metadata!.name}_`));
  if (!pod) throw new Error(`no operator Pod holds the Lease (holder ${holder})`);
  return pod;
}

function containerId(pod: V1Pod): string {
  const id = pod.status?.containerStatuses?.[0]?.containerID ?? '';
  if (!id.startsWith('containerd://')) throw new Error(`unexpected container id "${id}"`);
  return id.slice('containerd://'.length);
}

async function countCopies(cred: string): Promise<number> {
  const list = await cluster.core.listSecretForAllNamespaces({ labelSelector: `regcred.io/credential=${cred}` });
  return list.items.length;
}

function waitForCopies(cred: string, n: number): Promise<number> {
  return waitFor(
    async () => {
      const count = await countCopies(cred);
      return count >= n ? count : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 20, what: `${n} copies of ${cred}` },
  );
}

/** Every namespace has the copy and its default SA lists it; the status says so. */
async function waitForConverged(cred: string, group: string[]): Promise<void> {
  for (const ns of group) {
    await waitForSecret(cluster, ns, cred, () => true, 180_000);
    await waitForPullSecrets(cluster, ns, 'default', [cred], 180_000);
  }
  await waitFor(
    async () => {
      const status = (await cluster.getCredential(cred))?.status;
      const ready = status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      return ready && status?.namespaces?.selected === group.length && status.namespaces.ready === group.length;
    },
    { timeoutMs: 120_000, what: `${cred} Ready with ${group.length}/${group.length} namespaces` },
  );
  await waitForCondition(cluster, cred, 'Propagated', { status: 'True' });
}

/** From the audit log: one successful create per copy, no other write to it, one patch per SA, no failed attempt. */
async function expectEachWrittenOnce(mark: number, group: string[], user: string): Promise<void> {
  const inGroup = new Set(group);
  const writes = (await auditEvents())
    .slice(mark)
    .filter(
      (e) =>
        e.user.username === user &&
        inGroup.has(e.objectRef?.namespace ?? '') &&
        ['create', 'update', 'patch', 'delete'].includes(e.verb) &&
        (e.objectRef?.resource === 'secrets' || e.objectRef?.resource === 'serviceaccounts'),
    );
  const byObject = new Map<string, string[]>();
  for (const e of writes) {
    const key = `${e.objectRef!.resource} ${e.objectRef!.namespace}`;
    byObject.set(key, [...(byObject.get(key) ?? []), `${e.verb} ${e.responseStatus?.code}`]);
  }
  const unexpected = [...byObject].filter(
    ([key, list]) =>
      list.length !== 1 ||
      !/^(create|patch) 20[01]$/.test(list[0]) ||
      (key.startsWith('secrets') && !list[0].startsWith('create')),
  );
  expect(unexpected).toEqual([]);
  for (const ns of group) {
    expect(byObject.get(`secrets ${ns}`)).toEqual(['create 201']);
    expect(byObject.get(`serviceaccounts ${ns}`)).toHaveLength(1);
  }
}
