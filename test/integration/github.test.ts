// github entries on the real control plane: GitHub App installation tokens (the App's JWT signed by
// the operator, checked by the stand-in with the App's public key) and personal access tokens (the
// expiry GitHub reports). What is real: the operator process, the API server, the registry
// (docker-registry with token auth, test/harness/token-server.ts) and skopeo pulling with the copies
// as they are. What stands in: GitHub's REST API (test/harness/github.ts, over HTTPS on loopback at
// github.apiUrl, trusted through NODE_EXTRA_CA_CERTS), which registers every token it hands out as a
// registry user until the token's expiry.
import { generateKeyPairSync } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import { authsOf } from '../harness/cluster.js';
import { type GitHubStandIn, startGitHubStandIn } from '../harness/github.js';
import type { Registry } from '../harness/registry.js';
import { reportedSecrets, type Scenario, startScenario, waitForCondition, waitForSecret } from '../harness/scenario.js';
import { startTokenAuthRegistry, type TokenAuthRegistry, type TokenServer } from '../harness/token-server.js';
import { waitFor } from '../../harness/wait.js';

const APP = '424242';
const INSTALLATION = '1001';
const pem = (key: ReturnType<typeof generateKeyPairSync>['privateKey']) =>
  key.export({ type: 'pkcs8', format: 'pem' }) as string;
const appKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const strangerKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PAT = `ghp_${'p'.repeat(8)}${Date.now().toString(36)}`;
const LOGIN = 'octo-puller';

let registry: Registry;
let tokenServer: TokenServer;
let backend: TokenAuthRegistry | undefined;
let github: GitHubStandIn;
let s: Scenario;
beforeAll(async () => {
  backend = await startTokenAuthRegistry();
  ({ registry, tokenServer } = backend);
  github = await startGitHubStandIn({ tls: backend.tls, tokenServer });
  github.addApp(APP, appKey.publicKey, {
    [INSTALLATION]: { repositories: ['regcred/probe'] },
    '1002': { repositories: ['regcred/probe'] },
    '1003': { repositories: ['regcred/probe'], packages: 'none' },
  });
  s = await startScenario('github', { operatorEnv: { NODE_EXTRA_CA_CERTS: registry.caFile } });
  const keySecret = (name: string, key: string): V1Secret => ({
    metadata: { name },
    type: 'Opaque',
    stringData: { 'private-key.pem': key },
  });
  await s.cluster.createSecret(s.sourceNamespace, keySecret('gh-app', pem(appKey.privateKey)));
  await s.cluster.createSecret(s.sourceNamespace, keySecret('gh-stranger', pem(strangerKey.privateKey)));
}, 120_000);
afterAll(async () => {
  try {
    await s?.cleanup();
  } finally {
    await github?.stop();
    await backend?.stop();
  }
});

const app = (installationId: string, privateKeySecretName = 'gh-app') => ({
  appId: APP,
  installationId,
  privateKeySecretName,
  apiUrl: github.apiUrl,
});

/** Waits until the copy holds `username` and the password `expected()` names (once it names one). */
function holds(ns: string, name: string, username: string, expected: () => string | undefined) {
  return waitForSecret(s.cluster, ns, name, (secret) => {
    const entry = authsOf(secret)?.[registry.host];
    const password = expected();
    return password !== undefined && entry?.username === username && entry.password === password;
  });
}

const latestToken = (installationId: string) => () => github.installationTokens(APP, installationId).at(-1)?.token;
const pull = async (secret: V1Secret) => {
  const document = Buffer.from(secret.data!['.dockerconfigjson']!, 'base64').toString('utf8');
  const result = await registry.inspect(document);
  return { ok: result.ok, unauthorized: result.unauthorized };
};

