// harbor entries on the real control plane: the operator (a real process) creates robot accounts at
// Harbor's API v2.0 and writes them into every copy; skopeo pulls with a copy from a REAL registry
// (distribution with token auth, test/harness/token-server.ts). What stands in: Harbor's robot API
// (test/harness/harbor.ts), because Harbor's services cannot be built on this machine; each robot it
// creates is a real user of the registry with pull access to its projects, removed when deleted.
import type { V1Secret } from '@kubernetes/client-node';
import { authsOf } from '../harness/cluster.js';
import { type HarborStandIn, startHarborStandIn } from '../harness/harbor.js';
import { dockerConfigJson, type Registry } from '../harness/registry.js';
import { waitFor } from '../../harness/wait.js';
import { reportedSecrets, type Scenario, startScenario, waitForCondition, waitForSecret } from '../harness/scenario.js';
import { startTokenAuthRegistry, type TokenAuthRegistry } from '../harness/token-server.js';

const ADMIN = { username: 'admin', password: 'Harbor12345' };
const DEVELOPER = { username: 'developer', password: 'Developer12345' };

let registry: Registry;
let backend: TokenAuthRegistry | undefined;
let harbor: HarborStandIn;
let s: Scenario;

const adminSecret = (name: string, data: Record<string, string>): V1Secret => ({
  metadata: { name },
  type: 'Opaque',
  stringData: data,
});

beforeAll(async () => {
  backend = await startTokenAuthRegistry();
  registry = backend.registry;
  harbor = await startHarborStandIn({
    admin: ADMIN,
    others: [DEVELOPER],
    projects: ['regcred', 'payments'],
    tokenServer: backend.tokenServer,
  });
  s = await startScenario('harbor');
  await s.cluster.createSecret(s.sourceNamespace, adminSecret('harbor-admin', ADMIN));
  await s.cluster.createSecret(s.sourceNamespace, adminSecret('harbor-developer', DEVELOPER));
  await s.cluster.createSecret(s.sourceNamespace, adminSecret('harbor-no-password', { username: 'admin' }));
}, 300_000);

afterAll(async () => {
  try {
    await s?.cleanup();
  } finally {
    await harbor?.stop();
    await backend?.stop();
  }
});

const entry = (adminSecretName: string, projects: string[]) => ({
  server: registry.host,
  harbor: { url: harbor.url, adminSecretName, projects, duration: '30d' },
});

/** The robot a copy carries, once the copy exists and names a robot of the stand-in. */
async function robotOf(namespace: string, name: string) {
  const secret = await waitForSecret(s.cluster, namespace, name, (x) =>
    [...harbor.robots.values()].some((r) => r.name === authsOf(x)?.[registry.host]?.username),
  );
  const auth = authsOf(secret)![registry.host]!;
  return { robot: [...harbor.robots.values()].find((r) => r.name === auth.username)!, auth };
}

test('one robot per identity, pull-only on its projects, in every copy of every RegistryCredential; skopeo pulls with it', async () => {
  const foreign = harbor.addForeignRobot('ci-pusher', ['regcred']);
  const group = { case: 'create' };
  const namespaces = [await s.namespace('hb-a', group), await s.namespace('hb-b', group)];
  const first = await s.credential('hb-1', {
    registries: [entry('harbor-admin', ['regcred'])],
    namespaceSelector: s.selectorWith(group),
  });
  const second = await s.credential('hb-2', {
    registries: [entry('harbor-admin', ['regcred'])],
    namespaceSelector: s.selectorWith(group),
  });
  const carried = [];
  for (const ns of namespaces) for (const cred of [first, second]) carried.push(await robotOf(ns, cred));
  expect(new Set(carried.map((c) => c.robot.id)).size).toBe(1);
  const { robot, auth } = carried[0]!;
  expect(robot.name).toMatch(/^robot\$regcred-[0-9a-f]{8}-/);
  expect(robot.description).toContain('regcred-operator');
  expect(robot.level).toBe('system');
  expect(robot.duration).toBe(30);
  expect(robot.projects).toEqual(['regcred']);
  for (const cred of [first, second]) await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  const pull = await registry.inspect(dockerConfigJson(registry.host, auth.username, auth.password));
  expect(pull.ok).toBe(true);
  process.stdout.write(
    `[harbor sharing] 2 RegistryCredentials x 2 namespaces: ${harbor.requests.POST ?? 0} robot(s) created, ` +
      `${harbor.requests.GET ?? 0} listing(s)\n`,
  );
  expect(harbor.requests.POST).toBe(1);
  expect(harbor.robots.get(foreign.id)).toBeDefined();
});

