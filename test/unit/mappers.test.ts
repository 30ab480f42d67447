// Which keys a namespace or ServiceAccount event queues, and when (the status-count refresh rule).
import type { V1Namespace, V1ServiceAccount } from '@kubernetes/client-node';
import { registerMappers } from '../../src/controller/mappers.js';
import type { Caches } from '../../src/controller/caches.js';
import { credential, namespace, rawSpec, serviceAccount } from '../support/builders.js';

type Handlers = {
  add?: (o: unknown) => void;
  update?: (a: unknown, b: unknown) => void;
  delete?: (o: unknown) => void;
};

function setup(ready: boolean, specPatch: Record<string, unknown> = {}) {
  const handlers = new Map<string, Handlers>();
  const credentialSpec = { namespaceSelector: { matchLabels: { team: 'a' } }, ...specPatch };
  const cred = credential('c', {
    uid: 'u',
    generation: 1,
    spec: rawSpec(credentialSpec),
    status: {
      conditions: [
        { type: 'Ready', status: ready ? 'True' : 'False', reason: 'x', message: '', lastTransitionTime: '' },
      ],
    },
  });
  const cache = (name: string, items: unknown[] = []) => ({
    on: (h: Handlers) => handlers.set(name, h),
    list: () => items.values(),
    listIn: () => [].values(),
    get: () => undefined,
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
  registerMappers({
    caches,
    queue: { add: (k) => now.push(k), addAfter: (k, d) => later.push([k, d]) },
    sourceSecretNames: () => [],
    statusMayChange: (credential) => later.push([`r/${credential}`, 500]),
  });
  return { handlers, now, later };
}

describe('namespace events', () => {
  test.each<[string, boolean, V1Namespace, string[], Array<[string, number]>]>([
    // The recount of a Ready credential is run at once by the namespace key after its writes (reconciler).
    [
      'joins the selection of a Ready credential: the namespace first, the recount after the pause',
      true,
      namespace('x', { team: 'a' }, 'Active'),
      ['n/c/x'],
      [['r/c', 500]],
    ],
    [
      'joins the selection while not Ready: counts batched',
      false,
      namespace('x', { team: 'a' }, 'Active'),
      ['n/c/x'],
      [['r/c', 500]],
    ],
    ['not selected: counts batched', true, namespace('x', { team: 'b' }, 'Active'), ['n/c/x'], [['r/c', 500]]],
  ])('%s', (_name, ready, namespace, now, later) => {
    const t = setup(ready);
    t.handlers.get('namespaces')!.add!(namespace);
    expect(t.now).toEqual(now);
    expect(t.later).toEqual(later);
  });
});

describe('ServiceAccount events', () => {
  /** A ServiceAccount of team-a with `labels`, and our record of `injected` entries. */
  const teamA = (name: string, labels?: Record<string, string>, injected?: Record<string, string>) =>
    serviceAccount('team-a', name, [], { labels, injected });
  const bySelector = { serviceAccountSelector: { matchLabels: { pull: 'yes' } } };
  test.each<[string, Record<string, unknown>, V1ServiceAccount, V1ServiceAccount, string[]]>([
    [
      'relabelled into the selector: its namespace',
      bySelector,
      teamA('app'),
      teamA('app', { pull: 'yes' }),
      ['n/c/team-a'],
    ],
    [
      'relabelled out of the selector while carrying our entry: its namespace (cleanup)',
      bySelector,
      teamA('app', { pull: 'yes' }, { c: 'c' }),
      teamA('app', { pull: 'no' }, { c: 'c' }),
      ['n/c/team-a'],
    ],
    [
      'relabelled, matching neither before nor after: nothing',
      bySelector,
      teamA('app', { pull: 'no' }),
      teamA('app', { pull: 'maybe' }),
      [],
    ],
    ['labels unchanged: nothing', bySelector, teamA('app', { pull: 'yes' }), teamA('app', { pull: 'yes' }), []],
    [
      'an excluded SA relabelled into the selector: nothing',
      { ...bySelector, excludeServiceAccounts: ['app'] },
      teamA('app'),
      teamA('app', { pull: 'yes' }),
      [],
    ],
  ])('%s', (_name, patch, before, after, now) => {
    const t = setup(true, patch);
    t.handlers.get('serviceAccounts')!.update!(before, after);
    expect(t.now).toEqual(now);
    expect(t.later).toEqual([]);
  });
});