test('an App installation: one token request for two RegistryCredentials, copies skopeo pulls with from the real registry', async () => {
  const group = { case: 'app' };
  const namespaces = [await s.namespace('app-a', group), await s.namespace('app-b', group)];
  const creds = [
    await s.credential('app-1', {
      registries: [{ server: registry.host, github: app(INSTALLATION) }],
      namespaceSelector: s.selectorWith(group),
    }),
    await s.credential('app-2', {
      registries: [{ server: registry.host, github: app(INSTALLATION) }],
      namespaceSelector: s.selectorWith(group),
    }),
  ];
  const copies = [];
  for (const cred of creds)
    for (const ns of namespaces) copies.push(await holds(ns, cred, 'x-access-token', latestToken(INSTALLATION)));
  for (const cred of creds) await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  expect(github.requests(`app:${APP}:${INSTALLATION}`)).toBe(1);
  expect(github.installationTokens(APP, INSTALLATION)).toHaveLength(1);
  expect(await pull(copies[3]!)).toEqual({ ok: true, unauthorized: false });
  const status = (await s.cluster.getCredential(creds[0]!))!.status as { credentialsExpireAt?: string };
  expect(Date.parse(status.credentialsExpireAt!)).toBe(
    Math.floor(github.installationTokens(APP, INSTALLATION)[0]!.expiresAt / 1000) * 1000,
  );
  expect(await s.operator.metric('regcred_credentials_expiry_seconds', { credential: creds[0]! })).toBeGreaterThan(
    3000,
  );
});

test('renewal: a short-lived installation token is renewed before it expires, and the copies follow', async () => {
  github.setInstallationTokenLifetime(20);
  try {
    const group = { case: 'renew' };
    const ns = await s.namespace('renew', group);
    const cred = await s.credential('renew', {
      registries: [{ server: registry.host, github: app('1002') }],
      namespaceSelector: s.selectorWith(group),
      refreshInterval: '1m',
    });
    await holds(ns, cred, 'x-access-token', latestToken('1002'));
    await waitFor(() => github.installationTokens(APP, '1002').length >= 2, { timeoutMs: 60_000, what: 'a renewal' });
    const renewed = await holds(ns, cred, 'x-access-token', latestToken('1002'));
    const [first, second] = github.installationTokens(APP, '1002');
    expect(second!.expiresAt - 20_000).toBeLessThan(first!.expiresAt); // issued while the first was valid
    expect(await pull(renewed)).toEqual({ ok: true, unauthorized: false });
  } finally {
    github.setInstallationTokenLifetime(3600);
  }
});

test.each<[string, () => Record<string, unknown>, string, number]>([
  ['a key that is not the App’s (401)', () => app('1001', 'gh-stranger'), 'GitHubAppKeyInvalid', 401],
  ['an installation the App does not have (404)', () => app('9999'), 'GitHubAppInstallationNotFound', 404],
  ['an installation without packages:read (422)', () => app('1003'), 'GitHubAppPermissionDenied', 422],
])(
  '%s: the provider reason as condition and Warning Event, no Secret, nothing secret',
  async (_label, source, reason, status) => {
    const group = { case: reason.toLowerCase() };
    const ns = await s.namespace(reason.toLowerCase(), group);
    const before = github.refusals.length;
    const cred = await s.credential(reason.toLowerCase(), {
      registries: [{ server: registry.host, github: source() }],
      namespaceSelector: s.selectorWith(group),
    });
    const condition = await waitForCondition(s.cluster, cred, 'SourcesReady', { status: 'False', reason });
    expect(condition.message).toContain(`GitHub answered HTTP ${status}`);
    expect(github.refusals.slice(before).map((r) => r.status)).toContain(status);
    const event = await waitFor(
      async () => (await s.cluster.eventsFor(cred)).find((e) => e.type === 'Warning' && e.reason === reason),
      { what: `a ${reason} Event` },
    );
    expect(event.message).toContain(`GitHub answered HTTP ${status}`);
    for (const text of [condition.message, event.message!]) {
      expect(text).not.toMatch(/eyJ|BEGIN|PRIVATE KEY/);
      expect(text).not.toContain('ghs_');
    }
    expect(await s.cluster.getSecret(ns, cred)).toBeUndefined();
  },
);

