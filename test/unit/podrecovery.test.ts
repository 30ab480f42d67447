// Stuck-pod recovery: which Pods are recovered, one row per rule (and per rule broken), and the
// per-credential eviction budget.
import { EvictionBudget, podsToRecover, type SlimPod } from '../../src/controller/podrecovery.js';

const REGISTRY = '127.0.0.1:5000';
function pod(overrides: Partial<SlimPod> = {}): SlimPod {
  return {
    uid: 'uid-1',
    namespace: 'team-a',
    name: 'app-1',
    serviceAccountName: 'default',
    imagePullSecrets: [],
    controller: { kind: 'ReplicaSet', name: 'app-5d8' },
    containers: [{ name: 'app', image: `${REGISTRY}/team/app:1`, waitingReason: 'ImagePullBackOff' }],
    ...overrides,
  };
}
const input = (pods: SlimPod[], overrides = {}) => ({
  pods,
  secretName: 'team-pull',
  servers: [REGISTRY],
  carryingServiceAccounts: new Set(['default']),
  handled: new Set<string>(),
  ...overrides,
});

test.each([
  ['ImagePullBackOff, served image, SA carries it, Pod lacks it, a controller: evict', pod(), {}, 'evict'],
  [
    'ErrImagePull counts too',
    pod({ containers: [{ name: 'app', image: `${REGISTRY}/team/app:1`, waitingReason: 'ErrImagePull' }] }),
    {},
    'evict',
  ],
  [
    'an init container counts too',
    pod({
      containers: [
        { name: 'init', image: `${REGISTRY}/team/init:1`, waitingReason: 'ImagePullBackOff' },
        { name: 'app', image: `${REGISTRY}/team/app:1`, waitingReason: 'PodInitializing' },
      ],
    }),
    {},
    'evict',
  ],
  ['a bare Pod: only the Event', pod({ controller: undefined }), {}, 'warnBarePod'],
  ['a StatefulSet Pod is evicted too', pod({ controller: { kind: 'StatefulSet', name: 'db' } }), {}, 'evict'],
  [
    'docker.io normalization: "busybox" under a "docker.io" key',
    pod({ containers: [{ name: 'a', image: 'busybox', waitingReason: 'ErrImagePull' }] }),
    { servers: ['docker.io'] },
    'evict',
  ],
  [
    'the legacy Docker Hub key serves docker.io images',
    pod({ containers: [{ name: 'a', image: 'team/app:1', waitingReason: 'ErrImagePull' }] }),
    { servers: ['https://index.docker.io/v1/'] },
    'evict',
  ],
  ['a path key covers its repositories', pod(), { servers: [`${REGISTRY}/team`] }, 'evict'],
  // and each rule broken: nothing
  [
    'waiting for another reason (CrashLoopBackOff)',
    pod({ containers: [{ name: 'app', image: `${REGISTRY}/team/app:1`, waitingReason: 'CrashLoopBackOff' }] }),
    {},
    undefined,
  ],
  ['not waiting at all', pod({ containers: [{ name: 'app', image: `${REGISTRY}/team/app:1` }] }), {}, undefined],
  [
    'a registry this credential does not serve',
    pod({ containers: [{ name: 'app', image: 'ghcr.io/team/app:1', waitingReason: 'ImagePullBackOff' }] }),
    {},
    undefined,
  ],
  [
    'another port of the same host',
    pod({ containers: [{ name: 'app', image: '127.0.0.1:5001/team/app:1', waitingReason: 'ImagePullBackOff' }] }),
    {},
    undefined,
  ],
  ['a path key that does not cover the repository', pod(), { servers: [`${REGISTRY}/other`] }, undefined],
  [
    'the Pod already has the Secret (it fails for another reason)',
    pod({ imagePullSecrets: ['team-pull'] }),
    {},
    undefined,
  ],
  [
    'its ServiceAccount is not one this credential injects into (or does not carry it yet)',
    pod({ serviceAccountName: 'builder' }),
    {},
    undefined,
  ],
  ['a Pod already handled (at most once per uid)', pod(), { handled: new Set(['uid-1']) }, undefined],
  [
    'an invalid image name',
    pod({ containers: [{ name: 'app', image: 'Not/Valid', waitingReason: 'ErrImagePull' }] }),
    {},
    undefined,
  ],
])('%s', (_what, p, overrides, expected) => {
  const actions = podsToRecover(input([p], overrides));
  expect(actions.map((a) => a.kind)).toEqual(expected ? [expected] : []);
});

test('several Pods: in name order, each with the images that failed', () => {
  const actions = podsToRecover(
    input([pod({ uid: 'b', name: 'b' }), pod({ uid: 'a', name: 'a', controller: undefined })]),
  );
  expect(actions.map((a) => [a.kind, a.pod.name, a.images])).toEqual([
    ['warnBarePod', 'a', [`${REGISTRY}/team/app:1`]],
    ['evict', 'b', [`${REGISTRY}/team/app:1`]],
  ]);
});

test('the eviction budget: N per sliding minute, per credential', () => {
  const budget = new EvictionBudget();
  const taken = Array.from({ length: 4 }, (_, i) => budget.take('a', 3, 1_000 + i));
  expect(taken).toEqual([true, true, true, false]);
  expect(budget.take('b', 3, 1_004)).toBe(true); // another credential's budget
  expect(budget.waitMs('a', 3, 1_004)).toBe(60_000 - 4);
  expect(budget.take('a', 3, 61_000)).toBe(true); // the first one left the window
  expect(budget.take('a', 3, 61_001)).toBe(true);
  expect(budget.take('a', 3, 61_002)).toBe(true);
  expect(budget.take('a', 3, 61_003)).toBe(false);
});
