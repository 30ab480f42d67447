import type { V1Namespace, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import type { LabelSelector } from '../../src/api/v1alpha1.js';
import {
  DOCKERCONFIG_KEY,
  DOCKERCONFIG_TYPE,
  desiredSecret,
  documentOf,
  isNamespaceConverged,
  isNamespaceSelected,
  isOwnedBy,
  isServiceAccountSelected,
  isTerminating,
  matchesSelector,
  secretUpdate,
} from '../../src/controller/desired.js';
import { base64, credential, deletingNamespace, namespace, serviceAccount, spec } from '../support/builders.js';

// ---- builders ----------------------------------------------------------------------------------

const DOC = '{"auths":{"harbor.example.com":{"username":"u","password":"p","auth":"dTpw"}}}';

// ---- matchesSelector ---------------------------------------------------------------------------

describe('matchesSelector', () => {
  const labels = { env: 'prod', team: 'a', empty: '' };
  const expr = (
    key: string,
    operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist',
    values?: string[],
  ): LabelSelector => ({
    matchExpressions: [{ key, operator, ...(values ? { values } : {}) }],
  });

  test.each<[string, Record<string, string> | undefined, LabelSelector | undefined, boolean]>([
    ['no selector selects everything', labels, undefined, true],
    ['no selector selects unlabelled', undefined, undefined, true],
    ['empty selector selects everything', labels, {}, true],
    ['empty selector selects unlabelled', undefined, {}, true],
    ['matchLabels equal', labels, { matchLabels: { env: 'prod' } }, true],
    ['matchLabels all must match', labels, { matchLabels: { env: 'prod', team: 'b' } }, false],
    ['matchLabels different value', labels, { matchLabels: { env: 'dev' } }, false],
    ['matchLabels missing key', labels, { matchLabels: { zone: 'x' } }, false],
    ['matchLabels on unlabelled', undefined, { matchLabels: { env: 'prod' } }, false],
    ['matchLabels empty value matches empty label', labels, { matchLabels: { empty: '' } }, true],
    ['In: value listed', labels, expr('env', 'In', ['dev', 'prod']), true],
    ['In: value not listed', labels, expr('env', 'In', ['dev']), false],
    ['In: key missing', labels, expr('zone', 'In', ['prod']), false],
    ['In: no values', labels, expr('env', 'In'), false],
    ['In: empty label value listed', labels, expr('empty', 'In', ['']), true],
    ['NotIn: value listed', labels, expr('env', 'NotIn', ['prod']), false],
    ['NotIn: value not listed', labels, expr('env', 'NotIn', ['dev']), true],
    ['NotIn: key missing matches', labels, expr('zone', 'NotIn', ['prod']), true],
    ['NotIn: unlabelled matches', undefined, expr('env', 'NotIn', ['prod']), true],
    ['Exists: key present', labels, expr('team', 'Exists'), true],
    ['Exists: key present with empty value', labels, expr('empty', 'Exists'), true],
    ['Exists: key missing', labels, expr('zone', 'Exists'), false],
    ['DoesNotExist: key missing', labels, expr('zone', 'DoesNotExist'), true],
    ['DoesNotExist: key present', labels, expr('env', 'DoesNotExist'), false],
    ['DoesNotExist: unlabelled', undefined, expr('env', 'DoesNotExist'), true],
    ['inherited property names are not labels', {}, expr('toString', 'Exists'), false],
    [
      'labels and expressions are ANDed (all true)',
      labels,
      {
        matchLabels: { env: 'prod' },
        matchExpressions: [
          { key: 'team', operator: 'In', values: ['a'] },
          { key: 'zone', operator: 'DoesNotExist' },
        ],
      },
      true,
    ],
    [
      'labels and expressions are ANDed (one expression false)',
      labels,
      {
        matchLabels: { env: 'prod' },
        matchExpressions: [
          { key: 'team', operator: 'In', values: ['a'] },
          { key: 'env', operator: 'DoesNotExist' },
        ],
      },
      false,
    ],
    [
      'labels and expressions are ANDed (labels false)',
      labels,
      { matchLabels: { env: 'dev' }, matchExpressions: [{ key: 'team', operator: 'Exists' }] },
      false,
    ],
  ])('%s', (_name, l, selector, expected) => {
    expect(matchesSelector(l, selector)).toBe(expected);
  });
});

// ---- namespaces and service accounts -----------------------------------------------------------

describe('isTerminating', () => {
  test.each<[string, V1Namespace, boolean]>([
    ['active', namespace('a', {}, 'Active'), false],
    ['no status', namespace('a'), false],
    ['deletionTimestamp', deletingNamespace('a'), true],
    ['phase Terminating', namespace('a', {}, 'Terminating'), true],
  ])('%s', (_name, namespace, expected) => {
    expect(isTerminating(namespace)).toBe(expected);
  });
});

describe('isNamespaceSelected', () => {
  const selector = { namespaceSelector: { matchLabels: { regcred: 'on' } } };
  test.each<[string, V1Namespace, Record<string, unknown>, boolean]>([
    ['no selector: every namespace', namespace('a'), {}, true],
    ['selector matches', namespace('a', { regcred: 'on' }), selector, true],
    ['selector does not match', namespace('a', { regcred: 'off' }), selector, false],
    ['unlabelled namespace with selector', namespace('a'), selector, false],
    [
      'excluded by name',
      namespace('kube-system', { regcred: 'on' }),
      { ...selector, excludeNamespaces: ['kube-system'] },
      false,
    ],
    [
      'exclusion is by exact name',
      namespace('kube-system-2', { regcred: 'on' }),
      { ...selector, excludeNamespaces: ['kube-system'] },
      true,
    ],
    ['excluded without selector', namespace('b'), { excludeNamespaces: ['a', 'b'] }, false],
    ['terminating by deletionTimestamp', deletingNamespace('a', { regcred: 'on' }), selector, false],
    ['terminating by phase', namespace('a', { regcred: 'on' }, 'Terminating'), selector, false],
    ['terminating without selector', deletingNamespace('a'), {}, false],
    ['active phase', namespace('a', { regcred: 'on' }, 'Active'), selector, true],
    [
      'namespaceNames: a glob matches',
      namespace('team-a', { regcred: 'on' }),
      { ...selector, namespaceNames: ['team-*'] },
      true,
    ],
    [
      'namespaceNames: a glob does not match',
      namespace('ops', { regcred: 'on' }),
      { ...selector, namespaceNames: ['team-*'] },
      false,
    ],
    [
      'namespaceNames ANDed with the selector',
      namespace('team-a', { regcred: 'off' }),
      { ...selector, namespaceNames: ['team-*'] },
      false,
    ],
    ['namespaceNames without selector', namespace('team-b'), { namespaceNames: ['team-*'] }, true],
    ['namespaceNames: any entry', namespace('ci-01'), { namespaceNames: ['team-*', 'ci-??'] }, true],
    ['namespaceNames: ? is one character', namespace('ci-001'), { namespaceNames: ['ci-??'] }, false],
    ['namespaceNames: a plain name', namespace('payments'), { namespaceNames: ['payments'] }, true],
    ['namespaceNames: a plain name is exact', namespace('payments-2'), { namespaceNames: ['payments'] }, false],
    ['excludeNamespaces glob', namespace('kube-public'), { excludeNamespaces: ['kube-*'] }, false],
    ['excludeNamespaces glob leaves others', namespace('kubeflow'), { excludeNamespaces: ['kube-*'] }, true],
    [
      'exclusion wins over namespaceNames',
      namespace('team-sandbox'),
      { namespaceNames: ['team-*'], excludeNamespaces: ['*-sandbox'] },
      false,
    ],
    ['terminating and named', deletingNamespace('team-a'), { namespaceNames: ['team-*'] }, false],
  ])('%s', (_name, namespace, patch, expected) => {
    expect(isNamespaceSelected(namespace, spec(patch))).toBe(expected);
  });
});

describe('isServiceAccountSelected', () => {
  test.each<[string, string[] | undefined, string, boolean]>([
    ['default list selects default', undefined, 'default', true],
    ['default list does not select others', undefined, 'builder', false],
    ['"*" selects default', ['*'], 'default', true],
    ['"*" selects any name', ['*'], 'builder', true],
    ['[] selects nothing (default)', [], 'default', false],
    ['[] selects nothing (other)', [], 'builder', false],
    ['named list selects a listed name', ['default', 'builder'], 'builder', true],
    ['named list does not select others', ['default', 'builder'], 'deployer', false],
    ['names match exactly', ['build'], 'builder', false],
  ])('%s', (_name, serviceAccounts, name, expected) => {
    expect(
      isServiceAccountSelected(
        serviceAccount('team-a', name),
        spec(serviceAccounts === undefined ? {} : { serviceAccounts }),
      ),
    ).toBe(expected);
  });

  const labelled = (name: string, labels: Record<string, string>): V1ServiceAccount => ({
    metadata: { name, namespace: 'team-a', labels },
  });
  const pull = { serviceAccountSelector: { matchLabels: { 'regcred.io/pull': 'yes' } } };
  test.each<[string, V1ServiceAccount, Record<string, unknown>, boolean]>([
    ['selector adds a matching SA to the default list', labelled('app', { 'regcred.io/pull': 'yes' }), pull, true],
    ['selector: the default list still selects default', serviceAccount('team-a', 'default'), pull, true],
    ['selector: a non-matching SA is not selected', labelled('app', { 'regcred.io/pull': 'no' }), pull, false],
    ['selector: an unlabelled SA is not selected', serviceAccount('team-a', 'app'), pull, false],
    [
      'selector with [] selects only matching SAs',
      serviceAccount('team-a', 'default'),
      { ...pull, serviceAccounts: [] },
      false,
    ],
    [
      'selector with [] selects a matching SA',
      labelled('app', { 'regcred.io/pull': 'yes' }),
      { ...pull, serviceAccounts: [] },
      true,
    ],
    [
      'an empty selector matches every SA',
      serviceAccount('team-a', 'anything'),
      { serviceAccountSelector: {}, serviceAccounts: [] },
      true,
    ],
    [
      'selector expressions',
      labelled('ci', { tier: 'build' }),
      { serviceAccountSelector: { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['build'] }] } },
      false,
    ],
    [
      'excluded wins over the list',
      serviceAccount('team-a', 'builder'),
      { serviceAccounts: ['default', 'builder'], excludeServiceAccounts: ['builder'] },
      false,
    ],
    [
      'excluded wins over "*"',
      serviceAccount('team-a', 'builder'),
      { serviceAccounts: ['*'], excludeServiceAccounts: ['builder'] },
      false,
    ],
    [
      '"*" still selects the others',
      serviceAccount('team-a', 'deployer'),
      { serviceAccounts: ['*'], excludeServiceAccounts: ['builder'] },
      true,
    ],
    [
      'excluded wins over the selector',
      labelled('builder', { 'regcred.io/pull': 'yes' }),
      { ...pull, excludeServiceAccounts: ['builder'] },
      false,
    ],
    [
      'exclusion is by exact name',
      serviceAccount('team-a', 'builder-2'),
      { serviceAccounts: ['*'], excludeServiceAccounts: ['builder'] },
      true,
    ],
    ['excluding default', serviceAccount('team-a', 'default'), { excludeServiceAccounts: ['default'] }, false],
  ])('%s', (_name, serviceAccount, patch, expected) => {
    expect(isServiceAccountSelected(serviceAccount, spec(patch))).toBe(expected);
  });
});

