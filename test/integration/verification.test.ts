// Verification (spec "Verification"): each credential is checked against its real registry with the
// Docker Registry v2 handshake, and every reason comes from a real condition: Debian's
// docker-registry with htpasswd (Basic) and another with token auth (our token server, see
// test/harness/token-server.ts), a self-signed certificate trusted or not, a port where nothing
// listens, an HTTPS server that is not a registry, a repository that does not exist, a user
// without pull on a repository, a token realm on another host, a registry that accepts
// connections and never answers. The operator process runs with --verify-registries and the
// loopback guard: nothing leaves this machine.
import { readFile } from 'node:fs/promises';
import * as https from 'node:https';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { basicAuthSecret } from '../harness/cluster.js';
import { freePorts } from '../../harness/controlplane.js';
import { type Registry, startRegistry } from '../harness/registry.js';
import {
  type Scenario,
  startScenario,
  waitForCondition,
  waitForPullSecrets,
  waitForSecret,
} from '../harness/scenario.js';
import { startTokenServer, type TokenServer } from '../harness/token-server.js';
import { waitFor } from '../../harness/wait.js';

const USER_AGENT = 'regcred-operator (registry check)';
const robot = { username: 'robot', password: 'r0bot-Secret-Pa55' };
const SECRET_VALUES = [
  robot.password,
  'wrong-Pa55',
  'stranger-Pa55',
  'reader-Pa55',
  'pusher-Pa55',
  'rotated-wrong-Pa55',
];

let s: Scenario;
let basic: Registry;
let token: Registry;
let tokenServer: TokenServer;
let otherRealm: Registry;
let otherRealmServer: TokenServer;
const servers: Array<{ close(): void }> = [];

interface RegistryRow {
  server: string;
  state: string;
  reason?: string;
  message?: string;
  lastCheckTime?: string;
}

async function rows(cred: string): Promise<RegistryRow[]> {
  return (
    ((await s.cluster.getCredential(cred))?.status as { registries?: RegistryRow[] } | undefined)?.registries ?? []
  );
}

/** Waits until the status row of `server` has `state` (and `reason`), returns it. */
function waitForRow(cred: string, server: string, state: string, reason?: string): Promise<RegistryRow> {
  return waitFor(
    async () => {
      const row = (await rows(cred)).find((candidate) => candidate.server === server);
      return row && row.state === state && (reason === undefined || row.reason === reason) ? row : undefined;
    },
    { timeoutMs: 60_000, what: `${cred}: registry ${server} ${state} ${reason ?? ''}` },
  );
}

/** A RegistryCredential with one basicAuth entry for `server` (selecting no namespace unless `group`). */
async function credentialFor(
  prefix: string,
  server: string,
  source: string,
  verify: Record<string, unknown> = {},
  group = prefix,
): Promise<string> {
  return s.credential(prefix, {
    registries: [{ server, basicAuth: { secretName: source }, verify }],
    namespaceSelector: s.selectorWith({ group }),
  });
}

