// What the caches keep of each object (controller/slim.ts): the fields the controller reads, no
// managedFields, and repeated strings held once.
import type { V1Namespace, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import { cacheTransforms, StringPool, ValuePool } from '../../src/controller/slim.js';

/** A string equal to `s` but not the same instance (as JSON.parse hands out). */
const fresh = (s: string) => JSON.parse(JSON.stringify(s)) as string;
const managedFields = [{ manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:metadata': {} } }];

describe('StringPool', () => {
  test('hands out the first instance of an equal string', () => {
    const pool = new StringPool(4);
    const first = fresh('team-a');
    expect(pool.share(first)).toBe(first);
    const again = pool.share(fresh('team-a'));
    expect(again).toBe(first);
    expect(pool.share(undefined)).toBeUndefined();
  });

  test('empties itself when full instead of growing', () => {
    const pool = new StringPool(2);
    pool.share('a');
    pool.share('b');
    pool.share('c'); // full: emptied, then holds c
    const a2 = fresh('a');
    expect(pool.share(a2)).toBe(a2);
  });

  test('shareValues copies a map with shared values and leaves undefined alone', () => {
    const pool = new StringPool();
    const label = fresh('bench');
    pool.share(label);
    const map = { team: fresh('bench') };
    const out = pool.shareValues(map)!;
    expect(out).toEqual({ team: 'bench' });
    expect(out.team).toBe(label);
    expect(out).not.toBe(map);
    expect(pool.shareValues(undefined)).toBeUndefined();
  });
});

describe('ValuePool', () => {
  test.each<[string, Record<string, string>, Record<string, string>, boolean]>([
    ['equal maps', { a: '1', b: '2' }, { a: '1', b: '2' }, true],
    ['another value', { a: '1' }, { a: '2' }, false],
    ['another key', { a: '1' }, { b: '1' }, false],
    ['separators inside values', { a: '1\u0000b\u0000' }, { a: '1', b: '' }, false],
    ['quotes inside values', { a: '1","b":"' }, { a: '1', b: '' }, false],
    ['empty maps', {}, {}, true],
  ])('%s', (_name, x, y, same) => {
    const pool = new ValuePool();
    const a = pool.map(x)!;
    const b = pool.map(y)!;
    expect(a).toEqual(x);
    expect(b).toEqual(y);
    expect(a === b).toBe(same);
  });

  test('pull-secret lists are shared by their names, in order', () => {
    const pool = new ValuePool();
    const a = pool.references([{ name: 'pull' }, { name: 'other' }]);
    expect(pool.references([{ name: 'pull' }, { name: 'other' }])).toBe(a);
    expect(pool.references([{ name: 'other' }, { name: 'pull' }])).not.toBe(a);
    expect(pool.references(undefined)).toBeUndefined();
  });
});

describe('cacheTransforms', () => {
  const namespace = (name: string): V1Namespace => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: fresh(name),
      uid: 'u-1',
      resourceVersion: '7',
      labels: { 'kubernetes.io/metadata.name': fresh(name), team: fresh('a') },
      managedFields,
      creationTimestamp: new Date(0),
    },
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  });

  test('a namespace keeps its name, version, labels, deletion and phase', () => {
    const slim = cacheTransforms();
    expect(slim.namespace(namespace('team-a'))).toEqual({
      metadata: {
        name: 'team-a',
        resourceVersion: '7',
        labels: { 'kubernetes.io/metadata.name': 'team-a', team: 'a' },
        deletionTimestamp: undefined,
      },
      status: { phase: 'Active' },
    });
  });

  test("a namespace's name label is the same string as its name", () => {
    const slim = cacheTransforms();
    const ns = slim.namespace(namespace('team-a'));
    expect(ns.metadata!.labels!['kubernetes.io/metadata.name']).toBe(ns.metadata!.name);
  });

  const serviceAccount = (ns: string, name: string): V1ServiceAccount => ({
    metadata: {
      name,
      namespace: fresh(ns),
      uid: 'u-2',
      resourceVersion: '9',
      labels: { 'regcred.io/pull': fresh('bench') },
      annotations: { 'regcred.io/injected': fresh('{"pull":"bench"}') },
      managedFields,
    },
    imagePullSecrets: [{ name: fresh('pull') }, { name: 'other' }],
    secrets: [{ name: 'token' }],
  });

  test('a ServiceAccount keeps what selection and our edits read, and shares its namespace', () => {
    const slim = cacheTransforms();
    const a = slim.serviceAccount(serviceAccount('team-a', 'default'));
    const b = slim.serviceAccount(serviceAccount('team-a', 'ci'));
    expect(a).toEqual({
      metadata: {
        name: 'default',
        namespace: 'team-a',
        resourceVersion: '9',
        labels: { 'regcred.io/pull': 'bench' },
        annotations: { 'regcred.io/injected': '{"pull":"bench"}' },
      },
      imagePullSecrets: [{ name: 'pull' }, { name: 'other' }],
    });
    expect(b.metadata!.namespace).toBe(a.metadata!.namespace);
    // equal maps and lists are one frozen instance
    expect(b.metadata!.annotations).toBe(a.metadata!.annotations);
    expect(b.metadata!.labels).toBe(a.metadata!.labels);
    expect(b.imagePullSecrets).toBe(a.imagePullSecrets);
    expect(Object.isFrozen(a.imagePullSecrets)).toBe(true);
    expect(Object.isFrozen(a.imagePullSecrets![0])).toBe(true);
    expect(Object.isFrozen(a.metadata!.annotations)).toBe(true);
  });

  test('a copy keeps everything but managedFields, and copies share one payload string', () => {
    const slim = cacheTransforms();
    const payload = Buffer.from('{"auths":{}}').toString('base64');
    const copy = (ns: string): V1Secret => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'pull',
        namespace: ns,
        uid: `uid-${ns}`,
        resourceVersion: '11',
        labels: { 'app.kubernetes.io/managed-by': 'regcred-operator' },
        ownerReferences: [{ apiVersion: 'regcred.io/v1alpha1', kind: 'RegistryCredential', name: 'c', uid: 'u' }],
        managedFields,
      },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': fresh(payload) },
    });
    const a = slim.managedSecret(copy('team-a'));
    const b = slim.managedSecret(copy('team-b'));
    expect(a).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'pull',
        namespace: 'team-a',
        uid: 'uid-team-a',
        resourceVersion: '11',
        labels: { 'app.kubernetes.io/managed-by': 'regcred-operator' },
        annotations: undefined,
        ownerReferences: [{ apiVersion: 'regcred.io/v1alpha1', kind: 'RegistryCredential', name: 'c', uid: 'u' }],
        managedFields: undefined,
      },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': payload },
      immutable: undefined,
    });
    expect(b.data!['.dockerconfigjson']).toBe(a.data!['.dockerconfigjson']);
    expect(b.metadata!.ownerReferences).toBe(a.metadata!.ownerReferences);
    expect(b.metadata!.labels).toBe(a.metadata!.labels);
  });

  test('other objects lose only their managedFields', () => {
    const slim = cacheTransforms();
    const secret: V1Secret = { metadata: { name: 'robot', managedFields }, data: { password: 'cA==' } };
    expect(slim.withoutManagedFields(secret)).toEqual({
      metadata: { name: 'robot', managedFields: undefined },
      data: { password: 'cA==' },
    });
    const plain: V1Secret = { metadata: { name: 'robot' } };
    expect(slim.withoutManagedFields(plain)).toBe(plain);
  });
});
