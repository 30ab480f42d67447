// gitlab entries on the real control plane: the operator (a real process) creates deploy tokens
// (read_registry) of a GitLab project or group with the REST API v4 over HTTPS and writes them into
// every copy; skopeo pulls with a copy from a REAL registry (distribution with token auth,
// test/harness/token-server.ts). What stands in: GitLab's deploy token API (test/harness/gitlab.ts),
// because GitLab cannot be run on this machine; each deploy token it creates is a real user of the
// registry with pull access to its project's or group's repositories, removed when deleted.
// The rotation case starts first (a 2m token renewed at 2/3, 80 s) and is checked last, so that its
// wait overlaps the other cases.
import type { V1Secret } from '@kubernetes/client-node';
import { waitFor } from '../../harness/wait.js';
import { authsOf } from '../harness/cluster.js';
import { type GitLabStandIn, startGitLabStandIn } from '../harness/gitlab.js';
import { dockerConfigJson, type Registry } from '../harness/registry.js';
import { reportedSecrets, type Scenario, startScenario, waitForCondition, waitForSecret } from '../harness/scenario.js';
import { startTokenAuthRegistry, type TokenAuthRegistry } from '../harness/token-server.js';

const MAINTAINER = 'glpat-maintainer-Secret1';
const DEVELOPER = 'glpat-developer-Secret2';

let registry: Registry;
let backend: TokenAuthRegistry | undefined;
let gitlab: GitLabStandIn;
let s: Scenario;
/** The rotation case: its RegistryCredential, namespaces, and what the copies carried at each DELETE. */
const rotation = { cred: '', namespaces: [] as string[], atDelete: [] as Array<{ deleted: string; copies: string[] }> };

const tokenSecret = (name: string, data: Record<string, string>): V1Secret => ({
  metadata: { name },
  type: 'Opaque',
  stringData: data,
});

const entry = (tokenSecretName: string, where: { project: string } | { group: string }, expiresIn = '30d') => ({
  server: registry.host,
  gitlab: { url: gitlab.url, tokenSecretName, ...where, expiresIn },
});

const usernameIn = (secret: V1Secret | undefined) => authsOf(secret)?.[registry.host]?.username;
const live = (username: string | undefined) => [...gitlab.tokens.values()].find((t) => t.username === username);

/** The deploy token a copy carries, once the copy exists and names a live token of the stand-in. */
async function tokenOf(namespace: string, name: string) {
  const secret = await waitForSecret(s.cluster, namespace, name, (x) => live(usernameIn(x)) !== undefined);
  const auth = authsOf(secret)![registry.host]!;
  return { token: live(auth.username)!, auth };
}

beforeAll(async () => {
  backend = await startTokenAuthRegistry();
  registry = backend.registry;
  // The probe image is regcred/probe:1: project regcred/probe, group regcred.
  gitlab = await startGitLabStandIn({
    accessTokens: [
      { token: MAINTAINER, scopes: ['api'], maintainerOf: ['regcred', 'other'] },
      { token: DEVELOPER, scopes: ['api'], maintainerOf: [] },
    ],
    projects: [
      { id: 11, path: 'regcred/probe' },
      { id: 12, path: 'other/app' },
    ],
    groups: [
      { id: 21, path: 'regcred' },
      { id: 22, path: 'other' },
    ],
    tokenServer: backend.tokenServer,
  });
  s = await startScenario('gitlab', { operatorEnv: { NODE_EXTRA_CA_CERTS: gitlab.caFile } });
  await s.cluster.createSecret(s.sourceNamespace, tokenSecret('gitlab-api', { token: MAINTAINER }));
  await s.cluster.createSecret(s.sourceNamespace, tokenSecret('gitlab-developer', { token: DEVELOPER }));
  await s.cluster.createSecret(s.sourceNamespace, tokenSecret('gitlab-no-key', { password: MAINTAINER }));
  await s.cluster.createSecret(s.sourceNamespace, tokenSecret('gitlab-later', { token: MAINTAINER }));
  await s.cluster.createSecret(s.sourceNamespace, tokenSecret('gitlab-rotation', { token: MAINTAINER }));
  // At each DELETE (before it is carried out) the test reads what every copy of the rotation case carries.
  gitlab.beforeDelete = async (token) => {
    if (!rotation.cred || token.owner !== 'group:regcred') return;
    const copies = [];
    for (const ns of rotation.namespaces)
      copies.push(usernameIn(await s.cluster.getSecret(ns, rotation.cred)) ?? '(none)');
    rotation.atDelete.push({ deleted: token.username, copies });
  };
  const group = { case: 'rotation' };
  rotation.namespaces = [await s.namespace('gl-rot-a', group), await s.namespace('gl-rot-b', group)];
  rotation.cred = await s.credential('gl-rot', {
    registries: [entry('gitlab-rotation', { group: 'regcred' }, '2m')],
    namespaceSelector: s.selectorWith(group),
  });
}, 300_000);