// ---- desiredSecret / isOwnedBy / documentOf ----------------------------------------------------

describe('desiredSecret', () => {
  const secret = desiredSecret(credential('harbor', { uid: 'uid-9' }), 'team-a', 'pull', DOC);

  test.each<[string, (s: V1Secret) => unknown, unknown]>([
    ['apiVersion', (s) => s.apiVersion, 'v1'],
    ['kind', (s) => s.kind, 'Secret'],
    ['type', (s) => s.type, DOCKERCONFIG_TYPE],
    ['name is the target secret name', (s) => s.metadata?.name, 'pull'],
    ['namespace', (s) => s.metadata?.namespace, 'team-a'],
    [
      'labels',
      (s) => s.metadata?.labels,
      { 'app.kubernetes.io/managed-by': 'regcred-operator', 'regcred.io/credential': 'harbor' },
    ],
    [
      'one controller ownerReference',
      (s) => s.metadata?.ownerReferences,
      [
        {
          apiVersion: 'regcred.io/v1alpha1',
          kind: 'RegistryCredential',
          name: 'harbor',
          uid: 'uid-9',
          controller: true,
          blockOwnerDeletion: false,
        },
      ],
    ],
    ['only the .dockerconfigjson key', (s) => Object.keys(s.data ?? {}), [DOCKERCONFIG_KEY]],
    ['payload is base64 of the document', (s) => s.data?.[DOCKERCONFIG_KEY], base64(DOC)],
    ['documentOf round-trips', (s) => documentOf(s), DOC],
  ])('%s', (_name, pick, expected) => {
    expect(pick(secret)).toEqual(expected);
  });

  test("a secretTemplate's labels and annotations, under the operator's labels", () => {
    const templated = desiredSecret(credential('harbor', { uid: 'uid-9' }), 'team-a', 'pull', DOC, {
      labels: { team: 'payments', 'regcred.io/credential': 'forged' },
      annotations: { 'argocd.argoproj.io/compare-options': 'IgnoreExtraneous' },
    });
    expect(templated.metadata?.labels).toEqual({
      team: 'payments',
      'app.kubernetes.io/managed-by': 'regcred-operator',
      'regcred.io/credential': 'harbor',
    });
    expect(templated.metadata?.annotations).toEqual({
      'argocd.argoproj.io/compare-options': 'IgnoreExtraneous',
      'regcred.io/templated-keys':
        '{"annotations":["argocd.argoproj.io/compare-options"],"labels":["regcred.io/credential","team"]}',
    });
    expect(templated.metadata?.ownerReferences).toEqual(secret.metadata?.ownerReferences);
  });

  test('utf-8 documents survive the round trip', () => {
    const doc = '{"auths":{"r.example.com":{"username":"jürgen","password":"pässwörd","auth":"x"}}}';
    expect(documentOf(desiredSecret(credential('harbor', { uid: 'uid-1' }), 'ns', 'n', doc))).toBe(doc);
  });

  test.each<[string, V1Secret | undefined]>([
    ['undefined secret', undefined],
    ['secret without data', { metadata: { name: 'x' } }],
    ['secret without our key', { data: { other: base64('x') } }],
    ['empty payload', { data: { [DOCKERCONFIG_KEY]: '' } }],
  ])('documentOf is undefined for %s', (_name, s) => {
    expect(documentOf(s)).toBeUndefined();
  });
});

