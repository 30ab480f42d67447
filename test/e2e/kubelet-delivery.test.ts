// Secretless pulls on the real node: the kubelet (v1.35, KEP-4412 on) runs the real
// regcred-kubelet-plugin, configured by the plugin's own installer (kubelet-node.ts), with the Pod's
// ServiceAccount token; the operator's endpoint checks the token with a TokenReview and answers from
// the RegistryCredential's selection; containerd pulls from real private registries (TLS with
// htpasswd, and a Bearer-token registry). Nothing is written into the Pods' namespaces.
//
// The node also runs KEP-2535 (beta, on in v1.35) with every registry image checked
// (node.ts: NeverVerifyAllowlistedImages, only the harness's own preloaded images exempt), which is
// what makes a removed credential mean "cannot start" even for an image already on the node.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { auditMark, writesSince } from '../harness/audit.js';
import { basicAuthSecret } from '../harness/cluster.js';
import { kubectl } from '../../harness/controlplane.js';
import { brokenFix, doctor } from '../harness/doctor.js';
import type { KubeletDeliveryEnv } from '../../harness/kubelet-node.js';
import { trustRegistry } from '../harness/node.js';
import { dockerConfigJson, type Registry, type RegistryUser, startRegistry } from '../harness/registry.js';
import {
  passwordFor,
  type Scenario,
  startScenario,
  waitForCondition,
  waitForPullSecrets,
  waitForSecret,
  waitForSecretGone,
} from '../harness/scenario.js';
import { startTokenServer, type TokenServer } from '../harness/token-server.js';
import { waitFor } from '../../harness/wait.js';
import { appImageLayout, nodeEnv, podPullSecrets, Workloads } from '../harness/workloads.js';

/** The operator's cache bound for the kubelet (--kubelet-cache-seconds): how late a rotation may arrive. */
const CACHE_SECONDS = 60;
const puller: RegistryUser = { username: 'puller', password: randomBytes(12).toString('base64url') };
const tokenUser: RegistryUser = { username: 'token-puller', password: randomBytes(12).toString('base64url') };
const carol: RegistryUser = { username: 'carol', password: randomBytes(12).toString('base64url') };
const carolRotated: RegistryUser = { username: 'carol', password: randomBytes(12).toString('base64url') };
const dave: RegistryUser = { username: 'dave', password: randomBytes(12).toString('base64url') };
const daveRotated: RegistryUser = { username: 'dave', password: randomBytes(12).toString('base64url') };
const SECRET_VALUES = [puller, tokenUser, carol, carolRotated, dave, daveRotated].map((u) => u.password);

let s: Scenario;
let w: Workloads;
let kd: KubeletDeliveryEnv;
/** TLS + htpasswd, on a port the node's provider asks for. */
let basic: Registry;
/** Bearer tokens from the project's token server, on a port the node's provider asks for. */
let bearer: Registry;
/** For rotation, on a port the node's provider asks for. */
let rotating: Registry;
/** A registry the provider is not asked for: Secret delivery only (the KEP-2535 checks). */
let secretOnly: Registry;
const registries: Registry[] = [];
let tokenServer: TokenServer | undefined;
let ns: string;
let cred: string;
let mark: number;

async function privateRegistry(
  port: number | undefined,
  users: RegistryUser[],
  repository: string,
  tokenAuth?: Parameters<typeof startRegistry>[0]['tokenAuth'],
): Promise<Registry> {
  const node = nodeEnv();
  const registry = await startRegistry({ users, address: node.gateway, port, tokenAuth });
  registries.push(registry);
  await trustRegistry(node, registry.host, registry.caFile);
  await registry.push(await appImageLayout(repository), '1', repository);
  return registry;
}

/** The node RBAC deploy/ ships (the chart renders the same): kubelets may request tokens for the audience. */
const NODE_RBAC = fileURLToPath(new URL('../../deploy/components/kubelet-delivery/node-rbac.yaml', import.meta.url));

