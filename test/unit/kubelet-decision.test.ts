// What the kubelet is told for one pull (src/kubelet/decision.ts): the selection rules at pull time.
import type { V1Namespace, V1ServiceAccount } from '@kubernetes/client-node';
import { parseSpec, type RegistryCredentialSpec } from '../../src/api/v1alpha1.js';
import { authEntry, type Auths } from '../../src/dockerconfig.js';
import { decide, type DecisionInput, type ServableCredential } from '../../src/kubelet/decision.js';

const NOW = Date.parse('2026-12-06T12:00:00Z');
const MAX_CACHE = 300_000;

function spec(fields: Record<string, unknown> = {}): RegistryCredentialSpec {
  const parsed = parseSpec({
    registries: [{ server: 'registry.example.com', basicAuth: { secretName: 's' } }],
    delivery: { kubelet: true },
    ...fields,
  });
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.spec;
}

const auths = (...keys: string[]): Auths =>
  Object.fromEntries(keys.map((key) => [key, authEntry(`u-${key}`, `p-${key}`)]));

function cred(name: string, fields: Record<string, unknown>, keys: string[], expiresAt?: number): ServableCredential {
  return { name, spec: spec(fields), auths: auths(...keys), ...(expiresAt !== undefined ? { expiresAt } : {}) };
}

const ns = (name: string, labels: Record<string, string> = {}): V1Namespace => ({ metadata: { name, labels } });
const sa = (namespace: string, name: string, labels: Record<string, string> = {}): V1ServiceAccount => ({
  metadata: { name, namespace, labels },
});

function input(overrides: Partial<DecisionInput>): DecisionInput {
  return {
    namespace: 'team-a',
    serviceAccount: 'default',
    image: 'registry.example.com/app:1',
    namespaceObject: ns('team-a'),
    serviceAccountObject: sa('team-a', 'default'),
    credentials: [],
    now: NOW,
    maxCacheMs: MAX_CACHE,
    ...overrides,
  };
}

