// The controller in process (test/support/in-process.ts): the real Operator wiring, informers,
// work queue, workers and Reconciler on the in-memory API and a fake clock. Each row starts from
// two selected namespaces (team-a, team-b, each with a `default` ServiceAccount that already
// lists a foreign entry) and a basicAuth source, acts, and compares what a user would see:
// copies, ServiceAccount entries, status and Events. The integration suite checks the same
// behaviours on a real control plane; these rows reach the corners deterministically.
import { MAX_CONFLICT_RETRIES } from '../../src/controller/apply.js';
import {
  basicAuthSource,
  namespace,
  newCredential,
  ownedCopy,
  rawSpec,
  REGISTRY,
  ROBOT_SECRET,
  serviceAccount,
  SOURCE_NAMESPACE,
} from '../support/builders.js';
import { apiError, type FakeKube, type StoredObject } from '../support/fake-kube.js';
import {
  conditionOf,
  eventReasons,
  type InProcess,
  injectedAnnotation,
  passwordIn,
  pullSecretsOf,
  startInProcess,
  statusOf,
} from '../support/in-process.js';

const SERVER = REGISTRY;
const NAME = 'team';
const NAMESPACES = ['team-a', 'team-b'];
const SELECTOR = { matchLabels: { team: 'x' } };

/** The default spec (one basicAuth entry for SERVER from ROBOT_SECRET) for the team's namespaces. */
const teamSpec = (extra: Record<string, unknown> = {}) => rawSpec({ namespaceSelector: SELECTOR, ...extra });

function world(kube: FakeKube, options: { source?: boolean } = {}): void {
  if (options.source ?? true) kube.put('secrets', basicAuthSource(ROBOT_SECRET, 'u', 'p1'));
  for (const name of NAMESPACES) {
    kube.put('namespaces', namespace(name, { team: 'x' }));
    kube.put('serviceaccounts', serviceAccount(name, 'default', ['theirs']));
  }
}

/** What a user sees, for one credential and secretName. */
function observe(kube: FakeKube, credentialName = NAME, secretName = NAME) {
  const status = statusOf(kube, credentialName);
  return {
    copies: Object.fromEntries(
      NAMESPACES.map((ns) => [ns, passwordIn(kube.get('secrets', ns, secretName), SERVER) ?? 'none']),
    ),
    pullSecrets: Object.fromEntries(NAMESPACES.map((ns) => [ns, pullSecretsOf(kube, ns, 'default')])),
    ready: conditionOf(kube, credentialName, 'Ready'),
    sources: conditionOf(kube, credentialName, 'SourcesReady'),
    propagated: conditionOf(kube, credentialName, 'Propagated'),
    counts: status?.namespaces,
  };
}

type Observation = ReturnType<typeof observe>;

const converged: Partial<Observation> = {
  copies: { 'team-a': 'p1', 'team-b': 'p1' },
  pullSecrets: { 'team-a': ['theirs', NAME], 'team-b': ['theirs', NAME] },
  ready: 'True/Ready',
  counts: { selected: 2, ready: 2, failed: 0 },
};

interface Row {
  name: string;
  /** Objects that exist before the operator starts (besides the world). */
  seed?: (kube: FakeKube) => void;
  /** The world without the source Secret. */
  noSource?: boolean;
  spec: Record<string, unknown>;
  /** Runs after the first convergence; the operator then settles again. */
  act?: (system: InProcess) => void | Promise<void>;
  expected: Partial<Observation>;
  /** Event reasons that must have been recorded. */
  events?: string[];
  check?: (system: InProcess) => void;
}

