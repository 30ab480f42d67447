// Which pull secrets the admission webhook appends to a new Pod (src/webhook/injection.ts).
import type { V1Namespace, V1Pod } from '@kubernetes/client-node';
import { parseSpec, type RegistryCredentialSpec } from '../../src/api/v1alpha1.js';
import { appendPatch, decideInjection, type InjectableCredential } from '../../src/webhook/injection.js';

function spec(fields: Record<string, unknown> = {}): RegistryCredentialSpec {
  const parsed = parseSpec({
    registries: [{ server: 'registry.example.com', basicAuth: { secretName: 's' } }],
    injection: 'Pods',
    ...fields,
  });
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.spec;
}

const cred = (name: string, fields: Record<string, unknown>, keys: string[] | undefined): InjectableCredential => ({
  name,
  spec: spec(fields),
  ...(keys ? { copy: { secretName: name, keys } } : {}),
});

const ns = (name: string, labels: Record<string, string> = {}): V1Namespace => ({ metadata: { name, labels } });

function pod(
  images: { containers?: string[]; init?: string[]; ephemeral?: string[] },
  extra: { serviceAccountName?: string; pullSecrets?: string[] } = {},
): V1Pod {
  return {
    metadata: { name: 'p', namespace: 'app' },
    spec: {
      serviceAccountName: extra.serviceAccountName,
      containers: (images.containers ?? []).map((image, i) => ({ name: `c${i}`, image })),
      initContainers: images.init?.map((image, i) => ({ name: `i${i}`, image })),
      ephemeralContainers: images.ephemeral?.map((image, i) => ({ name: `e${i}`, image })),
      imagePullSecrets: extra.pullSecrets?.map((name) => ({ name })),
    },
  };
}

const served = 'registry.example.com/team/app:1';
const other = 'other.example.com/app:1';

test.each<[string, V1Pod, InjectableCredential[], string[]]>([
  [
    'a container image the copy serves',
    pod({ containers: [served] }),
    [cred('a', {}, ['registry.example.com'])],
    ['a'],
  ],
  ['an image of another registry', pod({ containers: [other] }), [cred('a', {}, ['registry.example.com'])], []],
  [
    'an init container counts',
    pod({ containers: [other], init: [served] }),
    [cred('a', {}, ['registry.example.com'])],
    ['a'],
  ],
  [
    'an ephemeral container counts',
    pod({ containers: [other], ephemeral: [served] }),
    [cred('a', {}, ['registry.example.com'])],
    ['a'],
  ],
  [
    'a key with a path: kubelet prefix rule',
    pod({ containers: [served] }),
    [cred('a', {}, ['registry.example.com/team'])],
    ['a'],
  ],
  ['a key with another path', pod({ containers: [served] }), [cred('a', {}, ['registry.example.com/ops'])], []],
  [
    'injection ServiceAccounts: not the webhook',
    pod({ containers: [served] }),
    [cred('a', { injection: 'ServiceAccounts' }, ['registry.example.com'])],
    [],
  ],
  [
    'injection unset: not the webhook',
    pod({ containers: [served] }),
    [cred('a', { injection: undefined }, ['registry.example.com'])],
    [],
  ],
  ['no copy in the namespace yet', pod({ containers: [served] }), [cred('a', {}, undefined)], []],
  ['suspended', pod({ containers: [served] }), [cred('a', { suspend: true }, ['registry.example.com'])], []],
  [
    'SA not listed',
    pod({ containers: [served] }, { serviceAccountName: 'builder' }),
    [cred('a', {}, ['registry.example.com'])],
    [],
  ],
  [
    'SA listed',
    pod({ containers: [served] }, { serviceAccountName: 'builder' }),
    [cred('a', { serviceAccounts: ['builder'] }, ['registry.example.com'])],
    ['a'],
  ],
  [
    'namespace not selected',
    pod({ containers: [served] }),
    [cred('a', { namespaceSelector: { matchLabels: { x: 'y' } } }, ['registry.example.com'])],
    [],
  ],
  [
    'already listed by the Pod',
    pod({ containers: [served] }, { pullSecrets: ['a'] }),
    [cred('a', {}, ['registry.example.com'])],
    [],
  ],
  [
    'two credentials, name order',
    pod({ containers: [served, other] }),
    [cred('a', {}, ['registry.example.com']), cred('b', {}, ['other.example.com'])],
    ['a', 'b'],
  ],
  [
    'an invalid image name is skipped',
    pod({ containers: ['UPPER/Case', served] }),
    [cred('a', {}, ['registry.example.com'])],
    ['a'],
  ],
])('%s', (_name, input, credentials, expected) => {
  expect(decideInjection({ pod: input, namespace: 'app', namespaceObject: ns('app'), credentials }).add).toEqual(
    expected,
  );
});

test('a namespace missing from the cache or terminating gets nothing', () => {
  const credentials = [cred('a', {}, ['registry.example.com'])];
  const input = pod({ containers: [served] });
  expect(decideInjection({ pod: input, namespace: 'app', credentials }).add).toEqual([]);
  const terminating: V1Namespace = { metadata: { name: 'app', deletionTimestamp: new Date() } };
  expect(decideInjection({ pod: input, namespace: 'app', namespaceObject: terminating, credentials }).add).toEqual([]);
});

test.each<[string, string[] | undefined, string[], unknown]>([
  ['nothing to add', ['x'], [], undefined],
  [
    'no list yet: one add of the whole list',
    undefined,
    ['a', 'b'],
    [{ op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'a' }, { name: 'b' }] }],
  ],
  [
    'a list: appended after the foreign entries',
    ['x', 'y'],
    ['a'],
    [{ op: 'add', path: '/spec/imagePullSecrets/-', value: { name: 'a' } }],
  ],
])('appendPatch: %s', (_name, existing, names, expected) => {
  expect(appendPatch(pod({ containers: [served] }, { pullSecrets: existing }), names)).toEqual(expected);
});
