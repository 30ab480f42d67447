// controller/apply.ts, the namespace controller's writes, on the in-memory API server: each write
// guarded by optimistic concurrency, fed back into the cache it read from, and recorded for the
// change summaries; a foreign Secret is never touched; a ServiceAccount edited meanwhile is read
// again and the edit recomputed, keeping the other writer's change.
import type { V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import { pino } from 'pino';
import type { RegistryCredential } from '../../src/api/v1alpha1.js';
import {
  MAX_CONFLICT_RETRIES,
  NamespaceFailureError,
  NamespaceWriter,
  type WriteContext,
  type WrittenCaches,
} from '../../src/controller/apply.js';
import { desiredSecret } from '../../src/controller/desired.js';
import { Resources } from '../../src/k8s/resources.js';
import { credential, dockerConfigSecret, ownedCopy, serviceAccount } from '../support/builders.js';
import { FakeClock } from '../support/fake-clock.js';
import { apiError, FakeKube, type StoredObject } from '../support/fake-kube.js';

const NS = 'team-a';
const DOC_1 = '{"auths":{"harbor.example.com":{"auth":"dTpwMQ=="}}}';
const DOC_2 = '{"auths":{"harbor.example.com":{"auth":"dTpwMg=="}}}';
const cred: RegistryCredential = credential('harbor', { uid: 'uid-harbor' });

/** A cache by namespace/name with the calls the writer makes: listIn, getIn, noteWritten, noteDeleted. */
function cacheOf<T extends { metadata?: { name?: string; namespace?: string } }>() {
  const byKey = new Map<string, T>();
  const key = (obj: T) => `${obj.metadata!.namespace}/${obj.metadata!.name}`;
  return {
    byKey,
    listIn: (namespace: string) => [...byKey.values()].filter((obj) => obj.metadata?.namespace === namespace).values(),
    getIn: (namespace: string, name: string) => byKey.get(`${namespace}/${name}`),
    noteWritten: (obj: T) => void byKey.set(key(obj), obj),
    noteDeleted: (k: string) => void byKey.delete(k),
  };
}

function setup() {
  const kube = new FakeKube(new FakeClock());
  kube.put('namespaces', { metadata: { name: NS } });
  const secrets = cacheOf<V1Secret>();
  const serviceAccounts = cacheOf<V1ServiceAccount>();
  const caches = { managedSecrets: secrets, serviceAccounts } as unknown as WrittenCaches;
  const writer = new NamespaceWriter(new Resources(kube), caches);
  const changes: string[] = [];
  const context: WriteContext = {
    logger: pino({ level: 'silent' }),
    changes: { recordChange: (reason, where) => changes.push(`${reason} ${where}`) },
  };
  /** Stores `object` as another client would, and caches what the API holds. */
  const seed = <T extends StoredObject>(resource: string, object: T, cache?: { noteWritten(o: never): void }) => {
    const stored = kube.put(resource, object);
    cache?.noteWritten(stored as never);
    return stored;
  };
  return { kube, writer, context, changes, secrets, serviceAccounts, seed };
}

const desired = (document = DOC_1) => desiredSecret(cred, NS, 'harbor', document, undefined);
const passwordOf = (kube: FakeKube) =>
  (kube.get('secrets', NS, 'harbor') as V1Secret | undefined)?.data?.['.dockerconfigjson'];
const pullSecrets = (kube: FakeKube, name = 'default') =>
  ((kube.get('serviceaccounts', NS, name) as V1ServiceAccount | undefined)?.imagePullSecrets ?? []).map((r) => r.name);

describe('ensureSecret', () => {
  test.each<[string, 'none' | 'same' | 'outdated', boolean, string[]]>([
    // [case, what the namespace holds, written, changes recorded]
    ['absent: created', 'none', true, ['SecretCreated team-a']],
    ['ours and current: nothing written', 'same', false, []],
    ['ours with an older document: updated', 'outdated', true, ['SecretUpdated team-a']],
  ])('%s', async (_name, held, written, changes) => {
    const t = setup();
    if (held !== 'none')
      t.seed(
        'secrets',
        desiredSecret(cred, NS, 'harbor', held === 'same' ? DOC_1 : DOC_2, undefined) as never,
        t.secrets,
      );
    const cached = t.secrets.getIn(NS, 'harbor');
    const result = await t.writer.ensureSecret(cred, desired(), cached, t.context);
    expect(result.wrote).toBe(written);
    expect(t.changes).toEqual(changes);
    expect(passwordOf(t.kube)).toBe(Buffer.from(DOC_1).toString('base64'));
    // the cache holds what the API holds: the next reconcile does not act on a stale copy
    expect(t.secrets.getIn(NS, 'harbor')?.metadata?.resourceVersion).toBe(
      t.kube.get('secrets', NS, 'harbor')?.metadata.resourceVersion,
    );
  });

  test('a foreign Secret of that name, not in the cache: SecretConflict, left untouched', async () => {
    const t = setup();
    const foreign = t.seed('secrets', dockerConfigSecret(DOC_2, { name: 'harbor', namespace: NS }) as never);
    const failure = await t.writer.ensureSecret(cred, desired(), undefined, t.context).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(NamespaceFailureError);
    expect(failure).toMatchObject({ reason: 'SecretConflict' });
    expect(t.kube.get('secrets', NS, 'harbor')?.metadata.resourceVersion).toBe(foreign.metadata.resourceVersion);
    expect(t.changes).toEqual([]);
  });

  test('ours, but missing from the cache (AlreadyExists): read and updated', async () => {
    const t = setup();
    t.seed('secrets', ownedCopy(NS, 'harbor', 'harbor', DOC_2) as never);
    const result = await t.writer.ensureSecret(cred, desired(), undefined, t.context);
    expect(result.wrote).toBe(true);
    expect(passwordOf(t.kube)).toBe(Buffer.from(DOC_1).toString('base64'));
    expect(t.changes).toEqual(['SecretUpdated team-a']);
  });
});

describe('deleteSecret', () => {
  test.each<[string, boolean]>([
    ['present: deleted', true],
    ['already gone: still counted as done', false],
  ])('%s, and dropped from the cache', async (_name, present) => {
    const t = setup();
    const stored = t.seed('secrets', ownedCopy(NS, 'old', 'harbor', DOC_1) as never, t.secrets);
    if (!present) t.kube.remove('secrets', NS, 'old');
    expect(await t.writer.deleteSecret(stored as V1Secret, t.context)).toBe(true);
    expect(t.kube.get('secrets', NS, 'old')).toBeUndefined();
    expect(t.secrets.getIn(NS, 'old')).toBeUndefined();
    expect(t.changes).toEqual(['SecretDeleted team-a']);
  });

  test('a Secret replaced meanwhile (another uid) is not deleted', async () => {
    const t = setup();
    const stored = t.seed('secrets', ownedCopy(NS, 'old', 'harbor', DOC_1) as never, t.secrets);
    t.kube.remove('secrets', NS, 'old');
    t.seed('secrets', dockerConfigSecret(DOC_2, { name: 'old', namespace: NS }) as never);
    await expect(t.writer.deleteSecret(stored as V1Secret, t.context)).rejects.toMatchObject({ kind: 'Conflict' });
    expect(t.kube.get('secrets', NS, 'old')).toBeDefined();
  });
});

describe('applyServiceAccount', () => {
  test.each<[string, string[], Record<string, string> | undefined, string | undefined, boolean, string[], string[]]>([
    // [case, entries before, our record, wanted, written, entries after, changes]
    [
      'adds ours after the foreign entries',
      ['theirs'],
      undefined,
      'harbor',
      true,
      ['theirs', 'harbor'],
      ['PullSecretAdded team-a/default'],
    ],
    [
      'already there: nothing written',
      ['theirs', 'harbor'],
      { harbor: 'harbor' },
      'harbor',
      false,
      ['theirs', 'harbor'],
      [],
    ],
    [
      'removes ours, keeps theirs',
      ['theirs', 'harbor'],
      { harbor: 'harbor' },
      undefined,
      true,
      ['theirs'],
      ['PullSecretRemoved team-a/default'],
    ],
    ['never removes an entry we did not add', ['harbor'], undefined, undefined, false, ['harbor'], []],
  ])('%s', async (_name, before, injected, wanted, written, after, changes) => {
    const t = setup();
    const sa = t.seed(
      'serviceaccounts',
      serviceAccount(NS, 'default', before, injected ? { injected } : {}) as never,
      t.serviceAccounts,
    );
    expect(await t.writer.applyServiceAccount(sa as V1ServiceAccount, 'harbor', wanted, t.context)).toBe(written);
    expect(pullSecrets(t.kube)).toEqual(after);
    expect(t.changes).toEqual(changes);
  });

  test('edited by someone else meanwhile: read again, their entry kept, ours added', async () => {
    const t = setup();
    const sa = t.seed('serviceaccounts', serviceAccount(NS, 'default', ['theirs']) as never, t.serviceAccounts);
    let edited = false;
    t.kube.beforeRequest = (request) => {
      if (edited || request.method !== 'PATCH') return;
      edited = true;
      t.kube.put('serviceaccounts', serviceAccount(NS, 'default', ['theirs', 'another']) as never);
    };
    expect(await t.writer.applyServiceAccount(sa as V1ServiceAccount, 'harbor', 'harbor', t.context)).toBe(true);
    expect(pullSecrets(t.kube)).toEqual(['theirs', 'another', 'harbor']);
    expect(t.serviceAccounts.getIn(NS, 'default')?.metadata?.resourceVersion).toBe(
      t.kube.get('serviceaccounts', NS, 'default')?.metadata.resourceVersion,
    );
  });

  test(`conflicts every time: given up after ${MAX_CONFLICT_RETRIES} retries (the key's backoff takes over)`, async () => {
    const t = setup();
    const sa = t.seed('serviceaccounts', serviceAccount(NS, 'default', []) as never, t.serviceAccounts);
    t.kube.failNext(
      (request) => request.method === 'PATCH',
      () => apiError(409, 'Conflict'),
      MAX_CONFLICT_RETRIES + 1,
    );
    await expect(
      t.writer.applyServiceAccount(sa as V1ServiceAccount, 'harbor', 'harbor', t.context),
    ).rejects.toMatchObject({
      kind: 'Conflict',
    });
    expect(t.kube.requests.filter((request) => request.method === 'PATCH')).toHaveLength(MAX_CONFLICT_RETRIES + 1);
  });

  test('deleted meanwhile: nothing to do', async () => {
    const t = setup();
    const sa = t.seed('serviceaccounts', serviceAccount(NS, 'default', []) as never, t.serviceAccounts);
    t.kube.remove('serviceaccounts', NS, 'default');
    expect(await t.writer.applyServiceAccount(sa as V1ServiceAccount, 'harbor', 'harbor', t.context)).toBe(false);
  });
});

describe('cleanNamespace', () => {
  test("removes this credential's Secrets and entries only", async () => {
    const t = setup();
    t.seed('secrets', ownedCopy(NS, 'harbor', 'harbor', DOC_1) as never, t.secrets);
    t.seed('secrets', ownedCopy(NS, 'other', 'other', DOC_1) as never, t.secrets);
    t.seed(
      'serviceaccounts',
      serviceAccount(NS, 'default', ['theirs', 'harbor', 'other'], {
        injected: { harbor: 'harbor', other: 'other' },
      }) as never,
      t.serviceAccounts,
    );
    expect(await t.writer.cleanNamespace('harbor', 'uid-harbor', NS, t.context)).toBe(true);
    expect(t.kube.get('secrets', NS, 'harbor')).toBeUndefined();
    expect(t.kube.get('secrets', NS, 'other')).toBeDefined();
    expect(pullSecrets(t.kube)).toEqual(['theirs', 'other']);
    expect(await t.writer.cleanNamespace('harbor', 'uid-harbor', NS, t.context)).toBe(false);
  });
});