beforeAll(async () => {
  let tokenServerOf: TokenServer | undefined;
  [basic, token, otherRealm] = await Promise.all([
    startRegistry({ users: [robot] }),
    startRegistry({
      users: [{ username: 'pusher', password: 'pusher-Pa55' }],
      tokenAuth: async (tls) =>
        (tokenServerOf = await startTokenServer({
          dir: tls.dir,
          tlsCert: tls.cert,
          tlsKey: tls.key,
          users: [
            { username: 'pusher', password: 'pusher-Pa55', pull: ['*'], push: ['*'] },
            { username: 'reader', password: 'reader-Pa55', pull: ['regcred/probe'] },
            { username: 'stranger', password: 'stranger-Pa55', pull: [] },
          ],
        })),
    }),
    // a registry whose token service is named by another host name (localhost) than the registry's (127.0.0.1)
    startRegistry({
      users: [{ username: 'pusher', password: 'pusher-Pa55' }],
      tokenAuth: async (tls) =>
        (otherRealmServer = await startTokenServer({
          dir: tls.dir,
          tlsCert: tls.cert,
          tlsKey: tls.key,
          realmHost: 'localhost',
          users: [{ username: 'pusher', password: 'pusher-Pa55', pull: ['*'], push: ['*'] }],
        })),
    }),
  ]);
  tokenServer = tokenServerOf!;
  s = await startScenario('verify', { operatorArgs: ['--verify-registries', '--registry-check-timeout-seconds=20'] });
  const source = s.sourceNamespace;
  await s.cluster.createSecret(source, basicAuthSecret('robot', robot.username, robot.password));
  await s.cluster.createSecret(source, basicAuthSecret('wrong', robot.username, 'wrong-Pa55'));
  await s.cluster.createSecret(source, basicAuthSecret('reader', 'reader', 'reader-Pa55'));
  await s.cluster.createSecret(source, basicAuthSecret('stranger', 'stranger', 'stranger-Pa55'));
  await s.cluster.createSecret(source, basicAuthSecret('pusher', 'pusher', 'pusher-Pa55'));
  for (const [name, registry] of [
    ['basic-ca', basic],
    ['token-ca', token],
    ['other-ca', otherRealm],
  ] as const) {
    await s.cluster.createSecret(source, {
      metadata: { name },
      stringData: { 'ca.crt': await readFile(registry.caFile, 'utf8') },
    });
  }
}, 300_000);

afterAll(async () => {
  await s?.cleanup();
  for (const server of servers) server.close();
  for (const registry of [basic, token, otherRealm]) await registry?.stop();
  await tokenServer?.stop();
  await otherRealmServer?.stop();
}, 120_000);

test("Basic auth: Verified with the registry's CA; the status row, the condition, the metrics", async () => {
  const cred = await credentialFor('basic', basic.host, 'robot', {
    caSecretName: 'basic-ca',
    repository: 'regcred/probe',
  });
  const row = await waitForRow(cred, basic.host, 'Verified', 'Verified');
  expect(row.message).toContain('pull access to regcred/probe');
  expect(row.lastCheckTime).toMatch(/^\d{4}-\d\d-\d\dT/);
  const condition = await waitForCondition(s.cluster, cred, 'CredentialsVerified', { status: 'True' });
  expect(condition.message).toBe('1 of 1 registries verified');
  expect(await s.operator.metric('regcred_registry_verified', { credential: cred, server: basic.host })).toBe(1);
  expect(await s.operator.metric('regcred_registry_checks_total', { result: 'Verified' })).toBeGreaterThanOrEqual(1);
});

