// Delivery through the kubelet (spec.delivery.kubelet), on the real control plane: the real node
// plugin binary asks the real operator's endpoint with ServiceAccount tokens minted by the real API
// server as the kubelet mints them (audience kubelet.regcred.io, bound to a Pod), and the operator
// verifies them with a real TokenReview. What it hands out is then used by skopeo against a real
// registry (TLS + htpasswd). The e2e suite (test/e2e/kubelet-delivery.test.ts) does the same
// through a real kubelet.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { auditMark, writesSince } from '../harness/audit.js';
import { basicAuthSecret } from '../harness/cluster.js';
import { freePorts } from '../../harness/controlplane.js';
import {
  KUBELET_AUDIENCE,
  mintToken,
  pluginBinary,
  providerRequest,
  runPlugin,
  writePluginConfig,
} from '../../harness/kubelet-plugin.js';
import { dockerConfigJson, type Registry, startRegistry } from '../harness/registry.js';
import { type Scenario, startScenario, waitForCondition } from '../harness/scenario.js';
import { createCertificateAuthority, issueServerCertificate } from '../../harness/tls.js';
import { waitFor } from '../../harness/wait.js';

const user = { username: 'puller', password: randomBytes(18).toString('base64url') };
const rotated = { username: 'rotated', password: randomBytes(18).toString('base64url') };

let s: Scenario;
let registry: Registry;
let pluginConfig: string;
let endpoint: string;
let caFile: string;
let ns: string;
let otherNs: string;
let cred: string;

beforeAll(async () => {
  await pluginBinary();
  registry = await startRegistry({ users: [user, rotated] });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'regcred-kubelet-'));
  const ca = await createCertificateAuthority(path.join(dir, 'ca'));
  const serving = await issueServerCertificate(ca, 'endpoint', [
    'regcred-operator-kubelet.regcred-system.svc',
    '127.0.0.1',
  ]);
  await writeFile(path.join(dir, 'tls.crt'), serving.cert);
  await writeFile(path.join(dir, 'tls.key'), serving.key);
  const [port] = await freePorts(1);
  endpoint = `https://127.0.0.1:${port}`;
  caFile = ca.caFile;
  s = await startScenario('kubelet', {
    operatorArgs: [
      ...['--kubelet-bind-address', `127.0.0.1:${port}`],
      ...['--kubelet-tls-cert-file', path.join(dir, 'tls.crt'), '--kubelet-tls-key-file', path.join(dir, 'tls.key')],
      ...['--kubelet-cache-seconds', '120'],
    ],
  });
  pluginConfig = await writePluginConfig(path.join(dir, 'node'), [endpoint], caFile);
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('kubelet-pull', user.username, user.password));
  ns = await s.namespace('covered', { kubelet: 'yes' });
  otherNs = await s.namespace('other');
  for (const namespace of [ns, otherNs])
    for (const sa of ['web', 'builder']) await s.cluster.createServiceAccount(namespace, sa);
  cred = await s.credential('kubelet', {
    registries: [{ server: registry.host, basicAuth: { secretName: 'kubelet-pull' }, verify: { enabled: false } }],
    namespaceSelector: s.selectorWith({ kubelet: 'yes' }),
    serviceAccounts: ['web'],
    delivery: { secrets: false, kubelet: true },
  });
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
});
afterAll(async () => {
  await s?.cleanup();
  await registry?.stop();
});

/** A Pod of `serviceAccount` (never scheduled: the token only needs it to exist) and a token bound to it. */
async function podToken(namespace: string, serviceAccount: string, audience = KUBELET_AUDIENCE) {
  const pod = `p-${randomBytes(4).toString('hex')}`;
  await s.cluster.createPod(namespace, {
    metadata: { name: pod },
    spec: { serviceAccountName: serviceAccount, containers: [{ name: 'c', image: registry.image }] },
  });
  return { pod, token: await mintToken(namespace, serviceAccount, { audience, pod }) };
}

test('a Pod of a selected ServiceAccount gets the credential, which the registry accepts; nothing is written into the namespaces', async () => {
  const mark = await auditMark();
  const { token } = await podToken(ns, 'web');
  const answer = await runPlugin(pluginConfig, providerRequest(registry.image, token));
  expect({ code: answer.code, stderr: answer.stderr }).toEqual({ code: 0, stderr: '' });
  expect(answer.response?.cacheKeyType).toBe('Registry');
  expect(answer.response?.cacheDuration).toBe('120s');
  const entry = answer.response!.auth[registry.host];
  expect({ username: entry?.username, passwordMatches: entry?.password === user.password }).toEqual({
    username: user.username,
    passwordMatches: true,
  });
  // What the kubelet was told works against the real registry.
  expect((await registry.inspect(dockerConfigJson(registry.host, entry!.username, entry!.password))).ok).toBe(true);
  // Secretless: no copy and no ServiceAccount entry, and the operator wrote no Secret anywhere.
  expect(await s.cluster.getSecret(ns, cred)).toBeUndefined();
  expect(await s.cluster.pullSecretNames(ns, 'web')).toEqual([]);
  const writes = await writesSince(mark, s.operator.user);
  expect(
    writes.filter((w) => w.objectRef?.resource === 'secrets' || w.objectRef?.resource === 'serviceaccounts'),
  ).toEqual([]);
  const status = await waitFor(
    async () => {
      const st = (await s.cluster.getCredential(cred))?.status as {
        kubelet?: { served: number; registries?: unknown[] };
      };
      return st?.kubelet && st.kubelet.served >= 1 ? st.kubelet : undefined;
    },
    { timeoutMs: 90_000, what: 'status.kubelet.served >= 1' },
  );
  expect(status.registries).toEqual([expect.objectContaining({ server: registry.host })]);
});

