// Spec semantics 1 (materialize), checked the way it matters: a real client (skopeo) uses the
// .dockerconfigjson the operator wrote to authenticate against a real registry (TLS + htpasswd).
// Right credentials pull, wrong ones are refused with 401, and one merged Secret carries several
// registries, including entries imported from an existing pull secret, in the current
// (kubernetes.io/dockerconfigjson) and the legacy (kubernetes.io/dockercfg) format.
import { randomBytes } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import { authsOf, basicAuthSecret, dockerConfigSecret } from '../harness/cluster.js';
import { type InspectResult, type Registry, startRegistry } from '../harness/registry.js';
import {
  type Scenario,
  startScenario,
  waitForCondition,
  waitForPullSecrets,
  waitForSecret,
} from '../harness/scenario.js';

const user = { username: 'puller', password: randomBytes(18).toString('base64url') };
const wrongPassword = randomBytes(18).toString('base64url');

let s: Scenario;
let registry: Registry;
beforeAll(async () => {
  registry = await startRegistry({ users: [user] });
  s = await startScenario('pullcheck');
});
afterAll(async () => {
  await s?.cleanup();
  await registry?.stop();
});

/** The decoded .dockerconfigjson of a materialized Secret, as a kubelet (or skopeo) reads it. */
function dockerConfigOf(secret: V1Secret): string {
  const raw = secret.data?.['.dockerconfigjson'];
  if (!raw) throw new Error(`Secret ${secret.metadata?.namespace}/${secret.metadata?.name} has no .dockerconfigjson`);
  return Buffer.from(raw, 'base64').toString('utf8');
}

/** What skopeo said, without anything that could carry a secret: its output names no password. */
const verdict = (r: InspectResult) => ({
  ok: r.ok,
  unauthorized: r.unauthorized,
  output: r.output.trim().split('\n').slice(-3).join('\n'),
});

/** An auth field: base64 of username:password. */
const auth = (username: string, password: string): string => Buffer.from(`${username}:${password}`).toString('base64');

/**
 * Whether the entry for `server` carries exactly `username` / `password` (username, password and
 * auth all agreeing), as booleans: a failing assertion must not print the credentials.
 */
function carries(secret: V1Secret, server: string, username: string, password: string) {
  const e = authsOf(secret)?.[server];
  return {
    server,
    username: e?.username,
    passwordMatches: e?.password === password,
    authMatches: e?.auth === auth(username, password),
  };
}
const carrying = (server: string, username: string) => ({ server, username, passwordMatches: true, authMatches: true });

/** Waits for the materialized Secret of `cred` in `ns` to be complete (every server present). */
async function materialized(ns: string, cred: string, servers: string[]): Promise<V1Secret> {
  const secret = await waitForSecret(s.cluster, ns, cred, (x) =>
    servers.every((server) => authsOf(x)?.[server] !== undefined),
  );
  expect(secret.type).toBe('kubernetes.io/dockerconfigjson');
  expect(Object.keys(authsOf(secret)!).sort()).toEqual([...servers].sort());
  return secret;
}

test('a basicAuth credential with the right password: skopeo pulls with the materialized Secret', async () => {
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('puller-good', user.username, user.password));
  const ns = await s.namespace('good', { case: 'good' });
  const cred = await s.credential('good', {
    registries: [{ server: registry.host, basicAuth: { secretName: 'puller-good' } }],
    namespaceSelector: s.selectorWith({ case: 'good' }),
  });
  const secret = await materialized(ns, cred, [registry.host]);
  expect(carries(secret, registry.host, user.username, user.password)).toEqual(carrying(registry.host, user.username));

  expect(verdict(await registry.inspect(dockerConfigOf(secret)))).toEqual({
    ok: true,
    unauthorized: false,
    output: expect.any(String),
  });
  // What a Pod would use: the default ServiceAccount names the Secret.
  await waitForPullSecrets(s.cluster, ns, 'default', [cred]);
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
});

