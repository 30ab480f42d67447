// Credentials the operator owns, pulled by the real kubelet: a Harbor robot account and a GitLab
// deploy token that the operator (a real process) creates at their stand-ins' APIs
// (test/harness/harbor.ts, gitlab.ts) and writes into a namespace's copy and its default
// ServiceAccount; containerd pulls a private image with them from a REAL registry with token auth
// (distribution + test/harness/token-server.ts, both on the node's bridge address) and the Pod runs.
// The registry knows each credential only once the stand-in has created it.
import type { V1Secret } from '@kubernetes/client-node';
import { authsOf } from '../harness/cluster.js';
import { type GitLabStandIn, startGitLabStandIn } from '../harness/gitlab.js';
import { type HarborStandIn, startHarborStandIn } from '../harness/harbor.js';
import { trustRegistry } from '../harness/node.js';
import { dockerConfigJson, type Registry } from '../harness/registry.js';
import { type Scenario, startScenario, waitForPullSecrets, waitForSecret } from '../harness/scenario.js';
import { startTokenAuthRegistry, type TokenAuthRegistry } from '../harness/token-server.js';
import { appImageLayout, nodeEnv, podPullSecrets, Workloads } from '../harness/workloads.js';

const HARBOR_ADMIN = { username: 'admin', password: 'Harbor12345' };
const GITLAB_MAINTAINER = 'glpat-maintainer-Secret1';

let backend: TokenAuthRegistry | undefined;
let registry: Registry;
let harbor: HarborStandIn | undefined;
let gitlab: GitLabStandIn | undefined;
let s: Scenario;
let w: Workloads;

const opaque = (name: string, data: Record<string, string>): V1Secret => ({
  metadata: { name },
  type: 'Opaque',
  stringData: data,
});

beforeAll(async () => {
  w = new Workloads();
  backend = await startTokenAuthRegistry({ address: nodeEnv().gateway });
  registry = backend.registry;
  await trustRegistry(nodeEnv(), registry.host, registry.caFile);
  await registry.push(await appImageLayout('owned-harbor'), '1', 'shop/app:1');
  await registry.push(await appImageLayout('owned-gitlab'), '1', 'team/app:1');
  harbor = await startHarborStandIn({ admin: HARBOR_ADMIN, projects: ['shop'], tokenServer: backend.tokenServer });
  gitlab = await startGitLabStandIn({
    accessTokens: [{ token: GITLAB_MAINTAINER, scopes: ['api'], maintainerOf: ['team'] }],
    projects: [{ id: 11, path: 'team/app' }],
    groups: [{ id: 21, path: 'team' }],
    tokenServer: backend.tokenServer,
  });
  s = await startScenario('owned', { operatorEnv: { NODE_EXTRA_CA_CERTS: gitlab.caFile } });
  await s.cluster.createSecret(s.sourceNamespace, opaque('harbor-admin', HARBOR_ADMIN));
  await s.cluster.createSecret(s.sourceNamespace, opaque('gitlab-api', { token: GITLAB_MAINTAINER }));
}, 300_000);

afterAll(async () => {
  try {
    await s?.cleanup();
  } finally {
    await harbor?.stop();
    await gitlab?.stop();
    await backend?.stop();
  }
}, 300_000);

/**
 * A namespace selected by a RegistryCredential with `entry`; waits until its copy carries a credential that `minted`
 * knows and the default ServiceAccount names the copy, then runs `image` in a Pod there. Returns the username the
 * Pod pulled with.
 */
async function podPullsWith(
  name: string,
  entry: Record<string, unknown>,
  minted: (username: string) => boolean,
  image: string,
): Promise<string> {
  const group = { case: name };
  const ns = await s.namespace(name, group);
  const cred = await s.credential(name, {
    registries: [{ server: registry.host, ...entry }],
    namespaceSelector: s.selectorWith(group),
    serviceAccounts: ['default'],
  });
  const copy = await waitForSecret(s.cluster, ns, cred, (x) => minted(authsOf(x)?.[registry.host]?.username ?? ''));
  const auth = authsOf(copy)![registry.host]!;
  await waitForPullSecrets(s.cluster, ns, 'default', [cred]);
  // The registry is private: a credential it does not know is refused.
  const stranger = dockerConfigJson(registry.host, 'nobody', 'wrong-Pa55');
  expect((await registry.inspect(stranger, image)).unauthorized).toBe(true);

  const issuedBefore = backend!.tokenServer.requests.issued;
  await w.createPod(ns, 'app', [image]);
  const pod = await w.waitForRunning(ns, 'app');
  // containerd got its bearer token from the realm on the bridge address, with the copy's credential.
  expect(backend!.tokenServer.requests.issued).toBeGreaterThan(issuedBefore);
  expect(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  expect(podPullSecrets(pod)).toEqual([cred]);
  const pulled = await w.waitForEvent(ns, 'app', 'Pulled', /Successfully pulled image/);
  expect(pulled.message).toContain(image);
  return auth.username;
}

test('a Harbor robot the operator created: the kubelet pulls with it from the copy the default ServiceAccount names', async () => {
  const robotNamed = (username: string) => [...harbor!.robots.values()].find((r) => r.name === username);
  const username = await podPullsWith(
    'own-harbor',
    { harbor: { url: harbor!.url, adminSecretName: 'harbor-admin', projects: ['shop'], duration: '30d' } },
    (u) => robotNamed(u) !== undefined,
    `${registry.host}/shop/app:1`,
  );
  expect(username).toMatch(/^robot\$regcred-/);
  expect(robotNamed(username)!.projects).toEqual(['shop']);
});

test('a GitLab deploy token the operator created: the kubelet pulls with it the same way', async () => {
  const tokenNamed = (username: string) => [...gitlab!.tokens.values()].find((t) => t.username === username);
  const username = await podPullsWith(
    'own-gitlab',
    { gitlab: { url: gitlab!.url, tokenSecretName: 'gitlab-api', project: 'team/app', expiresIn: '30d' } },
    (u) => tokenNamed(u) !== undefined,
    `${registry.host}/team/app:1`,
  );
  expect(tokenNamed(username)).toMatchObject({ owner: 'project:team/app', scopes: ['read_registry'], revoked: false });
});