describe('decide', () => {
  test.each<[string, Partial<DecisionInput>, string[], string | undefined]>([
    [
      'a selected Pod gets the key of its registry',
      { credentials: [cred('a', {}, ['registry.example.com'])] },
      ['registry.example.com'],
      undefined,
    ],
    [
      'every key on the registry host, whatever its path (the answer is cached per host)',
      {
        credentials: [
          cred('a', {}, ['registry.example.com/team-a', 'registry.example.com/team-b', 'other.example.com']),
        ],
      },
      ['registry.example.com/team-a', 'registry.example.com/team-b'],
      undefined,
    ],
    [
      'another registry: nothing',
      { credentials: [cred('a', {}, ['other.example.com'])] },
      [],
      'NoCredentialForRegistry',
    ],
    ['no credential at all', { credentials: [] }, [], 'NoCredentialForRegistry'],
    [
      'a port is part of the host',
      { image: 'registry.example.com:5000/app', credentials: [cred('a', {}, ['registry.example.com'])] },
      [],
      'NoCredentialForRegistry',
    ],
    [
      'a ServiceAccount that is not listed',
      {
        serviceAccount: 'builder',
        serviceAccountObject: sa('team-a', 'builder'),
        credentials: [cred('a', {}, ['registry.example.com'])],
      },
      [],
      'ServiceAccountNotSelected',
    ],
    [
      'an excluded ServiceAccount, even with "*"',
      {
        serviceAccount: 'ci',
        serviceAccountObject: sa('team-a', 'ci'),
        credentials: [cred('a', { serviceAccounts: ['*'], excludeServiceAccounts: ['ci'] }, ['registry.example.com'])],
      },
      [],
      'ServiceAccountNotSelected',
    ],
    [
      'a ServiceAccount matched by the selector',
      {
        serviceAccount: 'web',
        serviceAccountObject: sa('team-a', 'web', { pulls: 'yes' }),
        credentials: [
          cred('a', { serviceAccountSelector: { matchLabels: { pulls: 'yes' } } }, ['registry.example.com']),
        ],
      },
      ['registry.example.com'],
      undefined,
    ],
    [
      'a namespace outside the selector',
      { credentials: [cred('a', { namespaceSelector: { matchLabels: { team: 'b' } } }, ['registry.example.com'])] },
      [],
      'NamespaceNotSelected',
    ],
    [
      'an excluded namespace',
      { credentials: [cred('a', { excludeNamespaces: ['team-*'] }, ['registry.example.com'])] },
      [],
      'NamespaceNotSelected',
    ],
    [
      'a namespace or ServiceAccount the caches do not hold',
      { namespaceObject: undefined, credentials: [cred('a', {}, ['registry.example.com'])] },
      [],
      'NamespaceNotSelected',
    ],
    [
      'Docker Hub images and the legacy index.docker.io key',
      { image: 'busybox', credentials: [cred('a', {}, ['https://index.docker.io/v1/'])] },
      ['https://index.docker.io/v1/'],
      undefined,
    ],
    [
      'an invalid image',
      { image: 'UPPER/Case', credentials: [cred('a', {}, ['registry.example.com'])] },
      [],
      'InvalidImage',
    ],
  ])('%s', (_name, overrides, keys, refusal) => {
    const decision = decide(input(overrides));
    expect(Object.keys(decision.auth).sort()).toEqual(keys.sort());
    expect(decision.refusal?.reason).toBe(refusal);
    for (const key of keys) expect(decision.auth[key]).toEqual({ username: `u-${key}`, password: `p-${key}` });
  });

  test('two credentials: the first by name wins a key both name, each contributes its own', () => {
    const decision = decide(
      input({
        credentials: [
          cred('a', {}, ['registry.example.com']),
          cred('b', {}, ['registry.example.com', 'registry.example.com/x']),
        ],
      }),
    );
    expect(decision.auth['registry.example.com']!.username).toBe('u-registry.example.com');
    expect(decision.servedBy).toEqual([
      { credential: 'a', keys: ['registry.example.com'] },
      { credential: 'b', keys: ['registry.example.com/x'] },
    ]);
  });

  test('one credential refuses, another serves: served, and the refusal is counted for the first', () => {
    const decision = decide(
      input({
        credentials: [
          cred('a', { namespaceSelector: { matchLabels: { team: 'b' } } }, ['registry.example.com']),
          cred('b', {}, ['registry.example.com']),
        ],
      }),
    );
    expect(decision.servedBy.map((s) => s.credential)).toEqual(['b']);
    expect(decision.refusedBy).toEqual([
      { credential: 'a', reason: 'NamespaceNotSelected', message: 'namespace team-a is not selected' },
    ]);
    expect(decision.refusal).toBeUndefined();
  });

  test.each<[string, number | undefined, number]>([
    ['no expiry: the configured bound', undefined, MAX_CACHE],
    ['a token expiring in an hour: the bound', NOW + 3_600_000, MAX_CACHE],
    ['a token expiring in 3 minutes: 2 minutes (a minute of margin)', NOW + 180_000, 120_000],
    ['a token expiring within the margin: not cached', NOW + 30_000, 0],
  ])('cache duration: %s', (_name, expiresAt, expected) => {
    const decision = decide(input({ credentials: [cred('a', {}, ['registry.example.com'], expiresAt)] }));
    expect(decision.cacheDurationMs).toBe(expected);
  });

  test.each<[string, Partial<DecisionInput>, number]>([
    ['a registry no credential names: the bound', { credentials: [cred('a', {}, ['other.example.com'])] }, MAX_CACHE],
    [
      'a ServiceAccount not selected (yet): not cached',
      {
        serviceAccount: 'builder',
        serviceAccountObject: sa('team-a', 'builder'),
        credentials: [cred('a', {}, ['registry.example.com'])],
      },
      0,
    ],
    [
      'a namespace not selected (yet): not cached',
      { credentials: [cred('a', { namespaceSelector: { matchLabels: { team: 'b' } } }, ['registry.example.com'])] },
      0,
    ],
    ['sources not resolved yet: not cached', { credentials: [{ name: 'a', spec: spec() }] }, 0],
  ])('an answer with nothing in it: %s', (_name, overrides, expected) => {
    const decision = decide(input(overrides));
    expect(decision.auth).toEqual({});
    expect(decision.cacheDurationMs).toBe(expected);
  });

  test('a credential whose sources are not resolved yet is reported for its registry, and serves nothing', () => {
    const decision = decide(input({ credentials: [{ name: 'a', spec: spec() }] }));
    expect(decision.auth).toEqual({});
    expect(decision.refusal?.reason).toBe('SourcesNotReady');
  });
});
