// Stuck pods on the real node: a Deployment applied before its RegistryCredential goes
// ImagePullBackOff with the registry's 401 (the kubelet's own Events); with podRecovery its Pod is
// evicted and the recreated one pulls and runs, without anyone touching it; without podRecovery,
// with a PodDisruptionBudget that allows no disruption, for a bare Pod, for a Pod failing for
// another reason or pulling from a registry the credential does not serve, nothing is evicted.
import { AppsV1Api, KubeConfig, PolicyV1Api, type V1Pod } from '@kubernetes/client-node';
import { basicAuthSecret } from '../harness/cluster.js';
import { testEnv } from '../../harness/controlplane.js';
import { trustRegistry } from '../harness/node.js';
import { type Registry, type RegistryUser, startRegistry } from '../harness/registry.js';
import { type Scenario, startScenario, waitForCondition, waitForPullSecrets } from '../harness/scenario.js';
import { waitFor } from '../../harness/wait.js';
import { appImageLayout, isRunning, nodeEnv, podPullSecrets, waitingReasons, Workloads } from '../harness/workloads.js';

const robot: RegistryUser = { username: 'robot', password: 'r0bot-Pa55' };
const other: RegistryUser = { username: 'other', password: 'other-Pa55' };

let s: Scenario;
let w: Workloads;
let policy: PolicyV1Api;
let apps: AppsV1Api;
let served: Registry;
let notServed: Registry;

beforeAll(async () => {
  w = new Workloads();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(testEnv().adminKubeconfig);
  policy = kubeConfig.makeApiClient(PolicyV1Api);
  apps = kubeConfig.makeApiClient(AppsV1Api);
  [served, notServed] = await Promise.all(
    [robot, other].map(async (user) => {
      // on the node's bridge address: a missing tag then reads "not found" in the Pod's Events (see trustRegistry)
      const registry = await startRegistry({ users: [user], address: nodeEnv().gateway });
      await trustRegistry(nodeEnv(), registry.host, registry.caFile);
      await registry.push(await appImageLayout(`recovery-${user.username}`), '1', 'team/app:1');
      return registry;
    }),
  );
  s = await startScenario('stuck');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', robot.username, robot.password));
}, 300_000);

afterAll(async () => {
  await s?.cleanup();
  for (const registry of [served, notServed]) await registry?.stop();
}, 300_000);

/**
 * A Deployment of `image` in a new namespace of `group`, created before any credential: its Pod goes ImagePullBackOff
 * with a 401.
 */
async function stuckDeployment(group: string, image: string, name = 'app'): Promise<{ ns: string; pod: V1Pod }> {
  const ns = await s.namespace(group, { group });
  await waitFor(async () => (await s.cluster.getServiceAccount(ns, 'default')) !== undefined, {
    what: 'the default SA',
  });
  await w.createDeployment(ns, name, [image]);
  const pod = await w.waitForDeploymentPod(
    ns,
    name,
    (p) => waitingReasons(p).includes('ImagePullBackOff'),
    'ImagePullBackOff',
  );
  await w.waitForEvent(ns, pod.metadata!.name!, 'Failed', /401 Unauthorized/);
  return { ns, pod };
}

function credentialSpec(group: string, podRecovery?: Record<string, unknown>): Record<string, unknown> {
  return {
    registries: [{ server: served.host, basicAuth: { secretName: 'robot' } }],
    namespaceSelector: s.selectorWith({ group }),
    ...(podRecovery ? { podRecovery } : {}),
  };
}

test('podRecovery: the stuck Pod is evicted and replaced by one that pulls and runs, untouched by anyone', async () => {
  const { ns, pod } = await stuckDeployment('recovered', `${served.host}/team/app:1`);
  const cred = await s.credential('recovered', credentialSpec('recovered', { enabled: true }));
  const replacement = await w.waitForDeploymentPod(
    ns,
    'app',
    (p) => p.metadata!.uid !== pod.metadata!.uid && isRunning(p),
    'a new Pod running',
  );
  expect(podPullSecrets(replacement)).toEqual([cred]);
  await w.waitForEvent(ns, replacement.metadata!.name!, 'Pulled', /Successfully pulled image/);
  const evicted = await w.waitForEvent(
    ns,
    pod.metadata!.name!,
    'PodRecovered',
    /evicted: created before ServiceAccount default carried/,
  );
  expect(evicted.type).toBe('Normal');
  await waitFor(
    async () => ((await s.cluster.getCredential(cred))?.status as { recoveredPods?: number })?.recoveredPods === 1,
    {
      what: 'status.recoveredPods = 1',
    },
  );
  expect((await waitForCondition(s.cluster, cred, 'PodRecovery', { status: 'True' })).message).toBe(
    '1 Pod evicted so far',
  );
});