const rows: Row[] = [
  {
    name: 'converges: a copy and an entry after the foreign one in every selected namespace',
    spec: teamSpec(),
    expected: converged,
    events: ['SecretCreated', 'PullSecretAdded'],
  },

  // ---- suspend ----
  {
    name: 'suspend: a suspended credential writes nothing and says so',
    spec: teamSpec({ suspend: true }),
    expected: {
      copies: { 'team-a': 'none', 'team-b': 'none' },
      pullSecrets: { 'team-a': ['theirs'], 'team-b': ['theirs'] },
      ready: 'False/Suspended',
      counts: { selected: 2, ready: 0, failed: 0 },
    },
  },
  {
    name: 'suspend after converging: source changes and deselection are not acted on, nothing is deleted',
    spec: teamSpec(),
    act: ({ kube }) => {
      kube.put('registrycredentials', newCredential(NAME, teamSpec({ suspend: true })));
      kube.put('secrets', basicAuthSource(ROBOT_SECRET, 'u', 'p2'));
      kube.put('namespaces', namespace('team-b', {}));
    },
    // team-a's copy still has p1 while p2 is wanted: selected but not ready
    expected: { ...converged, ready: 'False/Suspended', counts: { selected: 1, ready: 0, failed: 0 } },
  },
  {
    name: 'suspend lifted: the pending changes are made',
    spec: teamSpec({ suspend: true }),
    act: ({ kube }) => {
      kube.put('secrets', basicAuthSource(ROBOT_SECRET, 'u', 'p2'));
      kube.put('registrycredentials', newCredential(NAME, teamSpec()));
    },
    expected: { ...converged, copies: { 'team-a': 'p2', 'team-b': 'p2' } },
  },

  // ---- held document ----
  {
    name: 'held document: a missing source creates nothing anywhere',
    noSource: true,
    spec: teamSpec(),
    expected: {
      copies: { 'team-a': 'none', 'team-b': 'none' },
      pullSecrets: { 'team-a': ['theirs'], 'team-b': ['theirs'] },
      ready: 'False/SourceSecretNotFound',
      sources: 'False/SourceSecretNotFound',
    },
    events: ['SourceSecretNotFound'],
  },
  {
    name: 'held document: an existing copy of ours stays byte-for-byte, and SAs still point at it',
    noSource: true,
    seed: (kube) =>
      kube.put(
        'secrets',
        ownedCopy(
          'team-a',
          NAME,
          NAME,
          JSON.stringify({ auths: { [SERVER]: { username: 'u', password: 'old', auth: 'dTpvbGQ=' } } }),
        ),
      ),
    spec: teamSpec(),
    expected: {
      copies: { 'team-a': 'old', 'team-b': 'none' },
      pullSecrets: { 'team-a': ['theirs', NAME], 'team-b': ['theirs'] },
      sources: 'False/SourceSecretNotFound',
    },
    check: ({ kube }) =>
      expect(kube.requests.filter((r) => r.method === 'PUT' && r.target.resource === 'secrets')).toEqual([]),
  },
  {
    name: 'a source that breaks after converging: its last good value keeps being served',
    spec: teamSpec(),
    act: ({ kube }) => kube.remove('secrets', SOURCE_NAMESPACE, ROBOT_SECRET),
    expected: {
      ...converged,
      ready: 'False/SourceSecretNotFound',
      sources: 'False/SourceSecretNotFound',
      counts: { selected: 2, ready: 2, failed: 0 },
    },
  },
  {
    name: 'held document, then the source appears: the copies are made',
    noSource: true,
    spec: teamSpec(),
    act: ({ kube }) => void kube.put('secrets', basicAuthSource(ROBOT_SECRET, 'u', 'p1')),
    expected: { ...converged, sources: 'True/Resolved' },
  },

  // ---- SecretConflict ----
  {
    name: 'SecretConflict: a foreign Secret of that name is never touched; the other namespace is served',
    seed: (kube) =>
      kube.put('secrets', {
        metadata: { name: NAME, namespace: 'team-a', labels: { owner: 'someone' } },
        type: 'Opaque',
        data: { keep: 'bWU=' },
      }),
    spec: teamSpec(),
    expected: {
      copies: { 'team-a': 'foreign', 'team-b': 'p1' },
      pullSecrets: { 'team-a': ['theirs'], 'team-b': ['theirs', NAME] },
      ready: 'False/SecretConflict',
      propagated: 'False/SecretConflict',
      counts: { selected: 2, ready: 1, failed: 1 },
    },
    events: ['SecretConflict'],
    check: ({ kube }) => {
      // Creates are refused (AlreadyExists); nothing ever updates or deletes the foreign Secret.
      const writes = kube.requests.filter(
        (r) =>
          ['PUT', 'PATCH', 'DELETE'].includes(r.method) &&
          r.target.resource === 'secrets' &&
          r.target.namespace === 'team-a',
      );
      expect(writes).toEqual([]);
      expect(kube.get('secrets', 'team-a', NAME)?.metadata.labels).toEqual({ owner: 'someone' });
      expect(statusOf(kube, NAME)?.failures).toEqual([
        {
          namespace: 'team-a',
          reason: 'SecretConflict',
          message: expect.stringContaining('not managed by this RegistryCredential'),
        },
      ]);
    },
  },
  {
    name: 'SecretConflict cleared: once the foreign Secret is gone, the namespace converges (after backoff)',
    seed: (kube) => kube.put('secrets', { metadata: { name: NAME, namespace: 'team-a' }, type: 'Opaque', data: {} }),
    spec: teamSpec(),
    act: ({ kube }) => kube.remove('secrets', 'team-a', NAME),
    expected: converged,
  },
  {
    name: 'SecretConflict between two RegistryCredentials with one secretName: the second reports it',
    spec: teamSpec(),
    act: ({ kube }) => void kube.put('registrycredentials', newCredential('second', teamSpec({ secretName: NAME }))),
    expected: converged,
    check: ({ kube }) => {
      expect(conditionOf(kube, 'second', 'Propagated')).toBe('False/SecretConflict');
      expect(statusOf(kube, 'second')?.failures?.[0]?.message).toContain(`belongs to RegistryCredential ${NAME}`);
    },
  },

  // ---- renamed secretName ----
  {
    name:
      'renamed secretName: the new Secret replaces the old one, our entry is replaced in place after the foreign ' +
      'one',
    spec: teamSpec(),
    act: ({ kube }) => void kube.put('registrycredentials', newCredential(NAME, teamSpec({ secretName: 'renamed' }))),
    expected: {
      copies: { 'team-a': 'none', 'team-b': 'none' },
      pullSecrets: { 'team-a': ['theirs', 'renamed'], 'team-b': ['theirs', 'renamed'] },
      ready: 'True/Ready',
    },
    events: ['SecretDeleted'],
    check: ({ kube }) => {
      for (const ns of NAMESPACES) expect(passwordIn(kube.get('secrets', ns, 'renamed'), SERVER)).toBe('p1');
      expect(injectedAnnotation(kube, 'team-a', 'default')).toBe(JSON.stringify({ renamed: NAME }));
    },
  },

  // ---- targeting and Secret shape ----
  {
    name: 'secretTemplate with an operator label (an older CRD let it through): InvalidSpec, nothing written',
    spec: teamSpec({ secretTemplate: { labels: { 'regcred.io/credential': 'forged' } } }),
    expected: {
      copies: { 'team-a': 'none', 'team-b': 'none' },
      pullSecrets: { 'team-a': ['theirs'], 'team-b': ['theirs'] },
      ready: 'False/InvalidSpec',
    },
    events: ['InvalidSpec'],
  },
  {
    name: 'secretTemplate edited while suspended: the copies keep the old template until it is lifted',
    spec: teamSpec({ secretTemplate: { labels: { tier: 'gold' } } }),
    act: ({ kube }) =>
      void kube.put(
        'registrycredentials',
        newCredential(NAME, teamSpec({ suspend: true, secretTemplate: { labels: { tier: 'silver' } } })),
      ),
    expected: { ...converged, ready: 'False/Suspended', counts: { selected: 2, ready: 0, failed: 0 } },
    check: ({ kube }) => {
      for (const ns of NAMESPACES) expect(kube.get('secrets', ns, NAME)?.metadata?.labels?.tier).toBe('gold');
    },
  },
  {
    name: 'serviceAccountSelector: an SA relabelled out loses our entry, one relabelled in gets it',
    seed: (kube) => {
      kube.put('serviceaccounts', serviceAccount('team-a', 'app', ['x'], { labels: { pull: 'yes' } }));
      kube.put('serviceaccounts', serviceAccount('team-b', 'app', ['y']));
    },
    spec: teamSpec({ serviceAccountSelector: { matchLabels: { pull: 'yes' } } }),
    act: ({ kube }) => {
      const relabel = (ns: string, labels: Record<string, string>) => {
        const current = kube.get('serviceaccounts', ns, 'app')!;
        kube.put('serviceaccounts', { ...current, metadata: { ...current.metadata, labels } });
      };
      relabel('team-a', {});
      relabel('team-b', { pull: 'yes' });
    },
    expected: converged,
    check: ({ kube }) => {
      expect(pullSecretsOf(kube, 'team-a', 'app')).toEqual(['x']);
      expect(injectedAnnotation(kube, 'team-a', 'app')).toBeUndefined();
      expect(pullSecretsOf(kube, 'team-b', 'app')).toEqual(['y', NAME]);
    },
  },
  {
    name: 'namespaceNames and an exclusion glob added later: the excluded namespace is cleaned up',
    spec: teamSpec({ namespaceNames: ['team-*'] }),
    act: ({ kube }) =>
      void kube.put(
        'registrycredentials',
        newCredential(NAME, teamSpec({ namespaceNames: ['team-*'], excludeNamespaces: ['*-b'] })),
      ),
    expected: {
      copies: { 'team-a': 'p1', 'team-b': 'none' },
      pullSecrets: { 'team-a': ['theirs', NAME], 'team-b': ['theirs'] },
      counts: { selected: 1, ready: 1, failed: 0 },
    },
  },

  // ---- leftover cleanup ----
  {
    name: 'a namespace leaving the selection: exactly what was added there goes',
    spec: teamSpec(),
    act: ({ kube }) => void kube.put('namespaces', namespace('team-b', {})),
    expected: {
      copies: { 'team-a': 'p1', 'team-b': 'none' },
      pullSecrets: { 'team-a': ['theirs', NAME], 'team-b': ['theirs'] },
      counts: { selected: 1, ready: 1, failed: 0 },
    },
    check: ({ kube }) => expect(injectedAnnotation(kube, 'team-b', 'default')).toBeUndefined(),
  },
  {
    name: 'an SA leaving the list: its entry goes, the Secret stays',
    spec: teamSpec(),
    act: ({ kube }) => void kube.put('registrycredentials', newCredential(NAME, teamSpec({ serviceAccounts: [] }))),
    expected: {
      copies: { 'team-a': 'p1', 'team-b': 'p1' },
      pullSecrets: { 'team-a': ['theirs'], 'team-b': ['theirs'] },
      ready: 'True/Ready',
    },
  },
  {
    name: 'the RegistryCredential deleted: everything it added goes, then the finalizer is released',
    spec: teamSpec(),
    act: ({ kube }) => kube.remove('registrycredentials', undefined, NAME),
    expected: {
      copies: { 'team-a': 'none', 'team-b': 'none' },
      pullSecrets: { 'team-a': ['theirs'], 'team-b': ['theirs'] },
    },
    events: ['CleanedUp'],
    check: ({ kube }) => expect(kube.get('registrycredentials', undefined, NAME)).toBeUndefined(),
  },
  {
    name: 'leftovers of a RegistryCredential gone while the operator was down are removed at start',
    seed: (kube) => {
      kube.put('secrets', ownedCopy('team-a', 'ghost', 'ghost', '{"auths":{}}'));
      kube.put(
        'serviceaccounts',
        serviceAccount('team-a', 'default', ['theirs', 'ghost'], { injected: { ghost: 'ghost' } }),
      );
    },
    spec: teamSpec(),
    expected: converged,
    check: ({ kube }) => {
      expect(kube.get('secrets', 'team-a', 'ghost')).toBeUndefined();
      expect(injectedAnnotation(kube, 'team-a', 'default')).toBe(JSON.stringify({ [NAME]: NAME }));
    },
  },

  // ---- ServiceAccount conflicts ----
  {
    name: 'SA conflict: another client edits the SA just before our patch; it is read again and both entries stay',
    spec: teamSpec(),
    seed: (kube) => {
      let edited = false;
      kube.beforeRequest = (request) => {
        if (
          edited ||
          request.method !== 'PATCH' ||
          request.target.resource !== 'serviceaccounts' ||
          request.target.namespace !== 'team-a'
        )
          return;
        edited = true;
        kube.put('serviceaccounts', serviceAccount('team-a', 'default', ['theirs', 'editor']));
      };
    },
    expected: { ...converged, pullSecrets: { 'team-a': ['theirs', 'editor', NAME], 'team-b': ['theirs', NAME] } },
    check: ({ kube }) => {
      const onSa = kube.requests.filter(
        (r) =>
          r.target.resource === 'serviceaccounts' && r.target.namespace === 'team-a' && r.target.name === 'default',
      );
      expect(onSa.map((r) => r.method)).toEqual(['PATCH', 'GET', 'PATCH']);
    },
  },
  {
    name: 'SA conflict on every try: the namespace fails (APIConflict), then converges on a later retry',
    spec: teamSpec(),
    seed: (kube) =>
      kube.failNext(
        (request) =>
          request.method === 'PATCH' &&
          request.target.resource === 'serviceaccounts' &&
          request.target.namespace === 'team-a',
        () => apiError(409, 'Conflict'),
        MAX_CONFLICT_RETRIES + 1,
      ),
    expected: converged,
    events: ['APIConflict'],
  },
];