test('a basicAuth credential with a wrong password: the registry refuses the materialized Secret (401)', async () => {
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('puller-wrong', user.username, wrongPassword));
  const ns = await s.namespace('wrong', { case: 'wrong' });
  const cred = await s.credential('wrong', {
    registries: [{ server: registry.host, basicAuth: { secretName: 'puller-wrong' } }],
    namespaceSelector: s.selectorWith({ case: 'wrong' }),
  });
  const secret = await materialized(ns, cred, [registry.host]);
  // The copy faithfully carries the (wrong) source: the refusal is the registry's, not a broken file.
  expect(carries(secret, registry.host, user.username, wrongPassword)).toEqual(carrying(registry.host, user.username));

  expect(verdict(await registry.inspect(dockerConfigOf(secret)))).toEqual({
    ok: false,
    unauthorized: true,
    output: expect.stringMatching(/unauthorized|401/i),
  });
});

test('several registries in one Secret: an imported config.json plus a basicAuth entry authenticate against the registry', async () => {
  // Like `kubectl create secret generic --from-file=.dockerconfigjson=~/.docker/config.json`:
  // `docker login` writes only `auth`, and the file has keys besides auths.
  const configJson = JSON.stringify({
    auths: {
      [registry.host]: { auth: auth(user.username, user.password) },
      'ghcr.io': { auth: auth('octocat', randomBytes(12).toString('hex')) },
    },
    HttpHeaders: { 'User-Agent': 'Docker-Client/27.3.1 (linux)' },
  });
  await s.cluster.createSecret(s.sourceNamespace, dockerConfigSecret('docker-config', configJson));
  const harborPassword = randomBytes(12).toString('hex');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('harbor-robot', 'robot$ci', harborPassword));
  const ns = await s.namespace('several', { case: 'several' });
  const cred = await s.credential('several', {
    registries: [
      { dockerConfig: { secretName: 'docker-config' } },
      { server: 'harbor.example.com', basicAuth: { secretName: 'harbor-robot' } },
    ],
    namespaceSelector: s.selectorWith({ case: 'several' }),
  });
  const secret = await materialized(ns, cred, [registry.host, 'ghcr.io', 'harbor.example.com']);
  // The imported entry is completed with username and password (from its auth).
  expect(carries(secret, registry.host, user.username, user.password)).toEqual(carrying(registry.host, user.username));
  expect(carries(secret, 'harbor.example.com', 'robot$ci', harborPassword)).toEqual(
    carrying('harbor.example.com', 'robot$ci'),
  );

  expect(verdict(await registry.inspect(dockerConfigOf(secret)))).toEqual({
    ok: true,
    unauthorized: false,
    output: expect.any(String),
  });
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
});

test('an imported legacy kubernetes.io/dockercfg Secret works with skopeo', async () => {
  // The old ~/.dockercfg format: the registries map itself, no "auths" wrapper; `auth` and `email`.
  const dockercfg = JSON.stringify({
    [registry.host]: { auth: auth(user.username, user.password), email: 'puller@example.com' },
  });
  await s.cluster.createSecret(s.sourceNamespace, {
    metadata: { name: 'legacy-dockercfg' },
    type: 'kubernetes.io/dockercfg',
    data: { '.dockercfg': Buffer.from(dockercfg).toString('base64') },
  });
  const ns = await s.namespace('legacy', { case: 'legacy' });
  const cred = await s.credential('legacy', {
    registries: [{ dockerConfig: { secretName: 'legacy-dockercfg' } }],
    namespaceSelector: s.selectorWith({ case: 'legacy' }),
  });
  const secret = await materialized(ns, cred, [registry.host]);
  // Converted to the current format: an "auths" map with username, password and auth.
  expect(Object.keys(JSON.parse(dockerConfigOf(secret)) as object)).toEqual(['auths']);
  expect(carries(secret, registry.host, user.username, user.password)).toEqual(carrying(registry.host, user.username));

  expect(verdict(await registry.inspect(dockerConfigOf(secret)))).toEqual({
    ok: true,
    unauthorized: false,
    output: expect.any(String),
  });
});