test.each([
  ['another ServiceAccount of the same namespace', () => podToken(ns, 'builder'), 'ServiceAccountNotSelected'],
  ['a ServiceAccount of a namespace that is not selected', () => podToken(otherNs, 'web'), 'NamespaceNotSelected'],
])('%s gets no credentials (the kubelet then tries its other sources)', async (_name, token, reason) => {
  const answer = await runPlugin(pluginConfig, providerRequest(registry.image, (await token()).token));
  expect(answer.code).toBe(0);
  expect(answer.response?.auth).toEqual({});
  const metrics = await s.operator.metrics();
  expect(metrics).toContain(`regcred_kubelet_requests_total{result="none",reason="${reason}"}`);
});

test.each<[string, () => Promise<unknown>, string]>([
  ['no token', async () => providerRequest(registry.image), 'NoToken'],
  [
    'a token for another audience',
    async () => providerRequest(registry.image, (await podToken(ns, 'web', 'https://kubernetes.default.svc')).token),
    'WrongAudience',
  ],
  [
    'an expired token (a real token with its exp moved into the past: refused before any TokenReview)',
    async () => {
      const [header, payload] = (await podToken(ns, 'web')).token.split('.');
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
      const expired = Buffer.from(JSON.stringify({ ...claims, exp: Math.floor(Date.now() / 1000) - 60 })).toString(
        'base64url',
      );
      return providerRequest(registry.image, `${header}.${expired}.${'A'.repeat(43)}`);
    },
    'TokenExpired',
  ],
  ['a token bound to no Pod', async () => providerRequest(registry.image, await mintToken(ns, 'web')), 'NotBoundToPod'],
  [
    'a token of a deleted Pod',
    async () => {
      const { pod, token } = await podToken(ns, 'web');
      await s.cluster.deletePod(ns, pod);
      await waitFor(async () => !(await s.cluster.getPod(ns, pod)), { timeoutMs: 60_000, what: `Pod ${pod} gone` });
      return providerRequest(registry.image, token);
    },
    'InvalidToken',
  ],
  ['a token that is not a JWT', async () => providerRequest(registry.image, 'not-a-token'), 'MalformedToken'],
  ['malformed JSON', async () => '{"apiVersion":', 'MalformedRequest'],
  [
    'a request of another API version',
    async () => ({ ...providerRequest(registry.image), apiVersion: 'v0' }),
    'MalformedRequest',
  ],
])('%s is refused with its reason, nothing served', async (_name, request, reason) => {
  const answer = await runPlugin(pluginConfig, await request());
  expect(answer.code).toBe(1);
  expect(answer.stdout).toBe('');
  expect(answer.stderr).toContain(`(40`);
  expect(answer.stderr).toContain(reason);
});

test('an oversized request is refused by the plugin and by the endpoint', async () => {
  const big = providerRequest(registry.image, 'x'.repeat(70 * 1024));
  const answer = await runPlugin(pluginConfig, big);
  expect(answer.code).toBe(1);
  expect(answer.stderr).toContain('larger than');
  const status = await new Promise<number>((resolve, reject) => {
    const body = JSON.stringify(big);
    const req = https.request(
      `${endpoint}/v1/credentials`,
      {
        method: 'POST',
        ca: [registry.caFile],
        rejectUnauthorized: false,
        headers: { 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
  expect(status).toBe(413);
});

test('rotation: a changed source Secret is what the next request gets', async () => {
  const secret = (await s.cluster.getSecret(s.sourceNamespace, 'kubelet-pull'))!;
  await s.cluster.replaceSecret({
    ...secret,
    data: undefined,
    stringData: { username: rotated.username, password: rotated.password },
  });
  const { token } = await podToken(ns, 'web');
  await waitFor(
    async () => {
      const answer = await runPlugin(pluginConfig, providerRequest(registry.image, token));
      return answer.response?.auth[registry.host]?.password === rotated.password;
    },
    { timeoutMs: 30_000, what: 'the rotated password to be served' },
  );
});

test('delivery.kubelet: false stops serving at once', async () => {
  const before = await podToken(ns, 'web');
  await s.cluster.patchCredentialSpec(cred, { delivery: { secrets: true, kubelet: false } });
  await waitFor(
    async () => {
      const answer = await runPlugin(pluginConfig, providerRequest(registry.image, before.token));
      return answer.code === 0 && Object.keys(answer.response!.auth).length === 0;
    },
    { timeoutMs: 30_000, what: 'no credentials served once delivery.kubelet is false' },
  );
  await s.cluster.patchCredentialSpec(cred, { delivery: { secrets: false, kubelet: true } });
});

test('the log names reasons and Pods, never a token or a password', async () => {
  const logs = await readFile(s.operator.logPath, 'utf8');
  expect(logs).toContain('kubelet request served');
  expect(logs).toContain('kubelet request refused');
  for (const secretValue of [user.password, rotated.password]) expect(logs.includes(secretValue)).toBe(false);
  expect(/eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}/.test(logs)).toBe(false);
});