beforeAll(async () => {
  w = new Workloads();
  const node = nodeEnv();
  if (!node.kubeletDelivery) throw new Error('the e2e node was started without kubelet delivery (e2e-setup.ts)');
  kd = node.kubeletDelivery;
  const rbac = await kubectl(['apply', '-f', NODE_RBAC]);
  if (rbac.code !== 0) throw new Error(`applying ${NODE_RBAC}: ${rbac.stderr}`);
  const [basicPort, bearerPort, rotatingPort] = kd.registryPorts;
  [basic, bearer, rotating, secretOnly] = await Promise.all([
    privateRegistry(basicPort, [puller], 'private/app:1'),
    privateRegistry(
      bearerPort,
      [{ username: 'pusher', password: 'pusher-Pa55' }],
      'bearer/app:1',
      async (tls) =>
        (tokenServer = await startTokenServer({
          dir: tls.dir,
          tlsCert: tls.cert,
          tlsKey: tls.key,
          host: node.gateway,
          users: [
            { username: 'pusher', password: 'pusher-Pa55', pull: ['*'], push: ['*'] },
            { ...tokenUser, pull: ['bearer/app'] },
          ],
        })),
    ),
    privateRegistry(rotatingPort, [carol], 'rotating/app:1'),
    privateRegistry(undefined, [dave], 'secret/app:1'),
  ]);
  s = await startScenario('kubelet-e2e', {
    operatorArgs: [
      ...['--kubelet-bind-address', kd.bindAddress],
      ...['--kubelet-tls-cert-file', kd.certFile, '--kubelet-tls-key-file', kd.keyFile],
      ...['--kubelet-cache-seconds', String(CACHE_SECONDS)],
    ],
  });
  const src = s.sourceNamespace;
  await s.cluster.createSecret(src, basicAuthSecret('basic', puller.username, puller.password));
  await s.cluster.createSecret(src, basicAuthSecret('bearer', tokenUser.username, tokenUser.password));
  await s.cluster.createSecret(src, basicAuthSecret('rotating', carol.username, carol.password));
  await s.cluster.createSecret(src, basicAuthSecret('secret-only', dave.username, dave.password));
  mark = await auditMark();
  ns = await s.namespace('secretless', { delivery: 'kubelet' });
  for (const sa of ['web', 'builder', 'api']) await s.cluster.createServiceAccount(ns, sa);
  cred = await s.credential('secretless', {
    registries: [
      { server: basic.host, basicAuth: { secretName: 'basic' } },
      { server: bearer.host, basicAuth: { secretName: 'bearer' } },
      { server: rotating.host, basicAuth: { secretName: 'rotating' } },
    ],
    namespaceSelector: s.selectorWith({ delivery: 'kubelet' }),
    serviceAccounts: ['web', 'api'],
    delivery: { secrets: false, kubelet: true },
  });
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' }, 120_000);
}, 600_000);

afterAll(async () => {
  await s?.cleanup();
  for (const r of registries) await r.stop();
  await tokenServer?.stop();
  await kubectl(['delete', '-f', NODE_RBAC, '--ignore-not-found']);
}, 300_000);

test('a Pod of a selected ServiceAccount pulls from a TLS registry with basic auth, with no pull secret anywhere', async () => {
  await w.createPod(ns, 'web-basic', [`${basic.host}/private/app:1`], 'web');
  const pod = await w.waitForRunning(ns, 'web-basic');
  expect(podPullSecrets(pod)).toEqual([]);
  await w.waitForEvent(ns, 'web-basic', 'Pulled', /Successfully pulled image/);
  // The operator counted it, per registry, with no value anywhere in status.
  const kubelet = await waitFor(
    async () => {
      const st = (await s.cluster.getCredential(cred))?.status as {
        kubelet?: { served: number; registries?: Array<{ server: string; served: number }> };
      };
      return st?.kubelet?.registries?.some((r) => r.server === basic.host && r.served >= 1) ? st.kubelet : undefined;
    },
    { timeoutMs: 120_000, what: 'status.kubelet to count the pull from the basic-auth registry' },
  );
  expect(JSON.stringify(kubelet)).not.toContain(puller.password);
  // doctor sees the same: the RegistryCredential that serves web, and the node's provider at work.
  const report = await doctor(['pod', 'web-basic', '-n', ns]);
  expect({ code: report.code, verdict: report.json.diagnoses[0].verdict }).toEqual({ code: 0, verdict: 'ok' });
  const step = report.json.diagnoses[0].steps.find((candidate) => candidate.id === 'kubelet');
  expect(step?.details.join('\n')).toMatch(/provider configured; regcred-kubelet-plugin ran [1-9]\d* time/);
});

test('a Pod of a selected ServiceAccount pulls from a Bearer-token registry', async () => {
  const issuedBefore = tokenServer!.requests.issued;
  await w.createPod(ns, 'web-bearer', [`${bearer.host}/bearer/app:1`], 'web');
  await w.waitForRunning(ns, 'web-bearer');
  await w.waitForEvent(ns, 'web-bearer', 'Pulled', /Successfully pulled image/);
  expect(tokenServer!.requests.issued).toBeGreaterThan(issuedBefore);
});

