// Stuck pods (spec "Stuck pods"), the rules table-tested on the real control plane: Pods created
// before the RegistryCredential (so the ServiceAccount admission plugin gave them no pull secret),
// with the status a kubelet writes for a failed pull set through the status subresource. Which are
// evicted (through the Eviction API), which only get an Event, which are never touched. The real
// kubelet, PodDisruptionBudgets and the recreated Pods pulling: test/e2e/pod-recovery.test.ts.
import { basicAuthSecret } from '../harness/cluster.js';
import { createStuckPod } from '../harness/pods.js';
import { type Scenario, startScenario, waitForCondition, waitForPullSecrets } from '../harness/scenario.js';
import { waitFor } from '../../harness/wait.js';
import { Workloads } from '../harness/workloads.js';

const SERVER = 'recover.example.com';
const IMAGE = `${SERVER}/team/app:1`;

let s: Scenario;
const workloads = new Workloads();

beforeAll(async () => {
  s = await startScenario('recover');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'robot', 'r0bot'));
}, 120_000);
afterAll(async () => s?.cleanup(), 120_000);

async function podEvents(
  namespace: string,
  pod: string,
): Promise<Array<{ reason: string; type: string; message: string }>> {
  return (await workloads.podEvents(namespace, pod)).map(({ reason, type, message }) => ({ reason, type, message }));
}

test('the rules: evicted when every condition holds, an Event for a bare Pod, untouched otherwise', async () => {
  const ns = await s.namespace('rows', { group: 'rows' });
  await waitFor(async () => (await s.cluster.getServiceAccount(ns, 'default')) !== undefined, {
    what: 'the default SA',
  });
  await s.cluster.createServiceAccount(ns, 'builder');
  const pods: Array<[string, Parameters<typeof createStuckPod>[0], 'evicted' | 'warned' | 'untouched']> = [
    [
      'ImagePullBackOff, a ReplicaSet',
      { namespace: ns, name: 'rs-backoff', images: [IMAGE], controller: 'ReplicaSet' },
      'evicted',
    ],
    [
      'ErrImagePull',
      { namespace: ns, name: 'rs-errpull', images: [IMAGE], controller: 'ReplicaSet', waitingReason: 'ErrImagePull' },
      'evicted',
    ],
    [
      'an init container',
      {
        namespace: ns,
        name: 'rs-init',
        images: ['ghcr.io/other/app:1'],
        initImages: [IMAGE],
        controller: 'ReplicaSet',
      },
      'evicted',
    ],
    ['a StatefulSet Pod', { namespace: ns, name: 'sts-0', images: [IMAGE], controller: 'StatefulSet' }, 'evicted'],
    ['a Job Pod', { namespace: ns, name: 'job-pod', images: [IMAGE], controller: 'Job' }, 'evicted'],
    [
      'docker.io normalization does not make another registry ours',
      { namespace: ns, name: 'hub', images: ['busybox:1.36'], controller: 'ReplicaSet' },
      'untouched',
    ],
    ['a bare Pod', { namespace: ns, name: 'bare', images: [IMAGE] }, 'warned'],
    [
      'failing for another reason',
      { namespace: ns, name: 'crash', images: [IMAGE], controller: 'ReplicaSet', waitingReason: 'CrashLoopBackOff' },
      'untouched',
    ],
    [
      'an image of another registry',
      { namespace: ns, name: 'other', images: ['ghcr.io/other/app:1'], controller: 'ReplicaSet' },
      'untouched',
    ],
    [
      'a ServiceAccount not injected into',
      { namespace: ns, name: 'builder', images: [IMAGE], controller: 'ReplicaSet', serviceAccount: 'builder' },
      'untouched',
    ],
    [
      'the Pod already lists the Secret',
      { namespace: ns, name: 'listed', images: [IMAGE], controller: 'ReplicaSet', imagePullSecrets: ['recover-pull'] },
      'untouched',
    ],
  ];
  const uids = new Map<string, string>();
  for (const [, options] of pods) uids.set(options.name, await createStuckPod(options));

  const cred = await s.credential('rows', {
    registries: [{ server: SERVER, basicAuth: { secretName: 'robot' } }],
    secretName: 'recover-pull',
    namespaceSelector: s.selectorWith({ group: 'rows' }),
    podRecovery: { enabled: true },
  });
  const evicted = pods.filter(([, , outcome]) => outcome === 'evicted').map(([, options]) => options.name);
  for (const name of evicted)
    await waitFor(async () => !(await workloads.pod(ns, name)), { what: `${ns}/${name} to be evicted` });
  const warning = await waitFor(
    async () => (await podEvents(ns, 'bare')).find((e) => e.reason === 'PullSecretMissing'),
    {
      what: 'a PullSecretMissing Event on the bare Pod',
    },
  );
  expect(warning).toMatchObject({ type: 'Warning' });
  expect(warning.message).toMatch(
    /created before ServiceAccount default carried recover-pull.*delete and create it again/,
  );
  const status = await waitFor(
    async () => {
      const got = (await s.cluster.getCredential(cred))?.status as { recoveredPods?: number } | undefined;
      return got?.recoveredPods === evicted.length ? got : undefined;
    },
    { what: `status.recoveredPods = ${evicted.length}` },
  );
  expect(status.recoveredPods).toBe(5);
  const condition = await waitForCondition(s.cluster, cred, 'PodRecovery', { status: 'True' });
  expect(condition.message).toBe('5 Pods evicted so far');

  for (const [what, options, outcome] of pods) {
    const pod = await workloads.pod(ns, options.name);
    expect([what, pod ? 'present' : 'gone']).toEqual([what, outcome === 'evicted' ? 'gone' : 'present']);
    if (outcome === 'untouched') expect([what, await podEvents(ns, options.name)]).toEqual([what, []]);
  }
  const summary = await waitFor(
    async () => (await s.cluster.eventsFor(cred)).find((e) => e.reason === 'PodsRecovered'),
    {
      what: 'a PodsRecovered Event on the RegistryCredential',
    },
  );
  expect(summary.message).toMatch(/evicted Pods created before their ServiceAccount carried the pull secret/);
  // the evictions went through the Eviction API: an Event on each evicted Pod says why
  expect((await podEvents(ns, 'rs-backoff')).map((e) => e.reason)).toContain('PodRecovered');
});

