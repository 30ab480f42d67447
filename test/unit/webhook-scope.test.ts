// The webhook's scope (src/webhook/scope.ts): which namespaces the API server calls it for, and the
// namespaceSelector that says so beside what the configuration already selects.
import type { V1LabelSelector, V1Namespace } from '@kubernetes/client-node';
import { parseSpec, type RegistryCredentialSpec } from '../../src/api/v1alpha1.js';
import { sameSelector, scopedSelector, scopeNamespaces, type ScopeCredential } from '../../src/webhook/scope.js';

function spec(fields: Record<string, unknown> = {}): RegistryCredentialSpec {
  const parsed = parseSpec({
    registries: [{ server: 'registry.example.com', basicAuth: { secretName: 's' } }],
    injection: 'Pods',
    namespaceSelector: { matchLabels: { team: 'a' } },
    ...fields,
  });
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.spec;
}

const cred = (fields: Record<string, unknown> = {}, deleting = false): ScopeCredential => ({
  spec: spec(fields),
  deleting,
});
const ns = (name: string, labels: Record<string, string> = {}, terminating = false): V1Namespace => ({
  metadata: { name, labels, ...(terminating ? { deletionTimestamp: new Date() } : {}) },
});

const namespaces = [
  ns('b1', { team: 'b' }),
  ns('a2', { team: 'a' }),
  ns('a1', { team: 'a' }),
  ns('a3', { team: 'a' }, true),
  ns('c1', { team: 'c' }),
];

test.each<[string, ScopeCredential[], string[] | undefined]>([
  ['no RegistryCredential: no namespace', [], []],
  ['injection Pods: the namespaces it selects, sorted, terminating ones left out', [cred()], ['a1', 'a2']],
  ['injection ServiceAccounts: none', [cred({ injection: 'ServiceAccounts' })], []],
  ['suspended: none', [cred({ suspend: true })], []],
  ['being deleted: none', [cred({}, true)], []],
  ['kubelet delivery only (no Secrets): none', [cred({ delivery: { secrets: false, kubelet: true } })], []],
  [
    'two credentials: the union, each name once',
    [cred(), cred({ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['a', 'b'] }] } })],
    ['a1', 'a2', 'b1'],
  ],
  ['a spec that does not parse selects nothing', [{ deleting: false }], []],
])('%s', (_what, credentials, expected) => {
  expect(scopeNamespaces(credentials, namespaces)).toEqual(expected);
});

test('beyond the maximum: no narrowing (undefined)', () => {
  expect(scopeNamespaces([cred()], namespaces, 1)).toBeUndefined();
  expect(scopeNamespaces([cred()], namespaces, 2)).toEqual(['a1', 'a2']);
});

const exclusions = { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'regcred-system'] };

test.each<[string, V1LabelSelector | undefined, string[] | undefined, V1LabelSelector]>([
  [
    "the chart's exclusions and the user's labels kept, the scope added",
    { matchLabels: { env: 'prod' }, matchExpressions: [exclusions] },
    ['a1', 'a2'],
    {
      matchLabels: { env: 'prod' },
      matchExpressions: [exclusions, { key: 'kubernetes.io/metadata.name', operator: 'In', values: ['a1', 'a2'] }],
    },
  ],
  [
    'an earlier scope replaced, not added to',
    { matchExpressions: [exclusions, { key: 'kubernetes.io/metadata.name', operator: 'In', values: ['old'] }] },
    ['a1'],
    { matchExpressions: [exclusions, { key: 'kubernetes.io/metadata.name', operator: 'In', values: ['a1'] }] },
  ],
  [
    'no namespace in scope: DoesNotExist on a label every namespace has (In needs a value)',
    { matchExpressions: [exclusions] },
    [],
    { matchExpressions: [exclusions, { key: 'kubernetes.io/metadata.name', operator: 'DoesNotExist' }] },
  ],
  [
    'beyond the maximum: the scope removed, the rest kept',
    { matchExpressions: [exclusions, { key: 'kubernetes.io/metadata.name', operator: 'DoesNotExist' }] },
    undefined,
    { matchExpressions: [exclusions] },
  ],
  [
    'no selector before',
    undefined,
    ['a1'],
    { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['a1'] }] },
  ],
  ['no selector and no narrowing: the empty selector (every namespace)', undefined, undefined, {}],
])('%s', (_what, current, names, expected) => {
  expect(scopedSelector(current, names)).toEqual(expected);
});

test.each<[string, V1LabelSelector | undefined, V1LabelSelector | undefined, boolean]>([
  ['undefined and empty', undefined, {}, true],
  [
    'values in another order',
    { matchExpressions: [{ key: 'k', operator: 'In', values: ['b', 'a'] }] },
    { matchExpressions: [{ key: 'k', operator: 'In', values: ['a', 'b'] }] },
    true,
  ],
  ['labels in another order', { matchLabels: { x: '1', y: '2' } }, { matchLabels: { y: '2', x: '1' } }, true],
  [
    'another operator',
    { matchExpressions: [{ key: 'k', operator: 'In', values: ['a'] }] },
    { matchExpressions: [{ key: 'k', operator: 'NotIn', values: ['a'] }] },
    false,
  ],
  ['a label more', { matchLabels: { x: '1' } }, { matchLabels: { x: '1', y: '2' } }, false],
])('same selector: %s', (_what, a, b, expected) => {
  expect(sameSelector(a, b)).toBe(expected);
});