describe('isOwnedBy', () => {
  const owner = { metadata: { name: 'harbor', uid: 'uid-1' } };
  const ref = (uid: string, name = 'harbor') => ({
    apiVersion: 'regcred.io/v1alpha1',
    kind: 'RegistryCredential',
    name,
    uid,
  });
  const managed = { 'app.kubernetes.io/managed-by': 'regcred-operator', 'regcred.io/credential': 'harbor' };
  const secretWith = (labels?: Record<string, string>, ownerReferences?: ReturnType<typeof ref>[]): V1Secret => ({
    metadata: { name: 's', labels, ownerReferences },
  });

  test.each<[string, V1Secret, boolean]>([
    ['both labels', secretWith(managed), true],
    ['ownerReference uid only (labels edited away)', secretWith(undefined, [ref('uid-1')]), true],
    ['ownerReference uid among others', secretWith({ app: 'x' }, [ref('other'), ref('uid-1')]), true],
    ['ownerReference matched by uid, not name', secretWith(undefined, [ref('uid-1', 'renamed')]), true],
    ['ownerReference with same name but another uid', secretWith(undefined, [ref('uid-2')]), false],
    ['managed-by only', secretWith({ 'app.kubernetes.io/managed-by': 'regcred-operator' }), false],
    ['credential label only', secretWith({ 'regcred.io/credential': 'harbor' }), false],
    ['labels of another credential', secretWith({ ...managed, 'regcred.io/credential': 'quay' }), false],
    ['labels of another manager', secretWith({ ...managed, 'app.kubernetes.io/managed-by': 'helm' }), false],
    ['no metadata', {}, false],
    ['foreign secret', secretWith({ app: 'x' }), false],
  ])('%s', (_name, s, expected) => {
    expect(isOwnedBy(s, owner)).toBe(expected);
  });
});