test('podRecovery off (the default): nothing is evicted', async () => {
  const ns = await s.namespace('off', { group: 'off' });
  await waitFor(async () => (await s.cluster.getServiceAccount(ns, 'default')) !== undefined, {
    what: 'the default SA',
  });
  await createStuckPod({ namespace: ns, name: 'stuck', images: [IMAGE], controller: 'ReplicaSet' });
  const cred = await s.credential('off', {
    registries: [{ server: SERVER, basicAuth: { secretName: 'robot' } }],
    namespaceSelector: s.selectorWith({ group: 'off' }),
  });
  await waitForPullSecrets(s.cluster, ns, 'default', [cred]);
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  expect(await workloads.pod(ns, 'stuck')).toBeDefined();
  expect(await s.cluster.condition(cred, 'PodRecovery')).toBeUndefined();
});

test('maxPerMinute: one eviction now, the next one a minute later', async () => {
  const ns = await s.namespace('limit', { group: 'limit' });
  await waitFor(async () => (await s.cluster.getServiceAccount(ns, 'default')) !== undefined, {
    what: 'the default SA',
  });
  for (const name of ['first', 'second'])
    await createStuckPod({ namespace: ns, name, images: [IMAGE], controller: 'ReplicaSet' });
  const cred = await s.credential('limit', {
    registries: [{ server: SERVER, basicAuth: { secretName: 'robot' } }],
    namespaceSelector: s.selectorWith({ group: 'limit' }),
    podRecovery: { enabled: true, maxPerMinute: 1 },
  });
  const remaining = async () =>
    [await workloads.pod(ns, 'first'), await workloads.pod(ns, 'second')].filter(Boolean).length;
  await waitFor(async () => (await remaining()) === 1, { what: 'one of the two Pods evicted' });
  await waitFor(async () => (await remaining()) === 0, {
    timeoutMs: 120_000,
    intervalMs: 500,
    what: 'the second eviction',
  });
  // The budget is a sliding minute: the operator's own records of the two evictions (the Events it
  // wrote on the Pods, stamped by its clock) are a minute apart.
  const times = await Promise.all(
    ['first', 'second'].map(async (pod) => {
      const list = await workloads.core.listNamespacedEvent({
        namespace: ns,
        fieldSelector: `involvedObject.name=${pod},reason=PodRecovered`,
      });
      return new Date(list.items[0]!.firstTimestamp as unknown as string).getTime();
    }),
  );
  expect(Math.abs(times[1] - times[0])).toBeGreaterThanOrEqual(59_000);
  await waitFor(
    async () => ((await s.cluster.getCredential(cred))?.status as { recoveredPods?: number })?.recoveredPods === 2,
    {
      what: 'status.recoveredPods = 2',
    },
  );
}, 180_000);

test('with the targeting fields: the Pod of an SA chosen by serviceAccountSelector is evicted, the Pod of an excluded SA is not', async () => {
  const ns = await s.namespace('targets', { group: 'targets' });
  await s.cluster.createServiceAccount(ns, 'app', [], { pull: 'yes' });
  await s.cluster.createServiceAccount(ns, 'ci-builder', [], { pull: 'yes' });
  await createStuckPod({
    namespace: ns,
    name: 'app',
    images: [IMAGE],
    controller: 'ReplicaSet',
    serviceAccount: 'app',
  });
  await createStuckPod({
    namespace: ns,
    name: 'builder',
    images: [IMAGE],
    controller: 'ReplicaSet',
    serviceAccount: 'ci-builder',
  });
  const cred = await s.credential('targets', {
    registries: [{ server: SERVER, basicAuth: { secretName: 'robot' } }],
    secretName: 'recover-pull',
    namespaceSelector: s.selectorWith({ group: 'targets' }),
    serviceAccounts: [],
    serviceAccountSelector: { matchLabels: { pull: 'yes' } },
    excludeServiceAccounts: ['ci-builder'],
    podRecovery: { enabled: true },
  });
  await waitForPullSecrets(s.cluster, ns, 'app', ['recover-pull']);
  await waitFor(async () => !(await workloads.pod(ns, 'app')), { what: `${ns}/app to be evicted` });
  await waitFor(
    async () => ((await s.cluster.getCredential(cred))?.status as { recoveredPods?: number })?.recoveredPods === 1,
    { what: 'status.recoveredPods = 1' },
  );
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  // the excluded SA never got the Secret, so its Pod is not one this RegistryCredential can help
  expect(await s.cluster.pullSecretNames(ns, 'ci-builder')).toEqual([]);
  expect(await workloads.pod(ns, 'builder')).toBeDefined();
  expect(await podEvents(ns, 'builder')).toEqual([]);
});
