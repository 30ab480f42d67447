// quay entries on the real control plane: robot account federation with the operator's own
// ServiceAccount token. What is real: the operator process, running as a ServiceAccount (a
// SelfSubjectReview tells it which, a TokenRequest with the Quay host as audience gives it the
// token), the API server (which also checks that token, by TokenReview, for the stand-in), the
// registry (docker-registry with token auth) and skopeo. What stands in: Quay's
// /oauth2/federation/robot/token (test/harness/quay.ts, HTTPS on loopback at the entry's server),
// whose robot tokens are users of the registry until they expire. Quay serves its API and its
// registry on one host; here they are two, so the pull re-keys the copy's entry onto the registry.
import type { V1Secret } from '@kubernetes/client-node';
import { authsOf, uniqueSuffix } from '../harness/cluster.js';
import { type QuayStandIn, startQuayStandIn } from '../harness/quay.js';
import type { Registry } from '../harness/registry.js';
import {
  reportedSecrets,
  type Scenario,
  serviceAccountKubeconfig,
  startScenario,
  waitForCondition,
  waitForSecret,
} from '../harness/scenario.js';
import { startTokenAuthRegistry, type TokenAuthRegistry, type TokenServer } from '../harness/token-server.js';
import { kubectl } from '../../harness/controlplane.js';
import { waitFor } from '../../harness/wait.js';

const OPERATOR_NS = `quay-op-${uniqueSuffix()}`;
const OPERATOR_SA = 'regcred-operator';
const SUBJECT = `system:serviceaccount:${OPERATOR_NS}:${OPERATOR_SA}`;
const ROBOT = 'payments+puller';

let registry: Registry;
let tokenServer: TokenServer;
let backend: TokenAuthRegistry | undefined;
let quay: QuayStandIn;
let issuer: string;
let s: Scenario;
beforeAll(async () => {
  backend = await startTokenAuthRegistry();
  ({ registry, tokenServer } = backend);
  quay = await startQuayStandIn({ tls: backend.tls, tokenServer });
  const discovery = await kubectl(['get', '--raw', '/.well-known/openid-configuration']);
  issuer = (JSON.parse(discovery.stdout) as { issuer: string }).issuer;
  const trusted = { issuer, subject: SUBJECT, audiences: [quay.host] };
  quay.addRobot(ROBOT, [trusted], ['regcred/probe']);
  quay.addRobot('payments+renew', [trusted], ['regcred/probe']);
  quay.addRobot('payments+plain', [], ['regcred/probe']);
  quay.addRobot('payments+other', [{ ...trusted, subject: 'system:serviceaccount:ci:builder' }], ['regcred/probe']);
  quay.addRobot('payments+aud', [{ ...trusted, audiences: ['quay.io'] }], ['regcred/probe']);
  await kubectl(['create', 'namespace', OPERATOR_NS]);
  const kubeconfig = await serviceAccountKubeconfig(OPERATOR_NS, OPERATOR_SA);
  s = await startScenario('quay', {
    operatorEnv: { NODE_EXTRA_CA_CERTS: registry.caFile },
    operatorIdentity: { kubeconfig, user: SUBJECT },
  });
}, 120_000);
afterAll(async () => {
  try {
    await s?.cleanup();
  } finally {
    await kubectl(['delete', 'namespace', OPERATOR_NS, '--wait=false']);
    await quay?.stop();
    await backend?.stop();
  }
});

function holds(ns: string, name: string, robot: string) {
  return waitForSecret(s.cluster, ns, name, (secret) => {
    const entry = authsOf(secret)?.[quay.host];
    const latest = quay.tokens(robot).at(-1)?.token;
    return latest !== undefined && entry?.username === robot && entry.password === latest;
  });
}

/** skopeo against the real registry with the copy's entry for the Quay host. */
async function pull(secret: V1Secret) {
  const entry = authsOf(secret)![quay.host];
  const result = await registry.inspect(JSON.stringify({ auths: { [registry.host]: entry } }));
  return { ok: result.ok, unauthorized: result.unauthorized };
}

