// The operator's own kubeconfig loader (src/k8s/kubeconfig.ts) must give the REST client what
// @kubernetes/client-node's KubeConfig gives it: the same server, TLS material and request headers,
// for every way a kubeconfig authenticates. Each row is loaded both ways and compared.
import { chmodSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { accessFromKubeConfig, type ClusterAccess, loadClusterAccess } from '../../src/k8s/kubeconfig.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'kubeconfig-'));
  mkdirSync(path.join(dir, 'pki'));
  writeFileSync(path.join(dir, 'pki', 'ca.crt'), 'CA FROM FILE');
  writeFileSync(path.join(dir, 'pki', 'client.crt'), 'CERT FROM FILE');
  writeFileSync(path.join(dir, 'pki', 'client.key'), 'KEY FROM FILE');
  writeFileSync(path.join(dir, 'token'), 'token-from-file');
  // An exec credential plugin (client.authentication.k8s.io/v1), as EKS and GKE kubeconfigs use.
  const plugin = path.join(dir, 'plugin.sh');
  writeFileSync(
    plugin,
    '#!/bin/sh\necho \'{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",' +
      '"status":{"token":"token-from-plugin","expirationTimestamp":"2999-01-01T00:00:00Z"}}\'\n',
  );
  chmodSync(plugin, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** A kubeconfig of one context, as YAML (the form users have). */
function kubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown>, name = 'c'): string {
  const quote = (value: unknown) => JSON.stringify(value);
  const block = (fields: Record<string, unknown>) =>
    Object.entries(fields)
      .map(([key, value]) => `      ${key}: ${quote(value)}`)
      .join('\n');
  return [
    'apiVersion: v1',
    'kind: Config',
    `current-context: ${name}`,
    'clusters:',
    `  - name: ${name}`,
    '    cluster:',
    block({ server: 'https://127.0.0.1:6443', ...cluster }),
    'users:',
    `  - name: ${name}`,
    Object.keys(user).length ? `    user:\n${block(user)}` : '    user: {}',
    'contexts:',
    `  - name: ${name}`,
    '    context:',
    `      cluster: ${name}`,
    `      user: ${name}`,
  ].join('\n');
}

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function observed(access: ClusterAccess) {
  return { server: access.server.replace(/\/$/, ''), tls: access.tls, headers: await access.authHeaders() };
}

const ROWS: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
  [
    'client certificate and CA as data',
    { 'certificate-authority-data': b64('CA') },
    { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') },
  ],
  [
    'client certificate and CA as files, relative to the kubeconfig',
    { 'certificate-authority': 'pki/ca.crt' },
    { 'client-certificate': 'pki/client.crt', 'client-key': 'pki/client.key' },
  ],
  ['a bearer token', { 'certificate-authority-data': b64('CA') }, { token: 'static-token' }],
  ['a token file', { 'certificate-authority-data': b64('CA') }, { 'token-file': '__DIR__/token' }],
  ['basic auth', { 'insecure-skip-tls-verify': true }, { username: 'admin', password: 'secret' }],
  ['no verification, a TLS server name', { 'insecure-skip-tls-verify': true, 'tls-server-name': 'api.local' }, {}],
  ['impersonation', { 'certificate-authority-data': b64('CA') }, { token: 't', as: 'someone' }],
  [
    'an exec plugin',
    { 'certificate-authority-data': b64('CA') },
    { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: '__DIR__/plugin.sh', interactiveMode: 'Never' } },
  ],
];

test.each(ROWS)('%s: what client-node gives', async (_what, cluster, user) => {
  const resolved = JSON.parse(JSON.stringify(user).replaceAll('__DIR__', dir)) as Record<string, unknown>;
  const file = write('config.yaml', kubeconfig(cluster, resolved));
  const full = new KubeConfig();
  full.loadFromFile(file);
  expect(await observed(await loadClusterAccess(file))).toEqual(await observed(await accessFromKubeConfig(full)));
});

test('KUBECONFIG with two files: merged as client-node merges them (the later current-context wins)', async () => {
  const first = write('first.yaml', kubeconfig({ 'certificate-authority-data': b64('CA1') }, { token: 'one' }, 'a'));
  const second = write('second.yaml', kubeconfig({ 'certificate-authority-data': b64('CA2') }, { token: 'two' }, 'b'));
  const KUBECONFIG = [first, second].join(path.delimiter);
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = KUBECONFIG;
  try {
    const full = new KubeConfig();
    full.loadFromDefault();
    const slim = await observed(await loadClusterAccess(undefined, { env: { KUBECONFIG } }));
    expect(slim).toEqual(await observed(await accessFromKubeConfig(full)));
    expect(slim.headers).toEqual({ Authorization: 'Bearer two' });
  } finally {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  }
});

test('in a Pod: the service address, the mounted CA and the token file, as client-node reads them', async () => {
  const prefix = path.join(dir, 'pod');
  const root = path.join(prefix, '/var/run/secrets/kubernetes.io/serviceaccount');
  mkdirSync(root, { recursive: true });
  writeFileSync(path.join(root, 'ca.crt'), 'CLUSTER CA');
  writeFileSync(path.join(root, 'token'), 'projected-token');
  const env = { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' };
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const full = new KubeConfig();
    full.loadFromCluster(prefix);
    const slim = await observed(await loadClusterAccess(undefined, { env, serviceAccountRoot: root }));
    expect(slim).toEqual(await observed(await accessFromKubeConfig(full)));
    expect(slim.headers).toEqual({ Authorization: 'Bearer projected-token' });
    expect(slim.server).toBe('https://[fd00::1]:443');
  } finally {
    process.env = saved;
  }
});

test('an auth-provider only client-node knows (oidc) is handed to its full KubeConfig', async () => {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const idToken = `${part({ alg: 'none' })}.${part({ exp: 32503680000 })}.sig`;
  const file = write(
    'oidc.yaml',
    kubeconfig(
      { 'certificate-authority-data': b64('CA') },
      { 'auth-provider': { name: 'oidc', config: { 'id-token': idToken, 'client-id': 'x' } } },
    ),
  );
  const full = new KubeConfig();
  full.loadFromFile(file);
  const slim = await observed(await loadClusterAccess(file));
  expect(slim).toEqual(await observed(await accessFromKubeConfig(full)));
  expect(slim.headers).toEqual({ Authorization: `Bearer ${idToken}` });
});

test('no current cluster is an error', async () => {
  const file = write('empty.yaml', 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
  await expect(loadClusterAccess(file)).rejects.toThrow('kubeconfig has no current cluster');
});