test.each([
  [
    'a wrong password',
    () => basic.host,
    'wrong',
    { caSecretName: 'basic-ca' },
    'Unauthorized',
    /refused the credential \(401/,
  ],
  [
    'a repository that does not exist',
    () => basic.host,
    'robot',
    { caSecretName: 'basic-ca', repository: 'no/such-repo' },
    'RepositoryNotFound',
    /repository no\/such-repo does not exist \(404: NAME_UNKNOWN/,
  ],
  [
    'a self-signed registry without caSecretName',
    () => basic.host,
    'robot',
    {},
    'TLSError',
    /x509: certificate signed by unknown authority/,
  ],
  [
    'token auth: a user without pull on the repository',
    () => token.host,
    'stranger',
    { caSecretName: 'token-ca', repository: 'regcred/probe' },
    'Forbidden',
    /repository regcred\/probe: access denied/,
  ],
  [
    'token auth: a wrong password at the token service',
    () => token.host,
    'wrong',
    { caSecretName: 'token-ca' },
    'Unauthorized',
    /401 from the token service/,
  ],
])('%s', async (what, server, source, verify, reason, message) => {
  const cred = await credentialFor(
    what
      .replace(/[^a-z]+/g, '-')
      .slice(0, 20)
      .replace(/-$/, ''),
    server(),
    source,
    verify,
  );
  const row = await waitForRow(cred, server(), 'Failed', reason);
  expect(row.message).toMatch(message);
  const condition = await waitForCondition(s.cluster, cred, 'CredentialsVerified', { status: 'False', reason });
  expect(condition.message).toContain(server());
  const events = await waitFor(
    async () => (await s.cluster.eventsFor(cred)).filter((e) => e.reason === 'CredentialCheckFailed'),
    { what: 'a CredentialCheckFailed Event' },
  );
  expect(events[0]).toMatchObject({ type: 'Warning' });
  expect(events[0].message).toContain(reason);
  // advisory: propagation does not care
  expect(await s.cluster.condition(cred, 'Ready')).toMatchObject({ status: 'True' });
});

test('token auth: a reader with pull on the repository is Verified', async () => {
  const cred = await credentialFor('reader', token.host, 'reader', {
    caSecretName: 'token-ca',
    repository: 'regcred/probe',
  });
  const row = await waitForRow(cred, token.host, 'Verified');
  expect(row.message).toMatch(/token issued by 127\.0\.0\.1:\d+; pull access to regcred\/probe/);
});

test('a token realm on another host: the credential is never sent there; Unknown', async () => {
  const before = otherRealmServer.requests.issued + otherRealmServer.requests.refused;
  const cred = await credentialFor('realm', otherRealm.host, 'pusher', { caSecretName: 'other-ca' });
  const row = await waitForRow(cred, otherRealm.host, 'Unknown', 'TokenRealmOnOtherHost');
  expect(row.message).toMatch(/sends clients to localhost:\d+ for tokens/);
  await waitForCondition(s.cluster, cred, 'CredentialsVerified', {
    status: 'Unknown',
    reason: 'TokenRealmOnOtherHost',
  });
  expect(otherRealmServer.requests.issued + otherRealmServer.requests.refused).toBe(before);
});

test('a port where nothing listens: Unreachable; an HTTPS server that is not a registry: NotARegistry', async () => {
  const [deadPort] = await freePorts(1);
  const notRegistry = https.createServer(
    { cert: await readFile(basic.caFile), key: await readFile(basic.keyFile) },
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>a web site</html>');
    },
  );
  servers.push(notRegistry);
  await new Promise<void>((resolve) => notRegistry.listen(0, '127.0.0.1', resolve));
  const webHost = `127.0.0.1:${(notRegistry.address() as AddressInfo).port}`;
  const dead = await credentialFor('dead', `127.0.0.1:${deadPort}`, 'robot', { caSecretName: 'basic-ca' });
  const web = await credentialFor('web', webHost, 'robot', { caSecretName: 'basic-ca' });
  expect((await waitForRow(dead, `127.0.0.1:${deadPort}`, 'Failed', 'Unreachable')).message).toContain(
    'connection refused',
  );
  expect((await waitForRow(web, webHost, 'Failed', 'NotARegistry')).message).toContain('is not a registry');
});

test('verify.enabled false: Skipped, never contacted', async () => {
  const before = await basic.requests(USER_AGENT);
  const cred = await credentialFor('skip', basic.host, 'robot', { enabled: false });
  const row = await waitForRow(cred, basic.host, 'Skipped', 'Disabled');
  expect(row.message).toContain('verify.enabled is false');
  await waitForCondition(s.cluster, cred, 'CredentialsVerified', { status: 'Unknown', reason: 'Disabled' });
  expect(await basic.requests(USER_AGENT)).toBe(before);
});

test('rotation: a bad password flips the condition within seconds, the fix flips it back; requests bounded', async () => {
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('rotating', robot.username, robot.password));
  const before = await basic.requests(USER_AGENT);
  const cred = await credentialFor('rotate', basic.host, 'rotating', { caSecretName: 'basic-ca' });
  await waitForCondition(s.cluster, cred, 'CredentialsVerified', { status: 'True' });
  const setPassword = async (password: string): Promise<void> => {
    await s.cluster.setPassword(s.sourceNamespace, 'rotating', password);
  };
  await setPassword('rotated-wrong-Pa55');
  await waitForCondition(s.cluster, cred, 'CredentialsVerified', { status: 'False', reason: 'Unauthorized' }, 30_000);
  await setPassword(robot.password);
  await waitForCondition(s.cluster, cred, 'CredentialsVerified', { status: 'True' }, 30_000);
  const recovered = await waitFor(
    async () => (await s.cluster.eventsFor(cred)).find((e) => e.reason === 'CredentialVerified'),
    {
      what: 'a CredentialVerified Event',
    },
  );
  expect(recovered.type).toBe('Normal');
  // Three credentials were seen (good, bad, good again): three checks of two requests each (/v2/
  // without, then with the credential), however often the credential key ran meanwhile.
  await waitFor(async () => (await basic.requests(USER_AGENT)) - before >= 6, {
    timeoutMs: 10_000,
    what: '6 registry requests',
  });
  expect((await basic.requests(USER_AGENT)) - before).toBe(6);
  // One check per distinct (server, credential), shared: a second RegistryCredential with the same
  // credential is verified without a single request of its own.
  const twin = await credentialFor('rotate-twin', basic.host, 'rotating', { caSecretName: 'basic-ca' });
  await waitForCondition(s.cluster, twin, 'CredentialsVerified', { status: 'True' });
  expect((await basic.requests(USER_AGENT)) - before).toBe(6);
});