test("a Pod of another ServiceAccount of the same namespace gets the registry's 401, even for the image already on the node", async () => {
  const image = `${basic.host}/private/app:1`;
  // Pulled every time: the kubelet asks the plugin with builder's token, gets nothing, pulls anonymously.
  await w.createPod(ns, 'builder-always', [image], 'builder');
  await w.waitForEvent(ns, 'builder-always', 'Failed', /401 Unauthorized/);
  // IfNotPresent, the image is on the node (web pulled it): KEP-2535 makes the kubelet check that
  // builder may pull it, which it may not.
  await w.createPod(ns, 'builder-cached', [image], 'builder', 'IfNotPresent');
  await w.waitForEvent(ns, 'builder-cached', 'Failed', /401 Unauthorized/);
  await w.waitForWaiting(ns, 'builder-cached', ['ErrImagePull', 'ImagePullBackOff']);
  const refusal = await waitFor(
    async () => {
      const st = (await s.cluster.getCredential(cred))?.status as {
        kubelet?: { refused: number; lastRefusal?: { reason: string; message: string } };
      };
      return st?.kubelet?.lastRefusal?.reason === 'ServiceAccountNotSelected' ? st.kubelet : undefined;
    },
    { timeoutMs: 120_000, what: 'status.kubelet.lastRefusal to name ServiceAccountNotSelected' },
  );
  expect(refusal.lastRefusal?.message).toContain(`${ns}/builder`);
  const report = await doctor(['pod', 'builder-cached', '-n', ns]);
  expect(report.code).toBe(1);
  expect(brokenFix(report).fix).toContain(`add "builder" to the spec.serviceAccounts of RegistryCredential ${cred}`);
});

test('rotation: once the registry takes only the new password and the source Secret follows, the next pull after the cache bound uses it', async () => {
  const image = `${rotating.host}/rotating/app:1`;
  await w.createPod(ns, 'rotate-before', [image], 'web');
  await w.waitForRunning(ns, 'rotate-before');

  await rotating.setUsers([carolRotated]);
  expect(
    (await rotating.inspect(dockerConfigJson(rotating.host, carol.username, carol.password), image)).unauthorized,
  ).toBe(true);
  const source = (await s.cluster.getSecret(s.sourceNamespace, 'rotating'))!;
  await s.cluster.replaceSecret({
    ...source,
    data: undefined,
    stringData: { username: carolRotated.username, password: carolRotated.password },
  });
  const rotatedAt = Date.now();
  // The kubelet may hold the old password for up to CACHE_SECONDS; its pull retries (back-off)
  // then get the new one from the operator.
  await w.createPod(ns, 'rotate-after', [image], 'web');
  await w.waitForRunning(ns, 'rotate-after', (CACHE_SECONDS + 240) * 1000);
  const events = await w.podEvents(ns, 'rotate-after');
  process.stderr.write(
    `[kubelet-delivery] rotation reached a pull ${((Date.now() - rotatedAt) / 1000).toFixed(1)} s after the source ` +
      `Secret changed (cache bound ${CACHE_SECONDS} s); failed pulls before: ` +
      `${events.filter((e) => e.reason === 'Failed').length}\n`,
  );
});

test('the operator down: a ServiceAccount with a cached answer still starts Pods, one without gets a clear Event, and pulls resume when it is back', async () => {
  const image = `${basic.host}/private/app:1`;
  // web's answer for this registry is in the kubelet's cache (cacheType ServiceAccount) from a pull just now.
  await w.createPod(ns, 'web-warm', [image], 'web');
  await w.waitForRunning(ns, 'web-warm');
  await s.operator.stop();
  try {
    await w.createPod(ns, 'web-cached', [image], 'web');
    await w.waitForRunning(ns, 'web-cached');
    // api is selected but has never pulled: nothing cached, the plugin cannot reach the operator.
    await w.createPod(ns, 'api-cold', [image], 'api');
    // The Event holds containerd's error of the anonymous pull the kubelet falls back to; the
    // plugin's reason is in the kubelet's log, and doctor reads the plugin's errors from the node.
    const failed = await w.waitForEvent(ns, 'api-cold', 'Failed', /401 Unauthorized/);
    process.stderr.write(`[kubelet-delivery] with the operator down, the kubelet said: ${failed.message}\n`);
    const kubeletLog = await readFile(path.join(nodeEnv().dir, 'kubelet.log'), 'utf8');
    expect(kubeletLog).toContain('no operator endpoint answered');
    const report = await doctor(['pod', 'api-cold', '-n', ns]);
    expect(report.code).toBe(1);
    const step = report.json.diagnoses[0].steps.find((candidate) => candidate.id === 'kubelet');
    expect(step?.details.join('\n')).toMatch(/[1-9]\d* error\(s\)[\s\S]*when the operator is down/);
  } finally {
    await s.restartOperator();
  }
  // The kubelet retries with back-off and asks again; the operator answers.
  await w.waitForRunning(ns, 'api-cold', 360_000);
});