test("a federated robot: the operator's own ServiceAccount token (checked by TokenReview) for one robot token, shared by two RegistryCredentials", async () => {
  const group = { case: 'robot' };
  const namespaces = [await s.namespace('robot-a', group), await s.namespace('robot-b', group)];
  const creds = [
    await s.credential('robot-1', {
      registries: [{ server: quay.host, quay: { robotAccount: ROBOT } }],
      namespaceSelector: s.selectorWith(group),
    }),
    await s.credential('robot-2', {
      registries: [{ server: quay.host, quay: { robotAccount: ROBOT } }],
      namespaceSelector: s.selectorWith(group),
    }),
  ];
  const copies = [];
  for (const cred of creds) for (const ns of namespaces) copies.push(await holds(ns, cred, ROBOT));
  for (const cred of creds) await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  expect(quay.exchanges(ROBOT)).toBe(1);
  expect(quay.reviewed).toEqual([SUBJECT]);
  expect(await pull(copies[2]!)).toEqual({ ok: true, unauthorized: false });
  const status = (await s.cluster.getCredential(creds[0]!))!.status as { credentialsExpireAt?: string };
  expect(Date.parse(status.credentialsExpireAt!)).toBe(quay.tokens(ROBOT)[0]!.expiresAt);
});

test('renewal: a short-lived robot token is renewed before it expires, and the copies follow', async () => {
  quay.setTokenLifetime(20);
  try {
    const group = { case: 'renew' };
    const ns = await s.namespace('renew', group);
    const cred = await s.credential('renew', {
      registries: [{ server: quay.host, quay: { robotAccount: 'payments+renew' } }],
      namespaceSelector: s.selectorWith(group),
      refreshInterval: '1m',
    });
    await holds(ns, cred, 'payments+renew');
    await waitFor(() => quay.tokens('payments+renew').length >= 2, { timeoutMs: 60_000, what: 'a renewal' });
    const renewed = await holds(ns, cred, 'payments+renew');
    const [first, second] = quay.tokens('payments+renew');
    expect(second!.expiresAt - 20_000).toBeLessThan(first!.expiresAt);
    expect(await pull(renewed)).toEqual({ ok: true, unauthorized: false });
  } finally {
    quay.setTokenLifetime(3600);
  }
});

test.each<[string, string, string]>([
  ['a robot without federation', 'payments+plain', 'Robot does not have federated login configured'],
  ['a robot trusting another ServiceAccount', 'payments+other', 'Token does not match robot'],
  ['a robot whose federation allows another audience', 'payments+aud', 'Token audience is not allowed for this robot'],
])('%s: QuayFederationRefused as condition and Warning Event, no Secret, no token', async (_label, robot, said) => {
  const tag = robot.split('+')[1]!;
  const group = { case: `refused-${tag}` };
  const ns = await s.namespace(`refused-${tag}`, group);
  const cred = await s.credential(`refused-${tag}`, {
    registries: [{ server: quay.host, quay: { robotAccount: robot } }],
    namespaceSelector: s.selectorWith(group),
  });
  const condition = await waitForCondition(s.cluster, cred, 'SourcesReady', {
    status: 'False',
    reason: 'QuayFederationRefused',
  });
  expect(condition.message).toContain(`Quay answered HTTP 401: ${said}`);
  const event = await waitFor(
    async () =>
      (await s.cluster.eventsFor(cred)).find((e) => e.type === 'Warning' && e.reason === 'QuayFederationRefused'),
    { what: 'a QuayFederationRefused Event' },
  );
  expect(event.message).toContain(said);
  expect(event.message).not.toMatch(/eyJ/);
  expect(quay.tokens(robot)).toEqual([]);
  expect(await s.cluster.getSecret(ns, cred)).toBeUndefined();
});

test('no ServiceAccount token or robot token in the log, metrics, Events or status', async () => {
  const secrets = [...quay.presented, ...[ROBOT, 'payments+renew'].flatMap((r) => quay.tokens(r).map((t) => t.token))];
  expect(quay.presented.length).toBeGreaterThan(0);
  expect(await reportedSecrets(s, secrets)).toEqual([]);
});