test('a personal access token: GET /user, its login and expiry; under 7 days left, GitHubTokenExpiring (status and a Warning Event)', async () => {
  const expiresAt = Math.floor((Date.now() + 3 * 24 * 3600_000) / 1000) * 1000;
  github.addPersonalAccessToken(PAT, LOGIN, ['regcred/probe'], expiresAt);
  await s.cluster.createSecret(s.sourceNamespace, { metadata: { name: 'gh-pat' }, stringData: { token: PAT } });
  const group = { case: 'pat' };
  const ns = await s.namespace('pat', group);
  const creds = [
    await s.credential('pat-1', {
      registries: [{ server: registry.host, github: { tokenSecretName: 'gh-pat', apiUrl: github.apiUrl } }],
      namespaceSelector: s.selectorWith(group),
    }),
    await s.credential('pat-2', {
      registries: [{ server: registry.host, github: { tokenSecretName: 'gh-pat', apiUrl: github.apiUrl } }],
      namespaceSelector: s.selectorWith(group),
    }),
  ];
  const copy = await holds(ns, creds[0]!, LOGIN, () => PAT);
  expect(await pull(copy)).toEqual({ ok: true, unauthorized: false });
  for (const cred of creds) {
    const sources = await waitForCondition(s.cluster, cred, 'SourcesReady', {
      status: 'True',
      reason: 'GitHubTokenExpiring',
    });
    expect(sources.message).toContain('in less than 3 days');
    expect(sources.message).toContain(`Secret ${s.sourceNamespace}/gh-pat`);
    expect(sources.message).not.toContain(PAT);
    const event = await waitFor(
      async () =>
        (await s.cluster.eventsFor(cred)).find((e) => e.type === 'Warning' && e.reason === 'GitHubTokenExpiring'),
      { what: 'a GitHubTokenExpiring Event' },
    );
    expect(event.message).toBe(sources.message);
    expect(
      Date.parse(
        ((await s.cluster.getCredential(cred))!.status as { credentialsExpireAt?: string }).credentialsExpireAt!,
      ),
    ).toBe(expiresAt);
  }
  expect(github.requests(`pat:${LOGIN}`)).toBe(1);
  const seconds = await s.operator.metric('regcred_credentials_expiry_seconds', { credential: creds[0]! });
  expect(seconds).toBeGreaterThan(2 * 24 * 3600);
  expect(seconds).toBeLessThanOrEqual(3 * 24 * 3600);
});

test('a personal access token GitHub does not know: GitHubTokenInvalid', async () => {
  await s.cluster.createSecret(s.sourceNamespace, {
    metadata: { name: 'gh-revoked' },
    stringData: { token: 'ghp_revokedrevokedrevoked' },
  });
  const group = { case: 'revoked' };
  await s.namespace('revoked', group);
  const cred = await s.credential('revoked', {
    registries: [{ server: registry.host, github: { tokenSecretName: 'gh-revoked', apiUrl: github.apiUrl } }],
    namespaceSelector: s.selectorWith(group),
  });
  const condition = await waitForCondition(s.cluster, cred, 'SourcesReady', {
    status: 'False',
    reason: 'GitHubTokenInvalid',
  });
  expect(condition.message).toContain('Bad credentials');
  expect(condition.message).not.toContain('ghp_revoked');
});

test('no key, token or PAT in the log, metrics, Events or status', async () => {
  const issued = [INSTALLATION, '1002'].flatMap((id) => github.installationTokens(APP, id).map((t) => t.token));
  expect(issued.length).toBeGreaterThan(0);
  expect(await reportedSecrets(s, [PAT, 'ghp_revokedrevokedrevoked', ...issued, 'PRIVATE KEY'])).toEqual([]);
  // the search finds what is there: the scenario's id is in the credentials' names, logged and in metrics labels
  expect(await reportedSecrets(s, [s.id])).toEqual(expect.arrayContaining(['log 1: secret 0', 'metrics: secret 0']));
  expect(await s.operator.logs()).not.toMatch(/eyJ[\w-]+\.eyJ/);
});
