// The operator's API calls (k8s/resources.ts) on the in-memory API server: the paths, optimistic
// concurrency on every write (resourceVersion, delete and eviction preconditions), merge patches
// that replace imagePullSecrets whole and clear what is no longer set, and which calls are marked
// sensitive (their errors never carry the server's text).
import type { CoreV1Event, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import { ANNOTATION_INJECTED, type RegistryCredential } from '../../src/api/v1alpha1.js';
import type { KubeApi, RequestOptions } from '../../src/k8s/client.js';
import { isKubeError } from '../../src/k8s/errors.js';
import { paths, Resources } from '../../src/k8s/resources.js';
import { newCredential, opaqueSecret, serviceAccount } from '../support/builders.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeKube } from '../support/fake-kube.js';

/** Resources on a FakeKube, keeping every RequestOptions the operator sent. */
function setup() {
  const clock = new FakeClock();
  const kube = new FakeKube(clock);
  const sent: RequestOptions[] = [];
  const client: KubeApi = {
    request: (req) => (sent.push(req), kube.request(req)),
    watch: (...args) => kube.watch(...args),
  };
  return { kube, sent, resources: new Resources(client) };
}

const kindOf = async (promise: Promise<unknown>) => {
  try {
    await promise;
    return 'ok';
  } catch (err) {
    if (isKubeError(err)) return err.kind;
    throw err;
  }
};

/** A RegistryCredential created by a user, as the API server stored it (uid, generation, resourceVersion). */
const storedCredential = (kube: FakeKube) =>
  kube.put('registrycredentials', newCredential('harbor')) as unknown as RegistryCredential;

const secretIn = (namespace: string, name = 'pull'): V1Secret => opaqueSecret({ k: 'v' }, { name, namespace });

describe('paths', () => {
  test.each<[string, string, string]>([
    ['namespaces', paths.namespaces(), '/api/v1/namespaces'],
    ['Secrets of every namespace', paths.secrets(), '/api/v1/secrets'],
    ['Secrets of one namespace', paths.secrets('team-a'), '/api/v1/namespaces/team-a/secrets'],
    ['a Secret, its name escaped', paths.secret('team-a', 'a b'), '/api/v1/namespaces/team-a/secrets/a%20b'],
    ['ServiceAccounts of every namespace', paths.serviceAccounts(), '/api/v1/serviceaccounts'],
    [
      'a ServiceAccount',
      paths.serviceAccount('team-a', 'default'),
      '/api/v1/namespaces/team-a/serviceaccounts/default',
    ],
    ['RegistryCredentials', paths.credentials(), '/apis/regcred.io/v1alpha1/registrycredentials'],
    ['a RegistryCredential', paths.credential('harbor'), '/apis/regcred.io/v1alpha1/registrycredentials/harbor'],
    ['Events of a namespace', paths.events('default'), '/api/v1/namespaces/default/events'],
    ['an Event', paths.event('default', 'harbor.1'), '/api/v1/namespaces/default/events/harbor.1'],
    ['Pods of every namespace', paths.pods(), '/api/v1/pods'],
    ['an eviction', paths.eviction('team-a', 'app-1'), '/api/v1/namespaces/team-a/pods/app-1/eviction'],
  ])('%s', (_name, path, expected) => expect(path).toBe(expected));
});

describe('Secrets', () => {
  test('create, get and update round-trip through the API', async () => {
    const { resources } = setup();
    const created = await resources.createSecret(secretIn('team-a'));
    expect(created.metadata?.resourceVersion).toBeDefined();
    const read = await resources.getSecret('team-a', 'pull');
    expect(read.data).toEqual(secretIn('team-a').data);
    const updated = await resources.updateSecret({ ...read, data: { k: 'dg==' } });
    expect((await resources.getSecret('team-a', 'pull')).data).toEqual({ k: 'dg==' });
    expect(Number(updated.metadata!.resourceVersion)).toBeGreaterThan(Number(read.metadata!.resourceVersion));
  });

  test.each<[string, (r: Resources, seen: V1Secret) => Promise<unknown>, string]>([
    ['create of an existing name: AlreadyExists', (r) => r.createSecret(secretIn('team-a')), 'AlreadyExists'],
    [
      'update from a stale resourceVersion: Conflict (never overwrites a newer copy)',
      (r, seen) => r.updateSecret({ ...seen, metadata: { ...seen.metadata, resourceVersion: '1' } }),
      'Conflict',
    ],
    ['get of a missing Secret: NotFound', (r) => r.getSecret('team-a', 'missing'), 'NotFound'],
    [
      'delete with another uid (a new Secret of the same name): Conflict',
      (r, seen) => r.deleteSecret('team-a', 'pull', 'another-uid', seen.metadata!.resourceVersion),
      'Conflict',
    ],
    [
      'delete from a stale resourceVersion: Conflict',
      (r, seen) => r.deleteSecret('team-a', 'pull', seen.metadata!.uid, '1'),
      'Conflict',
    ],
    [
      'delete of exactly the Secret seen',
      (r, seen) => r.deleteSecret('team-a', 'pull', seen.metadata!.uid, seen.metadata!.resourceVersion),
      'ok',
    ],
    ['delete without preconditions', (r) => r.deleteSecret('team-a', 'pull'), 'ok'],
  ])('%s', async (_name, call, expected) => {
    const { resources } = setup();
    const seen = await resources.createSecret(secretIn('team-a'));
    expect(await kindOf(call(resources, seen))).toBe(expected);
  });

  test.each<[string, string | undefined, string | undefined, unknown]>([
    ['uid and resourceVersion', 'u', '7', { uid: 'u', resourceVersion: '7' }],
    ['uid only', 'u', undefined, { uid: 'u', resourceVersion: undefined }],
    ['neither: no preconditions', undefined, undefined, undefined],
  ])('delete sends DeleteOptions with the preconditions given (%s)', async (_name, uid, resourceVersion, expected) => {
    const { resources, sent } = setup();
    await resources.createSecret(secretIn('team-a'));
    await kindOf(resources.deleteSecret('team-a', 'pull', uid, resourceVersion));
    expect(sent.at(-1)?.body).toEqual({ kind: 'DeleteOptions', apiVersion: 'v1', preconditions: expected });
  });
});

describe('ServiceAccount pull secrets', () => {
  const stored = (kube: FakeKube, pullSecrets: string[], annotations: Record<string, string> = {}) =>
    kube.put('serviceaccounts', {
      ...serviceAccount('team-a', 'default', pullSecrets, { annotations }),
      secrets: [{ name: 'token' }],
    }) as V1ServiceAccount;

  test('the list is replaced whole and our record set; other fields and annotations stay', async () => {
    const { kube, resources } = setup();
    const sa = stored(kube, ['theirs', 'old'], { note: 'theirs' });
    const updated = await resources.patchServiceAccountPullSecrets(
      sa,
      [{ name: 'theirs' }, { name: 'harbor' }],
      JSON.stringify({ harbor: 'harbor' }),
    );
    expect(updated.imagePullSecrets).toEqual([{ name: 'theirs' }, { name: 'harbor' }]);
    expect(updated.metadata?.annotations).toEqual({ note: 'theirs', [ANNOTATION_INJECTED]: '{"harbor":"harbor"}' });
    expect((updated as { secrets?: unknown }).secrets).toEqual([{ name: 'token' }]);
  });

  test('an empty list and a null record remove the field and the annotation', async () => {
    const { kube, resources } = setup();
    const sa = stored(kube, ['harbor'], { [ANNOTATION_INJECTED]: '{"harbor":"harbor"}', note: 'theirs' });
    const updated = await resources.patchServiceAccountPullSecrets(sa, [], null);
    expect(updated.imagePullSecrets).toBeUndefined();
    expect(updated.metadata?.annotations).toEqual({ note: 'theirs' });
  });

  test('a ServiceAccount edited since it was read: Conflict, and the edit stays', async () => {
    const { kube, resources } = setup();
    const sa = stored(kube, ['theirs']);
    stored(kube, ['theirs', 'added-meanwhile']);
    expect(await kindOf(resources.patchServiceAccountPullSecrets(sa, [{ name: 'harbor' }], '{}'))).toBe('Conflict');
    expect(kube.get('serviceaccounts', 'team-a', 'default')?.imagePullSecrets).toEqual([
      { name: 'theirs' },
      { name: 'added-meanwhile' },
    ]);
  });

  test('getServiceAccount reads the current one', async () => {
    const { kube, resources } = setup();
    stored(kube, ['theirs']);
    expect((await resources.getServiceAccount('team-a', 'default')).imagePullSecrets).toEqual([{ name: 'theirs' }]);
  });
});

describe('RegistryCredentials', () => {
  test('setFinalizers sets the list, guarded by resourceVersion', async () => {
    const { kube, resources } = setup();
    const cred = storedCredential(kube);
    const updated = await resources.setFinalizers(cred, ['regcred.io/cleanup']);
    expect(updated.metadata.finalizers).toEqual(['regcred.io/cleanup']);
    expect(await kindOf(resources.setFinalizers(cred, []))).toBe('Conflict');
  });

  test('updateStatus writes the status subresource and removes the fields no longer set', async () => {
    const { kube, resources } = setup();
    const cred = storedCredential(kube);
    const first = await resources.updateStatus(cred, {
      observedGeneration: 1,
      credentialsExpireAt: '2026-11-22T12:00:00Z',
      failures: [{ namespace: 'team-a', reason: 'Forbidden', message: 'no' }],
    });
    const second = await resources.updateStatus(first, { observedGeneration: 2 });
    expect(second.status).toEqual({ observedGeneration: 2 });
    expect(kube.get('registrycredentials', undefined, 'harbor')?.spec).toEqual(cred.spec);
  });

  test('updateStatus on a credential with no status yet sends just the new one', async () => {
    const { kube, resources, sent } = setup();
    await resources.updateStatus(storedCredential(kube), { observedGeneration: 1 });
    expect(sent.at(-1)).toMatchObject({
      method: 'PATCH',
      path: '/apis/regcred.io/v1alpha1/registrycredentials/harbor/status',
      body: { status: { observedGeneration: 1 } },
    });
  });
});

describe('Events and evictions', () => {
  const event = (name: string): CoreV1Event => ({
    metadata: { name, namespace: 'default' },
    involvedObject: { kind: 'RegistryCredential', name: 'harbor' },
    reason: 'SecretCreated',
    message: 'created',
    count: 1,
  });

  test('createEvent, then patchEvent counts the series', async () => {
    const { kube, resources } = setup();
    await resources.createEvent(event('harbor.1'));
    await resources.patchEvent('default', 'harbor.1', {
      count: 3,
      lastTimestamp: '2026-11-22T00:00:00Z',
      message: 'm',
    });
    expect(kube.get('events', 'default', 'harbor.1')).toMatchObject({
      count: 3,
      message: 'm',
      reason: 'SecretCreated',
    });
  });

  test.each<[string, (uid: string) => string, string, boolean]>([
    ['the Pod seen is evicted', (uid) => uid, 'ok', false],
    ['another Pod of the same name is left alone: Conflict', () => 'other-uid', 'Conflict', true],
  ])('%s', async (_name, uidOf, expected, remains) => {
    const { kube, resources, sent } = setup();
    const pod = kube.put('pods', { metadata: { name: 'app-1', namespace: 'team-a' } });
    expect(await kindOf(resources.evictPod('team-a', 'app-1', uidOf(pod.metadata.uid!)))).toBe(expected);
    expect(kube.get('pods', 'team-a', 'app-1') !== undefined).toBe(remains);
    // A PodDisruptionBudget's 429 is an answer, not a failure to retry.
    expect(sent.at(-1)?.retry).toBe(false);
  });
});

describe('sensitive requests', () => {
  test('every Secret call is marked sensitive; the others are not', async () => {
    const { kube, resources, sent } = setup();
    const secret = await resources.createSecret(secretIn('team-a'));
    await resources.getSecret('team-a', 'pull');
    await resources.updateSecret(secret);
    await resources.deleteSecret('team-a', 'pull');
    const sa = kube.put('serviceaccounts', serviceAccount('team-a', 'default')) as V1ServiceAccount;
    await resources.getServiceAccount('team-a', 'default');
    await resources.patchServiceAccountPullSecrets(sa, [], null);
    const cred = storedCredential(kube);
    await resources.updateStatus(cred, {});
    expect(
      sent.map((req) => `${req.method} ${req.path.split('/').slice(-2).join('/')} ${req.sensitive ?? false}`),
    ).toEqual([
      'POST team-a/secrets true',
      'GET secrets/pull true',
      'PUT secrets/pull true',
      'DELETE secrets/pull true',
      'GET serviceaccounts/default false',
      'PATCH serviceaccounts/default false',
      'PATCH harbor/status false',
    ]);
  });
});