describe('Reconciler in process', () => {
  let system: InProcess | undefined;
  afterEach(async () => {
    await system?.stop();
    system = undefined;
  });

  test.each(rows.map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    system = await startInProcess((kube) => {
      world(kube, { source: !row.noSource });
      row.seed?.(kube);
      kube.put('registrycredentials', newCredential(NAME, row.spec));
    });
    if (row.act) {
      await row.act(system);
      await system.settle(120_000); // far enough for retries with backoff
    }
    expect(observe(system.kube)).toMatchObject(row.expected);
    for (const reason of row.events ?? []) expect(eventReasons(system.kube, NAME)).toContain(reason);
    row.check?.(system);
  });

  test.each([
    ['plain', teamSpec()],
    [
      'with every targeting field',
      teamSpec({
        secretTemplate: { labels: { team: 'x' }, annotations: { note: 'n' } },
        namespaceNames: ['team-*'],
        excludeNamespaces: ['kube-*'],
        serviceAccountSelector: { matchLabels: { pull: 'yes' } },
        excludeServiceAccounts: ['builder'],
      }),
    ],
  ])('a converged operator makes no write when nothing changes (%s)', async (_name, credentialSpec) => {
    system = await startInProcess((kube) => {
      world(kube);
      kube.put('registrycredentials', newCredential(NAME, credentialSpec));
    });
    const before = system.kube.requests.length;
    system.clock.advance(60_000);
    await system.settle();
    expect(system.kube.requests.slice(before).filter((r) => r.method !== 'GET' && r.method !== 'WATCH')).toEqual([]);
  });
});