test('a registry that accepts and never answers does not hold back propagation to a new namespace', async () => {
  const held: net.Socket[] = [];
  const hanging = net.createServer((socket) => held.push(socket)); // accepts, never answers
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  const hangHost = `127.0.0.1:${(hanging.address() as AddressInfo).port}`;
  try {
    const cred = await s.credential('hang', {
      registries: [
        { server: hangHost, basicAuth: { secretName: 'robot' } },
        { server: basic.host, basicAuth: { secretName: 'robot' }, verify: { caSecretName: 'basic-ca' } },
      ],
      namespaceSelector: s.selectorWith({ group: 'hang' }),
    });
    await waitFor(() => held.length > 0, { what: 'the check to connect to the hanging registry' });
    const ns = await s.namespace('hang', { group: 'hang' });
    await waitForSecret(s.cluster, ns, cred);
    await waitForPullSecrets(s.cluster, ns, 'default', [cred]);
    await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
    // ... while the check of the hanging registry is still waiting for an answer
    expect((await rows(cred)).find((row) => row.server === hangHost)).toMatchObject({
      state: 'Unknown',
      reason: 'Checking',
    });
    expect((await rows(cred)).find((row) => row.server === basic.host)).toMatchObject({ state: 'Verified' });
    // the registry goes away: the check ends, as Unreachable
    for (const socket of held) socket.destroy();
    hanging.close();
    await waitForRow(cred, hangHost, 'Failed', 'Unreachable');
  } finally {
    hanging.close();
    for (const socket of held) socket.destroy();
  }
});

test('no secret value in status, Events, logs or metrics', async () => {
  const texts: string[] = [await s.operator.logs(), await s.operator.metrics()];
  for (const name of (
    (await s.cluster.custom.listClusterCustomObject({
      group: 'regcred.io',
      version: 'v1alpha1',
      plural: 'registrycredentials',
    })) as { items: Array<{ metadata: { name: string } }> }
  ).items.map((item) => item.metadata.name)) {
    texts.push(
      JSON.stringify((await s.cluster.getCredential(name))?.status ?? {}),
      JSON.stringify(await s.cluster.eventsFor(name)),
    );
  }
  for (const value of SECRET_VALUES) for (const text of texts) expect(text).not.toContain(value);
});