test('podRecovery off: the stuck Pod stays as it is', async () => {
  const { ns, pod } = await stuckDeployment('disabled', `${served.host}/team/app:1`);
  const cred = await s.credential('disabled', credentialSpec('disabled'));
  await waitForPullSecrets(s.cluster, ns, 'default', [cred]);
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  // the kubelet keeps retrying the same Pod (its pull-backoff Events go on), nobody evicts it
  await w.waitForEvent(ns, pod.metadata!.name!, 'BackOff', /Back-off pulling image/);
  const pods = await w.podsOf(ns, 'app');
  expect(pods.map((p) => p.metadata!.uid)).toEqual([pod.metadata!.uid]);
  expect((await w.podEvents(ns, pod.metadata!.name!)).map((e) => e.reason)).not.toContain('PodRecovered');
});

test('a PodDisruptionBudget does not keep a stuck Pod: the Eviction API ignores budgets for Pods that are not running', async () => {
  // kube-apiserver's eviction handler (canIgnorePDB) skips PodDisruptionBudgets for Pending Pods,
  // and a Pod stuck on a pull is Pending: even maxUnavailable 0 lets its eviction through. (A
  // refused eviction, 429, is reported and retried: test/unit/reconciler.test.ts.)
  const { ns, pod } = await stuckDeployment('budget', `${served.host}/team/app:1`);
  await policy.createNamespacedPodDisruptionBudget({
    namespace: ns,
    body: {
      metadata: { name: 'no-disruption' },
      spec: { maxUnavailable: 0, selector: { matchLabels: { app: 'app' } } },
    },
  });
  await waitFor(
    async () =>
      (await policy.readNamespacedPodDisruptionBudget({ namespace: ns, name: 'no-disruption' })).status
        ?.observedGeneration,
    { what: 'the disruption controller to observe the PodDisruptionBudget' },
  );
  const cred = await s.credential('budget', credentialSpec('budget', { enabled: true }));
  await w.waitForDeploymentPod(
    ns,
    'app',
    (p) => p.metadata!.uid !== pod.metadata!.uid && isRunning(p),
    'a new Pod running',
  );
  expect((await waitForCondition(s.cluster, cred, 'PodRecovery', { status: 'True' })).message).toBe(
    '1 Pod evicted so far',
  );
});

test('a bare Pod is never deleted: it gets a Warning Event saying what to do', async () => {
  const ns = await s.namespace('bare', { group: 'bare' });
  await waitFor(async () => (await s.cluster.getServiceAccount(ns, 'default')) !== undefined, {
    what: 'the default SA',
  });
  const bare = await w.createPod(ns, 'bare', [`${served.host}/team/app:1`]);
  await w.waitForWaiting(ns, 'bare', ['ImagePullBackOff']);
  await s.credential('bare', credentialSpec('bare', { enabled: true }));
  const warning = await w.waitForEvent(ns, 'bare', 'PullSecretMissing', /delete and create it again/);
  expect(warning.type).toBe('Warning');
  expect((await w.pod(ns, 'bare'))?.metadata?.uid).toBe(bare.metadata!.uid);
});

test('Pods failing for another reason are never touched: a missing tag, a registry the credential does not serve', async () => {
  const { ns, pod: otherRegistry } = await stuckDeployment('others', `${notServed.host}/team/app:1`, 'elsewhere');
  const cred = await s.credential('others', credentialSpec('others', { enabled: true }));
  await waitForPullSecrets(s.cluster, ns, 'default', [cred]);
  // created after the ServiceAccount carries the Secret, with a tag that does not exist
  await apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name: 'missing-tag' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'missing-tag' } },
        template: {
          metadata: { labels: { app: 'missing-tag' } },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'c0', image: `${served.host}/team/app:nope`, imagePullPolicy: 'Always' }],
          },
        },
      },
    },
  });
  const missingTag = await w.waitForDeploymentPod(
    ns,
    'missing-tag',
    (p) => waitingReasons(p).includes('ImagePullBackOff'),
    'ImagePullBackOff',
  );
  await w.waitForEvent(ns, missingTag.metadata!.name!, 'Failed', /: not found/);
  await w.waitForEvent(ns, otherRegistry.metadata!.name!, 'BackOff', /Back-off pulling image/);
  await waitForCondition(s.cluster, cred, 'PodRecovery', { status: 'True' });
  for (const [app, pod] of [
    ['elsewhere', otherRegistry],
    ['missing-tag', missingTag],
  ] as const) {
    expect((await w.podsOf(ns, app)).map((p) => p.metadata!.uid)).toEqual([pod.metadata!.uid]);
    expect((await w.podEvents(ns, pod.metadata!.name!)).map((e) => e.reason)).not.toContain('PodRecovered');
  }
  expect(((await s.cluster.getCredential(cred))?.status as { recoveredPods?: number })?.recoveredPods).toBe(0);
});