describe('Namespaces arriving one at a time', () => {
  let system: InProcess | undefined;
  afterEach(async () => {
    await system?.stop();
    system = undefined;
  });

  test('each costs the two writes it needs; Events and status add at most 0.25 writes per namespace', async () => {
    system = await startInProcess((kube) => {
      world(kube);
      kube.put('registrycredentials', newCredential(NAME, teamSpec()));
    });
    const { kube, clock } = system;
    const before = kube.requests.length;
    const ARRIVALS = 60;
    for (let i = 0; i < ARRIVALS; i++) {
      // one namespace a second, its `default` ServiceAccount a moment later (kube-controller-manager)
      kube.put('namespaces', namespace(`late-${i}`, { team: 'x' }));
      await system.settle(0);
      kube.put('serviceaccounts', serviceAccount(`late-${i}`, 'default'));
      clock.advance(1000);
      await system.settle(0);
    }
    await system.settle(5 * 60_000); // held summaries and the paced status are written
    const writes: Record<string, number> = {};
    for (const r of kube.requests.slice(before)) {
      if (r.method === 'GET' || r.method === 'WATCH') continue;
      const what = `${r.method} ${r.target.resource}${r.target.subresource ? `/${r.target.subresource}` : ''}`;
      writes[what] = (writes[what] ?? 0) + 1;
    }
    const necessary = (writes['POST secrets'] ?? 0) + (writes['PATCH serviceaccounts'] ?? 0);
    const extra = Object.values(writes).reduce((a, b) => a + b, 0) - necessary;
    expect([writes['POST secrets'], writes['PATCH serviceaccounts']]).toEqual([ARRIVALS, ARRIVALS]);
    expect(extra / ARRIVALS).toBeLessThanOrEqual(0.25);
    // nothing is lost: the status counts every namespace, the Events count every change
    expect(statusOf(kube, NAME)?.namespaces).toEqual({ selected: 62, ready: 62, failed: 0 });
    const events = kube.list('events', 'default') as unknown as Array<{ reason: string; count: number }>;
    const counted = (reason: string) => events.filter((e) => e.reason === reason).reduce((a, e) => a + e.count, 0);
    expect([counted('SecretCreated'), counted('PullSecretAdded')]).toEqual([62, 62]);
  });
});