test('secrets: false: nothing of the RegistryCredential was ever written into the namespace', async () => {
  expect(await s.cluster.getSecret(ns, cred)).toBeUndefined();
  for (const sa of ['default', 'web', 'builder', 'api']) expect(await s.cluster.pullSecretNames(ns, sa)).toEqual([]);
  const writes = (await writesSince(mark, s.operator.user)).filter(
    (e) =>
      e.objectRef?.namespace === ns &&
      (e.objectRef?.resource === 'secrets' || e.objectRef?.resource === 'serviceaccounts'),
  );
  expect(writes).toEqual([]);
});

test('the log names Pods and reasons, never a token or a password', async () => {
  const logs = await readFile(s.operator.logPath, 'utf8');
  expect(logs).toContain('kubelet request served');
  for (const value of SECRET_VALUES) expect(logs.includes(value)).toBe(false);
  expect(/eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}/.test(logs)).toBe(false);
});

describe('Secret delivery under KEP-2535: what removing a credential means on the node', () => {
  let secretNs: string;
  let secretCred: string;
  const image = (): string => `${secretOnly.host}/secret/app:1`;

  beforeAll(async () => {
    secretNs = await s.namespace('copies', { delivery: 'secrets' });
    secretCred = await s.credential('copies', {
      registries: [{ server: secretOnly.host, basicAuth: { secretName: 'secret-only' } }],
      namespaceSelector: s.selectorWith({ delivery: 'secrets' }),
    });
    await waitForPullSecrets(s.cluster, secretNs, 'default', [secretCred]);
  }, 300_000);

  test('a covered Pod pulls with the copy', async () => {
    await w.createPod(secretNs, 'first', [image()], 'default', 'IfNotPresent');
    const pod = await w.waitForRunning(secretNs, 'first');
    expect(podPullSecrets(pod)).toEqual([secretCred]);
  });

  test('rotation in place (the copy keeps its name and uid, new content): new Pods start from the node', async () => {
    const before = (await s.cluster.getSecret(secretNs, secretCred))!;
    await secretOnly.setUsers([daveRotated]);
    const source = (await s.cluster.getSecret(s.sourceNamespace, 'secret-only'))!;
    await s.cluster.replaceSecret({
      ...source,
      data: undefined,
      stringData: { username: daveRotated.username, password: daveRotated.password },
    });
    const after = await waitForSecret(
      s.cluster,
      secretNs,
      secretCred,
      (copy) => passwordFor(copy, secretOnly.host) === daveRotated.password,
    );
    expect(after.metadata?.uid).toBe(before.metadata?.uid);
    await w.createPod(secretNs, 'after-rotation', [image()], 'default', 'IfNotPresent');
    await w.waitForRunning(secretNs, 'after-rotation');
    // Started from the node: the kubelet matched the Secret's coordinates (namespace, name, uid) to
    // the pull record and did not pull again.
    await w.waitForEvent(secretNs, 'after-rotation', 'Pulled', /already present on machine/);
  });

  test('a Pod in a namespace no RegistryCredential selects cannot start the private image already on the node', async () => {
    const uncovered = await s.namespace('uncovered');
    await w.createPod(uncovered, 'stranger', [image()], 'default', 'IfNotPresent');
    await w.waitForEvent(uncovered, 'stranger', 'Failed', /401 Unauthorized/);
  });

  test('the namespace deselected: its copy goes, and a new Pod cannot start the image already on the node', async () => {
    await s.cluster.labelNamespace(secretNs, { delivery: null });
    await waitForSecretGone(s.cluster, secretNs, secretCred);
    await waitForPullSecrets(s.cluster, secretNs, 'default', []);
    await w.createPod(secretNs, 'after-removal', [image()], 'default', 'IfNotPresent');
    await w.waitForEvent(secretNs, 'after-removal', 'Failed', /401 Unauthorized/);
  });
});