// ---- secretUpdate ------------------------------------------------------------------------------

describe('secretUpdate', () => {
  const c = credential('harbor', { uid: 'uid-1' });
  const desired = desiredSecret(c, 'team-a', 'harbor', DOC);
  /** The desired Secret as the API would return it, with `patch` applied to metadata / top level. */
  function existing(
    patch: { metadata?: Partial<V1Secret['metadata']> } & Omit<Partial<V1Secret>, 'metadata'> = {},
  ): V1Secret {
    const { metadata, ...rest } = patch;
    return {
      ...desired,
      metadata: { ...desired.metadata!, resourceVersion: '7', uid: 'secret-uid', ...metadata },
      ...rest,
    };
  }

  test.each<[string, V1Secret]>([
    ['identical', existing()],
    ['foreign labels added', existing({ metadata: { labels: { ...desired.metadata!.labels, team: 'a' } } })],
    ['foreign annotations', existing({ metadata: { annotations: { note: 'keep me' } } })],
    [
      'foreign ownerReference next to ours',
      existing({
        metadata: {
          ownerReferences: [
            { apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'cm' },
            ...desired.metadata!.ownerReferences!,
          ],
        },
      }),
    ],
  ])('undefined when already equal: %s', (_name, s) => {
    expect(secretUpdate(s, desired)).toBeUndefined();
  });

  const otherDoc = base64('{"auths":{}}');
  test.each<[string, V1Secret]>([
    ['payload differs', existing({ data: { [DOCKERCONFIG_KEY]: otherDoc } })],
    ['payload missing', existing({ data: {} })],
    ['no data', existing({ data: undefined })],
    ['an extra data key', existing({ data: { ...desired.data, extra: base64('x') } })],
    ['type differs', existing({ type: 'Opaque' })],
    [
      'managed-by label edited',
      existing({ metadata: { labels: { ...desired.metadata!.labels, 'app.kubernetes.io/managed-by': 'me' } } }),
    ],
    [
      'credential label removed',
      existing({ metadata: { labels: { 'app.kubernetes.io/managed-by': 'regcred-operator' } } }),
    ],
    ['all labels removed', existing({ metadata: { labels: undefined } })],
    ['ownerReference removed', existing({ metadata: { ownerReferences: undefined } })],
    [
      'ownerReference of an older credential with the same name',
      existing({ metadata: { ownerReferences: [{ ...desired.metadata!.ownerReferences![0]!, uid: 'old-uid' }] } }),
    ],
  ])('rewrites to the desired state when %s', (_name, s) => {
    const update = secretUpdate(s, desired);
    expect(update).toBeDefined();
    expect(update!.type).toBe(DOCKERCONFIG_TYPE);
    expect(update!.data).toEqual(desired.data);
    expect(update!.stringData).toBeUndefined();
    expect(update!.metadata!.labels).toMatchObject(desired.metadata!.labels!);
    expect(update!.metadata!.ownerReferences!.filter((o) => o.kind === 'RegistryCredential')).toEqual(
      desired.metadata!.ownerReferences,
    );
    expect(update!.metadata!.resourceVersion).toBe('7'); // optimistic concurrency is kept
    expect(update!.metadata!.name).toBe('harbor');
    expect(update!.metadata!.namespace).toBe('team-a');
    expect(secretUpdate(update!, desired)).toBeUndefined();
  });

  test('keeps foreign labels, annotations and ownerReferences while fixing ours', () => {
    const foreignRef = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'd', uid: 'dep' };
    const s = existing({
      metadata: {
        labels: { team: 'a', 'regcred.io/credential': 'edited' },
        annotations: { note: 'keep me' },
        ownerReferences: [
          foreignRef,
          { apiVersion: 'regcred.io/v1alpha1', kind: 'RegistryCredential', name: 'harbor', uid: 'old-uid' },
        ],
      },
      data: { [DOCKERCONFIG_KEY]: otherDoc, junk: base64('x') },
      stringData: { more: 'junk' },
    });
    const update = secretUpdate(s, desired)!;
    expect(update.metadata!.labels).toEqual({
      team: 'a',
      'app.kubernetes.io/managed-by': 'regcred-operator',
      'regcred.io/credential': 'harbor',
    });
    expect(update.metadata!.annotations).toEqual({ note: 'keep me' });
    expect(update.metadata!.ownerReferences).toEqual([foreignRef, desired.metadata!.ownerReferences![0]]);
    expect(update.data).toEqual({ [DOCKERCONFIG_KEY]: base64(DOC) });
    expect(update.stringData).toBeUndefined();
  });

  test('does not mutate its inputs', () => {
    const s = existing({ metadata: { labels: { team: 'a' } }, data: { [DOCKERCONFIG_KEY]: otherDoc } });
    const before = structuredClone(s);
    const desiredBefore = structuredClone(desired);
    secretUpdate(s, desired);
    expect(s).toEqual(before);
    expect(desired).toEqual(desiredBefore);
  });
});

