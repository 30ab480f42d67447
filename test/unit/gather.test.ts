// cli/gather.ts, the reading of `kubectl regcred doctor`, against a loopback HTTP stand-in that
// answers the few read-only paths it uses with canned objects, 404s and 403s: what becomes a fact,
// what a missing permission becomes (a fact naming it, never an error), and that it only reads.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiException, KubeConfig } from '@kubernetes/client-node';
import { ClusterReader, NotFoundError, permissionText } from '../../src/cli/gather.js';

type Answer = { status: number; body: unknown };
const status = (code: number, reason: string): Answer => ({ status: code, body: { kind: 'Status', code, reason } });

const POD = {
  metadata: { name: 'web', namespace: 'team-a' },
  spec: {
    serviceAccountName: 'default',
    imagePullSecrets: [{ name: 'harbor' }, { name: 'gone' }, { name: 'hidden' }],
    containers: [],
  },
  status: {
    containerStatuses: [{ name: 'app', state: { waiting: { reason: 'ImagePullBackOff', message: 'back-off' } } }],
  },
};

/** The stand-in: path (with query) -> answer; every request is recorded. */
async function standIn(routes: Record<string, Answer>) {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const url = new URL(req.url ?? '/', 'http://x');
    const answer =
      routes[`${url.pathname}${url.search ? decodeURIComponent(url.search) : ''}`] ??
      routes[url.pathname] ??
      status(404, 'NotFound');
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [
      { name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true },
    ],
    users: [{ name: 'u', token: 'test' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return {
    reader: new ClusterReader(kubeConfig),
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const cluster: Record<string, Answer> = {
  '/api/v1/namespaces/team-a/pods/web': { status: 200, body: POD },
  '/api/v1/namespaces/team-a/pods/secret-pod': status(403, 'Forbidden'),
  '/api/v1/namespaces/team-a/serviceaccounts/default': {
    status: 200,
    body: { metadata: { name: 'default' }, imagePullSecrets: [{ name: 'harbor' }] },
  },
  '/api/v1/namespaces/team-a/serviceaccounts/locked': status(403, 'Forbidden'),
  '/api/v1/namespaces/team-a/secrets/harbor': {
    status: 200,
    body: {
      metadata: { name: 'harbor', labels: { a: 'b' } },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': 'e30=' },
    },
  },
  '/api/v1/namespaces/team-a/secrets/hidden': status(403, 'Forbidden'),
  '/api/v1/secrets?fieldSelector=metadata.name=gone': {
    status: 200,
    body: {
      items: [{ metadata: { name: 'gone', namespace: 'team-b' } }, { metadata: { name: 'gone', namespace: 'team-a' } }],
    },
  },
  '/apis/regcred.io/v1alpha1/registrycredentials': {
    status: 200,
    body: {
      items: [
        { metadata: { name: 'harbor' }, spec: { secretName: 'harbor' }, status: { conditions: [] } },
        { metadata: { name: 'bare' } },
      ],
    },
  },
  '/api/v1/namespaces/team-a/events': {
    status: 200,
    body: {
      items: [
        {
          reason: 'BackOff',
          message: 'Back-off pulling',
          type: 'Normal',
          count: 3,
          lastTimestamp: '2026-12-07T02:00:02Z',
        },
        { reason: 'Scheduled', message: 'assigned', type: 'Normal', lastTimestamp: '2026-12-07T02:00:00Z' },
        { reason: 'Failed', message: 'unauthorized', type: 'Warning', lastTimestamp: '2026-12-07T02:00:01Z' },
      ],
    },
  },
  '/api/v1/namespaces/team-a/secrets': {
    status: 200,
    body: { items: [{ metadata: { name: 'harbor', labels: { 'regcred.io/credential': 'harbor' } } }] },
  },
};

describe('ClusterReader', () => {
  test('facts of a Pod: its pull secrets as found, missing (and where else) or forbidden; its pull Events in order', async () => {
    const t = await standIn(cluster);
    try {
      const pod = await t.reader.pod('team-a', 'web');
      const facts = await t.reader.facts('team-a', 'harbor.example.com/app:1', {
        pod,
        container: 'app',
        serviceAccount: 'default',
      });
      expect(facts).toEqual({
        namespace: 'team-a',
        image: 'harbor.example.com/app:1',
        container: 'app',
        pod: {
          name: 'web',
          imagePullSecrets: ['harbor', 'gone', 'hidden'],
          containerState: { waitingReason: 'ImagePullBackOff', waitingMessage: 'back-off', running: false },
        },
        serviceAccountName: 'default',
        serviceAccount: { state: 'found', imagePullSecrets: ['harbor'], labels: {} },
        secrets: {
          harbor: {
            state: 'found',
            type: 'kubernetes.io/dockerconfigjson',
            data: { '.dockerconfigjson': 'e30=' },
            labels: { a: 'b' },
          },
          gone: { state: 'missing', foundInNamespaces: ['team-b'] },
          hidden: {
            state: 'forbidden',
            message: 'you may not get secrets in namespace team-a (403: your RBAC needs the get verb on secrets)',
          },
        },
        credentials: [
          { name: 'harbor', spec: { secretName: 'harbor' }, status: { conditions: [] } },
          { name: 'bare', spec: {} },
        ],
        events: [
          { reason: 'Failed', message: 'unauthorized', type: 'Warning', count: 1 },
          { reason: 'BackOff', message: 'Back-off pulling', type: 'Normal', count: 3 },
        ],
        managedSecrets: [{ name: 'harbor', credential: 'harbor' }],
      });
      expect(t.seen.every((request) => request.startsWith('GET '))).toBe(true);
    } finally {
      await t.close();
    }
  });

  test("facts of an image without a Pod: the ServiceAccount's pull secrets; a forbidden SA is a fact", async () => {
    const t = await standIn(cluster);
    try {
      const facts = await t.reader.facts('team-a', 'harbor.example.com/app:1', { serviceAccount: 'locked' });
      expect(facts.serviceAccount).toEqual({
        state: 'forbidden',
        message:
          'you may not get serviceaccounts in namespace team-a (403: your RBAC needs the get verb on serviceaccounts)',
      });
      expect(facts.secrets).toEqual({});
      expect(facts.pod).toBeUndefined();
      expect(facts.events).toEqual([]);
    } finally {
      await t.close();
    }
  });

  test.each<[string, string, string | typeof NotFoundError]>([
    ['a missing Pod: NotFoundError', 'nope', NotFoundError],
    ['a Pod the user may not read: the permission named', 'secret-pod', 'you may not get pods in namespace team-a'],
  ])('%s', async (_name, pod, expected) => {
    const t = await standIn(cluster);
    try {
      const reading = t.reader.pod('team-a', pod);
      if (typeof expected === 'string') await expect(reading).rejects.toThrow(expected);
      else await expect(reading).rejects.toBeInstanceOf(expected);
    } finally {
      await t.close();
    }
  });

  test.each<[string, Answer, string]>([
    ['the CRD is not installed', status(404, 'NotFound'), 'the RegistryCredential CRD is not installed'],
    [
      'the user may not list them',
      status(403, 'Forbidden'),
      'you may not list registrycredentials.regcred.io (cluster-wide) ' +
        '(403: your RBAC needs the list verb on registrycredentials.regcred.io)',
    ],
  ])('credentials, when %s: a fact, read once per run', async (_name, answer, forbidden) => {
    const t = await standIn({ ...cluster, '/apis/regcred.io/v1alpha1/registrycredentials': answer });
    try {
      expect(await t.reader.credentials()).toEqual({ forbidden });
      await t.reader.credentials();
      expect(t.seen.filter((request) => request.includes('registrycredentials'))).toHaveLength(1);
    } finally {
      await t.close();
    }
  });
});

describe('permissionText', () => {
  test.each<[string, unknown, string | undefined, string]>([
    [
      '403 in a namespace',
      new ApiException(403, 'forbidden', '{}', {}),
      'team-a',
      'you may not get secrets in namespace team-a (403: your RBAC needs the get verb on secrets)',
    ],
    [
      '403 cluster-wide',
      new ApiException(403, 'forbidden', '{}', {}),
      undefined,
      'you may not get secrets (cluster-wide) (403: your RBAC needs the get verb on secrets)',
    ],
    [
      '401',
      new ApiException(401, 'unauthorized', '{}', {}),
      'team-a',
      'the cluster does not accept your credentials (401)',
    ],
    [
      'another status',
      new ApiException(500, 'oops', '{"secret":"x"}', {}),
      'team-a',
      'cannot get secrets in namespace team-a: 500',
    ],
    [
      'not an API answer: the first line of the message',
      new Error('connect ECONNREFUSED\nstack'),
      'team-a',
      'cannot get secrets in namespace team-a: connect ECONNREFUSED',
    ],
  ])('%s', (_name, error, namespace, expected) => {
    expect(permissionText(error, 'get', 'secrets', namespace)).toBe(expected);
  });
});