test('a robot deleted by hand is created again and every copy gets the new one', async () => {
  const group = { case: 'by-hand' };
  const ns = await s.namespace('hb-hand', group);
  const cred = await s.credential('hb-hand', {
    registries: [entry('harbor-admin', ['payments'])],
    namespaceSelector: s.selectorWith(group),
    refreshInterval: '1m',
  });
  const before = await robotOf(ns, cred);
  harbor.deleteByHand(before.robot.id);
  const after = await waitForSecret(
    s.cluster,
    ns,
    cred,
    (x) => {
      const username = authsOf(x)?.[registry.host]?.username;
      return username !== before.auth.username && [...harbor.robots.values()].some((r) => r.name === username);
    },
    180_000,
  );
  expect(authsOf(after)![registry.host]!.username).toMatch(/^robot\$regcred-/);
}, 240_000);

test.each([
  ['an unknown project', 'harbor-admin', ['nosuchproject'], 'HarborProjectNotFound', /project nosuchproject not found/],
  [
    'an admin without the right to manage robots (403)',
    'harbor-developer',
    ['regcred'],
    'HarborForbidden',
    /FORBIDDEN/,
  ],
  [
    'an admin Secret without a password',
    'harbor-no-password',
    ['regcred'],
    'InvalidAdminSecret',
    /non-empty keys.*password/,
  ],
])('%s: a clear condition, no robot created, nothing deleted', async (_name, secretName, projects, reason, text) => {
  const robotsBefore = harbor.robots.size;
  const group = { case: `bad-${reason.toLowerCase()}` };
  await s.namespace(`hb-${reason.toLowerCase().slice(0, 20)}`, group);
  const cred = await s.credential(`hb-${reason.toLowerCase().slice(0, 20)}`, {
    registries: [entry(secretName, projects)],
    namespaceSelector: s.selectorWith(group),
  });
  const condition = await waitForCondition(s.cluster, cred, 'Ready', { status: 'False' });
  const status = (await s.cluster.getCredential(cred))!.status as {
    conditions?: Array<{ reason?: string; message?: string }>;
  };
  const messages = JSON.stringify(status);
  expect(messages).toContain(reason);
  expect(messages).toMatch(text);
  expect(messages).not.toContain(ADMIN.password);
  expect(messages).not.toContain(DEVELOPER.password);
  expect(condition.status).toBe('False');
  expect(harbor.robots.size).toBe(robotsBefore);
});

/** Waits until `check` holds for the stand-in's robots. */
function waitForRobots(check: () => boolean, what: string, timeoutMs = 120_000): Promise<true> {
  return waitFor(async () => check(), { timeoutMs, what });
}