// ---- isNamespaceConverged ----------------------------------------------------------------------

describe('isNamespaceConverged', () => {
  const c = credential('harbor', { uid: 'uid-1' });
  const desired = desiredSecret(c, 'team-a', 'harbor', DOC);
  const stale = desiredSecret(c, 'team-a', 'harbor', '{"auths":{}}');
  const renamed = desiredSecret(c, 'team-a', 'pull', DOC);
  const foreign: V1Secret = {
    metadata: { name: 'harbor', namespace: 'team-a' },
    type: DOCKERCONFIG_TYPE,
    data: desired.data,
  };
  const ours = { harbor: 'harbor' };
  const goodDefault = serviceAccount('team-a', 'default', ['other', 'harbor'], { injected: ours });

  test.each<[string, V1Secret | undefined, V1ServiceAccount[], V1Secret | undefined, Record<string, unknown>, boolean]>(
    [
      ['desired Secret and SA listing it', desired, [goodDefault], desired, {}, true],
      ['no ServiceAccounts yet (they are handled when they appear)', desired, [], desired, {}, true],
      [
        'unselected SA without our entry',
        desired,
        [goodDefault, serviceAccount('team-a', 'builder', ['x'])],
        desired,
        {},
        true,
      ],
      [
        'SA listing it without our record (someone else added it)',
        desired,
        [serviceAccount('team-a', 'default', ['harbor'])],
        desired,
        {},
        true,
      ],
      ['no Secret', undefined, [goodDefault], desired, {}, false],
      ['Secret with stale payload', stale, [goodDefault], desired, {}, false],
      ['Secret not ours', foreign, [goodDefault], desired, {}, false],
      ['Secret under the old name after a rename', desired, [goodDefault], renamed, { secretName: 'pull' }, false],
      ['selected SA missing the entry', desired, [serviceAccount('team-a', 'default', ['other'])], desired, {}, false],
      [
        'one of two selected SAs missing the entry',
        desired,
        [goodDefault, serviceAccount('team-a', 'builder')],
        desired,
        { serviceAccounts: ['*'] },
        false,
      ],
      [
        'unselected SA still carrying our entry',
        desired,
        [goodDefault, serviceAccount('team-a', 'builder', ['harbor'], { injected: ours })],
        desired,
        {},
        false,
      ],
      [
        'SA carrying our entry under an old name',
        desired,
        [serviceAccount('team-a', 'default', ['old', 'harbor'], { injected: { old: 'harbor', harbor: 'harbor' } })],
        desired,
        {},
        false,
      ],
      [
        'an excluded SA still carrying our entry',
        desired,
        [goodDefault, serviceAccount('team-a', 'builder', ['harbor'], { injected: ours })],
        desired,
        { serviceAccounts: ['*'], excludeServiceAccounts: ['builder'] },
        false,
      ],
      [
        'an excluded SA without our entry',
        desired,
        [goodDefault, serviceAccount('team-a', 'builder', ['x'])],
        desired,
        { serviceAccounts: ['*'], excludeServiceAccounts: ['builder'] },
        true,
      ],
      [
        'an SA matching serviceAccountSelector missing the entry',
        desired,
        [goodDefault, serviceAccount('team-a', 'app', [], { labels: { pull: 'yes' } })],
        desired,
        { serviceAccountSelector: { matchLabels: { pull: 'yes' } } },
        false,
      ],
      [
        'a copy without the template labels',
        desired,
        [goodDefault],
        desiredSecret(c, 'team-a', 'harbor', DOC, { labels: { team: 'a' } }),
        {},
        false,
      ],
      [
        'a copy with the template labels',
        desiredSecret(c, 'team-a', 'harbor', DOC, { labels: { team: 'a' } }),
        [goodDefault],
        desiredSecret(c, 'team-a', 'harbor', DOC, { labels: { team: 'a' } }),
        {},
        true,
      ],
      [
        'a copy still carrying a label taken out of the template',
        desiredSecret(c, 'team-a', 'harbor', DOC, { labels: { team: 'a' } }),
        [goodDefault],
        desired,
        {},
        false,
      ],
      ['sources held: any Secret of ours under the right name', stale, [goodDefault], undefined, {}, true],
      ['sources held: no Secret', undefined, [goodDefault], undefined, {}, false],
      ['sources held: foreign Secret', foreign, [goodDefault], undefined, {}, false],
      [
        'sources held: secretName from the spec',
        desiredSecret(c, 'team-a', 'pull', DOC),
        [serviceAccount('team-a', 'default', ['pull'], { injected: { pull: 'harbor' } })],
        undefined,
        { secretName: 'pull' },
        true,
      ],
      [
        'sources held: Secret under the credential name while spec names another',
        stale,
        [goodDefault],
        undefined,
        { secretName: 'pull' },
        false,
      ],
      [
        'serviceAccounts [] and SAs without our entry',
        desired,
        [serviceAccount('team-a', 'default', ['x'])],
        desired,
        { serviceAccounts: [] },
        true,
      ],
      [
        'serviceAccounts [] but our entry is still there',
        desired,
        [goodDefault],
        desired,
        { serviceAccounts: [] },
        false,
      ],
    ],
  )('%s', (_name, secret, serviceAccounts, want, patch, expected) => {
    expect(isNamespaceConverged({ secret, serviceAccounts }, c, spec(patch), want)).toBe(expected);
  });

  test('accepts any iterable of ServiceAccounts', () => {
    const m = new Map([['default', goodDefault]]);
    expect(isNamespaceConverged({ secret: desired, serviceAccounts: m.values() }, c, spec(), desired)).toBe(true);
  });
});
