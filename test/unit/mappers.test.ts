// Which keys a namespace or ServiceAccount event queues, and when (the status-count refresh rule).
import type { V1Namespace, V1ServiceAccount } from '@kubernetes/client-node';
import type { RegistryCredential, RegistryCredentialSpec } from '../../src/api/v1alpha1.js';
import { registerMappers } from '../../src/controller/mappers.js';
import type { Caches } from '../../src/controller/caches.js';

type Handlers = {
  add?: (o: unknown) => void;
  update?: (a: unknown, b: unknown) => void;
  delete?: (o: unknown) => void;
};

function setup(ready: boolean, specPatch: Record<string, unknown> = {}) {
  const handlers = new Map<string, Handlers>();
  const cred = {
    metadata: { name: 'c', uid: 'u', generation: 1 },
    spec: {},
    status: {
      conditions: [
        { type: 'Ready', status: ready ? 'True' : 'False', reason: 'x', message: '', lastTransitionTime: '' },
      ],
    },
  } as unknown as RegistryCredential;
  const cache = (name: string, items: unknown[] = []) => ({
    on: (h: Handlers) => handlers.set(name, h),
    list: () => items.values(),
  });
  const caches = {
    credentials: cache('credentials', [cred]),
    namespaces: cache('namespaces'),
    serviceAccounts: cache('serviceAccounts'),
    managedSecrets: cache('managedSecrets'),
    sourceSecrets: cache('sourceSecrets'),
    pods: cache('pods'),
  } as unknown as Caches;
  const now: string[] = [];
  const later: Array<[string, number]> = [];
  const spec = {
    namespaceSelector: { matchLabels: { team: 'a' } },
    excludeNamespaces: [],
    serviceAccounts: ['default'],
    excludeServiceAccounts: [],
    ...specPatch,
  } as unknown as RegistryCredentialSpec;
  registerMappers({
    caches,
    queue: { add: (k) => now.push(k), addAfter: (k, d) => later.push([k, d]) },
    specOf: () => spec,
    sourceSecretNames: () => [],
    statusDelay: () => 500,
  });
  return { handlers, now, later };
}

const ns = (name: string, labels: Record<string, string>): V1Namespace => ({
  metadata: { name, labels },
  status: { phase: 'Active' },
});

describe('namespace events', () => {
  test.each<[string, boolean, V1Namespace, string[], Array<[string, number]>]>([
    // The recount of a Ready credential is run at once by the namespace key after its writes (reconciler).
    [
      'joins the selection of a Ready credential: the namespace first, the recount after the pause',
      true,
      ns('x', { team: 'a' }),
      ['n/c/x'],
      [['c/c', 500]],
    ],
    ['joins the selection while not Ready: counts batched', false, ns('x', { team: 'a' }), ['n/c/x'], [['c/c', 500]]],
    ['not selected: counts batched', true, ns('x', { team: 'b' }), ['n/c/x'], [['c/c', 500]]],
  ])('%s', (_name, ready, namespace, now, later) => {
    const t = setup(ready);
    t.handlers.get('namespaces')!.add!(namespace);
    expect(t.now).toEqual(now);
    expect(t.later).toEqual(later);
  });
});

describe('ServiceAccount events', () => {
  const serviceAccount = (
    name: string,
    labels?: Record<string, string>,
    injected?: Record<string, string>,
  ): V1ServiceAccount => ({
    metadata: {
      name,
      namespace: 'team-a',
      labels,
      ...(injected ? { annotations: { 'regcred.io/injected-pull-secrets': JSON.stringify(injected) } } : {}),
    },
  });
  const bySelector = { serviceAccountSelector: { matchLabels: { pull: 'yes' } } };
  test.each<[string, Record<string, unknown>, V1ServiceAccount, V1ServiceAccount, string[]]>([
    [
      'relabelled into the selector: its namespace',
      bySelector,
      serviceAccount('app'),
      serviceAccount('app', { pull: 'yes' }),
      ['n/c/team-a'],
    ],
    [
      'relabelled out of the selector while carrying our entry: its namespace (cleanup)',
      bySelector,
      serviceAccount('app', { pull: 'yes' }, { c: 'c' }),
      serviceAccount('app', { pull: 'no' }, { c: 'c' }),
      ['n/c/team-a'],
    ],
    [
      'relabelled, matching neither before nor after: nothing',
      bySelector,
      serviceAccount('app', { pull: 'no' }),
      serviceAccount('app', { pull: 'maybe' }),
      [],
    ],
    [
      'labels unchanged: nothing',
      bySelector,
      serviceAccount('app', { pull: 'yes' }),
      serviceAccount('app', { pull: 'yes' }),
      [],
    ],
    [
      'an excluded SA relabelled into the selector: nothing',
      { ...bySelector, excludeServiceAccounts: ['app'] },
      serviceAccount('app'),
      serviceAccount('app', { pull: 'yes' }),
      [],
    ],
  ])('%s', (_name, patch, before, after, now) => {
    const t = setup(true, patch);
    t.handlers.get('serviceAccounts')!.update!(before, after);
    expect(t.now).toEqual(now);
    expect(t.later).toEqual([]);
  });
});