test('rotation with Harbor down at the renewal point: copies keep the old robot, the condition says why, the retry rotates; the old robot is deleted only once every copy carries the new one; deleting the RegistryCredential deletes its robots', async () => {
  // 1d robots last 60 s here: renewed at 40 s, expired at 60 s.
  harbor.secondsPerDay = 60;
  const group = { case: 'rotation' };
  const namespaces = [await s.namespace('hb-rot-a', group), await s.namespace('hb-rot-b', group)];
  const cred = await s.credential('hb-rot', {
    registries: [
      {
        ...entry('harbor-admin', ['regcred']),
        harbor: { ...entry('harbor-admin', ['regcred']).harbor, duration: '1d' },
      },
    ],
    namespaceSelector: s.selectorWith(group),
  });
  const carriedAtDelete: string[] = [];
  harbor.onDelete = async (robot) => {
    for (const ns of namespaces) {
      const copy = await s.cluster.getSecret(ns, cred);
      if (authsOf(copy)?.[registry.host]?.username === robot.name) carriedAtDelete.push(`${ns}: ${robot.name}`);
    }
  };
  try {
    const first = [];
    for (const ns of namespaces) first.push(await robotOf(ns, cred));
    const old = first[0]!.robot;
    expect(first[1]!.robot.id).toBe(old.id);
    const created = harbor.created;
    harbor.down = true;
    await waitForCondition(s.cluster, cred, 'SourcesReady', { status: 'False', reason: 'HarborUnavailable' }, 60_000);
    await waitFor(
      async () =>
        (await s.cluster.eventsFor(cred)).some((e) => e.type === 'Warning' && e.reason === 'HarborUnavailable'),
      { timeoutMs: 30_000, what: 'a Warning Event HarborUnavailable' },
    );
    for (const ns of namespaces) {
      const copy = await s.cluster.getSecret(ns, cred);
      expect(authsOf(copy)![registry.host]!.username).toBe(old.name);
    }
    expect(harbor.robots.has(old.id)).toBe(true);
    const stillPulls = await registry.inspect(dockerConfigJson(registry.host, old.name, old.secret));
    expect(stillPulls.ok).toBe(true);
    harbor.down = false;
    for (const ns of namespaces)
      await waitForSecret(s.cluster, ns, cred, (x) => authsOf(x)?.[registry.host]?.username !== old.name, 60_000);
    await waitForRobots(() => !harbor.robots.has(old.id), `old robot ${old.name} to be deleted`);
    await waitForCondition(s.cluster, cred, 'SourcesReady', { status: 'True' });
    expect(carriedAtDelete).toEqual([]);
    const current = await robotOf(namespaces[0]!, cred);
    const pull = await registry.inspect(dockerConfigJson(registry.host, current.auth.username, current.auth.password));
    expect(pull.ok).toBe(true);
    const prefix = current.robot.name.replace(/[0-9a-z]+$/, '');
    process.stdout.write(
      `[harbor rotation] ${harbor.created - created} robot(s) created in the rotation; requests of the ` +
        `identity, 503s included: ${JSON.stringify(harbor.requestsByIdentity[prefix.replace(/^robot\$/, '')])}\n`,
    );
    await s.cluster.deleteCredential(cred);
    await waitForRobots(
      () => ![...harbor.robots.values()].some((r) => r.name.startsWith(prefix)),
      'the RegistryCredential robots to be deleted',
      60_000,
    );
  } finally {
    harbor.down = false;
    harbor.onDelete = undefined;
    harbor.secondsPerDay = 86_400;
  }
}, 240_000);

test('a restart reuses the robot the copies carry and revokes an orphan left between a create and its revoke', async () => {
  const group = { case: 'restart' };
  const ns = await s.namespace('hb-restart', group);
  const cred = await s.credential('hb-restart', {
    registries: [entry('harbor-admin', ['payments', 'regcred'])],
    namespaceSelector: s.selectorWith(group),
  });
  const before = await robotOf(ns, cred);
  // What a process stopped after a create and before the revoke leaves: a robot of the identity no copy carries.
  const prefix = before.robot.name.replace(/^robot\$/, '').replace(/[0-9a-z]+$/, '');
  const orphan = harbor.addForeignRobot(`${prefix}orphan`, ['payments', 'regcred'], before.robot.description);
  const ofIdentity = () =>
    [...harbor.robots.values()].filter((r) => r.name.startsWith(`robot$${prefix}`)).map((r) => r.id);
  await s.restartOperator();
  await waitForRobots(() => !harbor.robots.has(orphan.id), `orphan ${orphan.name} to be revoked`);
  const after = await s.cluster.getSecret(ns, cred);
  expect(authsOf(after)![registry.host]!.username).toBe(before.auth.username);
  expect(harbor.robots.has(before.robot.id)).toBe(true);
  expect(ofIdentity()).toEqual([before.robot.id]); // reused: nothing minted, nothing leaked
  process.stdout.write(
    `[harbor restart] requests of the identity over its life (create, restart, orphan revoked): ` +
      `${JSON.stringify(harbor.requestsByIdentity[prefix])}; ` +
      `all identities ${JSON.stringify(harbor.requestsByIdentity)}\n`,
  );
}, 240_000);

test('no admin password or robot secret in the log, metrics, Events or status', async () => {
  expect(harbor.issued.length).toBeGreaterThan(1);
  expect(await reportedSecrets(s, [ADMIN.password, DEVELOPER.password, ...harbor.issued])).toEqual([]);
});