describe('Stuck-pod recovery in process', () => {
  let system: InProcess | undefined;
  afterEach(async () => {
    await system?.stop();
    system = undefined;
  });

  /** A Pending Pod of a ReplicaSet, waiting on a pull of the served registry, created before the credential. */
  function stuckPod(ns: string, name: string): StoredObject {
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: ns,
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'rs-uid', controller: true }],
      },
      spec: { serviceAccountName: 'default', containers: [{ name: 'app', image: `${SERVER}/team/app:1` }] },
      status: {
        phase: 'Pending',
        containerStatuses: [
          {
            name: 'app',
            image: `${SERVER}/team/app:1`,
            ready: false,
            restartCount: 0,
            state: { waiting: { reason: 'ImagePullBackOff' } },
          },
        ],
      },
    } as unknown as StoredObject;
  }

  test('an eviction refused with 429 (a PodDisruptionBudget, API priority and fairness): PodRecovery False, retried 30 s later', async () => {
    system = await startInProcess((kube) => {
      world(kube);
      kube.put('pods', stuckPod('team-a', 'app-1'));
      kube.failNext(
        (request) => request.target.resource === 'pods' && request.target.subresource === 'eviction',
        () =>
          apiError(429, 'TooManyRequests', {
            message: "Cannot evict pod as it would violate the pod's disruption budget.",
          }),
      );
      kube.put('registrycredentials', newCredential(NAME, teamSpec({ podRecovery: { enabled: true } })));
    });
    await system.settle(20_000);
    expect(conditionOf(system.kube, NAME, 'PodRecovery')).toBe('False/EvictionBlocked');
    expect(system.kube.get('pods', 'team-a', 'app-1')).toBeDefined();
    system.clock.advance(30_000);
    await system.settle(20_000);
    expect(system.kube.get('pods', 'team-a', 'app-1')).toBeUndefined();
    expect(conditionOf(system.kube, NAME, 'PodRecovery')).toBe('True/Enabled');
    expect(statusOf(system.kube, NAME)?.recoveredPods).toBe(1);
    const evictions = system.kube.requests.filter((r) => r.target.subresource === 'eviction');
    expect(evictions).toHaveLength(2); // refused once, then done: no retry storm in between
  });
});