afterAll(async () => {
  try {
    await s?.cleanup();
  } finally {
    await gitlab?.stop();
    await backend?.stop();
  }
});

test('one project deploy token per identity, read_registry, in every copy of every RegistryCredential; skopeo pulls with it', async () => {
  const foreign = gitlab.addForeignToken('project:regcred/probe', 'ci-pull');
  const group = { case: 'project' };
  const namespaces = [await s.namespace('gl-a', group), await s.namespace('gl-b', group)];
  const creds = [];
  for (const prefix of ['gl-1', 'gl-2'])
    creds.push(
      await s.credential(prefix, {
        registries: [entry('gitlab-api', { project: 'regcred/probe' })],
        namespaceSelector: s.selectorWith(group),
      }),
    );
  const carried = [];
  for (const ns of namespaces) for (const cred of creds) carried.push(await tokenOf(ns, cred));
  expect(new Set(carried.map((c) => c.token.id)).size).toBe(1);
  const { token, auth } = carried[0]!;
  expect(token.owner).toBe('project:regcred/probe');
  expect(token.scopes).toEqual(['read_registry']);
  expect(token.username).toMatch(/^regcred-[0-9a-f]{8}-[0-9a-z]+$/);
  expect(token.name).toMatch(/^regcred-[0-9a-f]{8}-[0-9a-z]+ \(managed by regcred-operator, identity [0-9a-f]{16};/);
  expect(auth.username).toBe(token.username);
  const lifetimeDays = (Date.parse(token.expires_at!) - Date.now()) / 86_400_000;
  expect(lifetimeDays).toBeGreaterThan(29);
  expect(lifetimeDays).toBeLessThanOrEqual(30);
  for (const cred of creds) await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  const pull = await registry.inspect(dockerConfigJson(registry.host, auth.username, auth.password));
  expect(pull.output).toBe(pull.ok ? pull.output : 'a successful pull');
  expect(pull.ok).toBe(true);
  const posts = [...gitlab.tokens.values()].filter(
    (t) => t.owner === 'project:regcred/probe' && t.name.startsWith('regcred-'),
  ).length;
  process.stdout.write(`[gitlab sharing] 2 RegistryCredentials x 2 namespaces: ${posts} deploy token(s) created\n`);
  expect(posts).toBe(1);
  expect(gitlab.tokens.get(foreign.id)?.revoked).toBe(false);
});

test('a group deploy token pulls from a project of the group; deleting the RegistryCredential revokes it', async () => {
  const group = { case: 'group' };
  const ns = await s.namespace('gl-group', group);
  const cred = await s.credential('gl-grp', {
    registries: [entry('gitlab-later', { group: 'regcred' })],
    namespaceSelector: s.selectorWith(group),
  });
  const { token, auth } = await tokenOf(ns, cred);
  expect(token.owner).toBe('group:regcred');
  const pull = await registry.inspect(dockerConfigJson(registry.host, auth.username, auth.password));
  expect(pull.ok).toBe(true);
  const foreign = gitlab.addForeignToken('group:regcred', 'someone-elses');
  await s.cluster.deleteCredential(cred);
  await waitFor(() => !gitlab.tokens.has(token.id), { timeoutMs: 60_000, what: `deploy token ${token.id} revoked` });
  await waitFor(async () => !(await s.cluster.getCredential(cred)), { timeoutMs: 60_000, what: `${cred} gone` });
  expect(gitlab.tokens.has(foreign.id)).toBe(true);
  const after = await registry.inspect(dockerConfigJson(registry.host, auth.username, auth.password));
  expect(after.unauthorized).toBe(true);
});

test.each([
  ['an unknown project (404)', 'gitlab-api', 'regcred/nosuch', 'GitLabProjectNotFound', /404 Project Not Found/],
  [
    'a token without the right to manage deploy tokens (403)',
    'gitlab-developer',
    'other/app',
    'GitLabForbidden',
    /403 Forbidden/,
  ],
  [
    'a token Secret without the key token',
    'gitlab-no-key',
    'other/app',
    'InvalidSourceSecret',
    /non-empty key \\"token\\"/,
  ],
])('%s: a clear condition, no deploy token created', async (_name, secretName, project, reason, text) => {
  const ofProject = () => [...gitlab.tokens.values()].filter((t) => t.owner === `project:${project}`).length;
  const tokensBefore = ofProject();
  const group = { case: `bad-${reason.toLowerCase()}` };
  await s.namespace(`gl-${reason.toLowerCase().slice(0, 20)}`, group);
  const cred = await s.credential(`gl-bad-${reason.toLowerCase().slice(6, 14)}`, {
    registries: [entry(secretName, { project })],
    namespaceSelector: s.selectorWith(group),
  });
  await waitForCondition(s.cluster, cred, 'SourcesReady', { status: 'False', reason });
  const status = JSON.stringify((await s.cluster.getCredential(cred))!.status);
  expect(status).toMatch(text);
  expect(status).not.toContain(MAINTAINER);
  expect(status).not.toContain(DEVELOPER);
  expect(ofProject()).toBe(tokensBefore);
});

test('a token Secret that loses its key: a clear condition, the copy and its deploy token stay', async () => {
  const group = { case: 'loses-key' };
  const ns = await s.namespace('gl-loses', group);
  await s.cluster.createSecret(s.sourceNamespace, tokenSecret('gitlab-flaky', { token: MAINTAINER }));
  const cred = await s.credential('gl-loses', {
    registries: [entry('gitlab-flaky', { project: 'other/app' })],
    namespaceSelector: s.selectorWith(group),
  });
  const before = await tokenOf(ns, cred);
  const secret = (await s.cluster.getSecret(s.sourceNamespace, 'gitlab-flaky'))!;
  await s.cluster.replaceSecret({ ...secret, data: { tokn: secret.data!.token! } });
  await waitForCondition(s.cluster, cred, 'SourcesReady', { status: 'False', reason: 'InvalidSourceSecret' });
  expect(usernameIn(await s.cluster.getSecret(ns, cred))).toBe(before.auth.username);
  expect(gitlab.tokens.has(before.token.id)).toBe(true);
});

test('rotation at 2/3 of expiresIn: the old deploy token is revoked only after every copy carries the new one', async () => {
  const [a, b] = rotation.namespaces as [string, string];
  const first = await tokenOf(a, rotation.cred);
  // renewed at 80 s of 120 s: the copies move to a new token, then the old one is deleted
  await waitFor(() => !gitlab.tokens.has(first.token.id), {
    timeoutMs: 240_000,
    intervalMs: 500,
    what: `the first deploy token ${first.token.username} revoked after its renewal`,
  });
  const second = await tokenOf(a, rotation.cred);
  expect(second.token.id).not.toBe(first.token.id);
  expect((await tokenOf(b, rotation.cred)).token.id).toBe(second.token.id);
  const firstDelete = rotation.atDelete.find((d) => d.deleted === first.token.username);
  process.stdout.write(`[gitlab rotation] copies at the DELETE of the old token: ${JSON.stringify(firstDelete)}\n`);
  expect(firstDelete?.copies).toEqual([second.token.username, second.token.username]);
  const pull = await registry.inspect(dockerConfigJson(registry.host, second.auth.username, second.auth.password));
  expect(pull.ok).toBe(true);
}, 300_000);

test('GitLab down at the renewal point: the copies keep the old deploy token, the condition and an Event say why, the retry rotates', async () => {
  // After the rotation case: its renewal must not fall into this outage. 1m tokens are renewed at 40 s.
  const group = { case: 'outage' };
  const namespaces = [await s.namespace('gl-out-a', group), await s.namespace('gl-out-b', group)];
  const cred = await s.credential('gl-out', {
    registries: [entry('gitlab-api', { project: 'regcred/probe' }, '1m')],
    namespaceSelector: s.selectorWith(group),
  });
  const first = await tokenOf(namespaces[0]!, cred);
  expect((await tokenOf(namespaces[1]!, cred)).token.id).toBe(first.token.id);
  gitlab.down = true;
  try {
    await waitForCondition(s.cluster, cred, 'SourcesReady', { status: 'False', reason: 'GitLabUnavailable' }, 90_000);
    await waitFor(
      async () =>
        (await s.cluster.eventsFor(cred)).some((e) => e.type === 'Warning' && e.reason === 'GitLabUnavailable'),
      { timeoutMs: 30_000, what: 'a Warning Event GitLabUnavailable' },
    );
    for (const ns of namespaces) expect(usernameIn(await s.cluster.getSecret(ns, cred))).toBe(first.auth.username);
    expect(gitlab.tokens.has(first.token.id)).toBe(true);
    const stillPulls = await registry.inspect(
      dockerConfigJson(registry.host, first.auth.username, first.auth.password),
    );
    expect(stillPulls.ok).toBe(true);
  } finally {
    gitlab.down = false;
  }
  for (const ns of namespaces)
    await waitForSecret(s.cluster, ns, cred, (x) => usernameIn(x) !== first.auth.username, 90_000);
  await waitFor(() => !gitlab.tokens.has(first.token.id), {
    timeoutMs: 60_000,
    what: `the old deploy token ${first.token.username} revoked once every copy carries the new one`,
  });
  await waitForCondition(s.cluster, cred, 'SourcesReady', { status: 'True' });
  const current = await tokenOf(namespaces[0]!, cred);
  const pull = await registry.inspect(dockerConfigJson(registry.host, current.auth.username, current.auth.password));
  expect(pull.ok).toBe(true);
  process.stdout.write(
    `[gitlab outage] deploy token requests by method, 503s included: ${JSON.stringify(gitlab.requests)}\n`,
  );
}, 240_000);

test('no access token or deploy token in the log, metrics, Events or status', async () => {
  expect(gitlab.issued.length).toBeGreaterThan(1);
  expect(await reportedSecrets(s, [MAINTAINER, DEVELOPER, ...gitlab.issued])).toEqual([]);
});
