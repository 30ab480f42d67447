// `kubectl regcred doctor`, every cause reproduced for real: Pods on the real node that really
// failed to pull (the kubelet's own Events), real registries (one whose CA the node does not
// trust, one that is down), Secrets and RegistryCredentials on the real control plane. Each case
// asserts the verdict, the fix line and the exit code of the real command (`node
// dist/cli/kubectl-regcred.js`, and once through kubectl's plugin mechanism after `npm install -g`
// of the packed package).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { basicAuthSecret, dockerConfigSecret } from '../harness/cluster.js';
import { brokenFix, doctor } from '../harness/doctor.js';
import { run, runOk, testEnv } from '../../harness/controlplane.js';
import { trustRegistry } from '../harness/node.js';
import { dockerConfigJson, type Registry, type RegistryUser, startRegistry } from '../harness/registry.js';
import { type Scenario, startScenario, waitForPullSecrets, waitForSecret } from '../harness/scenario.js';
import { appImageLayout, nodeEnv, Workloads } from '../harness/workloads.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const robot: RegistryUser = { username: 'robot', password: 'r0bot-Pa55' };

let s: Scenario;
let w: Workloads;
let trusted: Registry;
let untrusted: Registry;
const registries: Registry[] = [];

async function privateRegistry(users: RegistryUser[], trust: boolean): Promise<Registry> {
  // The untrusted one listens on the node's bridge address: containerd would talk plain HTTP to a
  // loopback registry it has no hosts.toml for, and never get to the certificate.
  const registry = await startRegistry({ users, ...(trust ? {} : { address: nodeEnv().gateway }) });
  registries.push(registry);
  if (trust) await trustRegistry(nodeEnv(), registry.host, registry.caFile);
  await registry.push(await appImageLayout(`doctor-${registries.length}`), '1', 'team/app:1');
  return registry;
}

beforeAll(async () => {
  w = new Workloads();
  [trusted, untrusted] = await Promise.all([privateRegistry([robot], true), privateRegistry([robot], false)]);
  s = await startScenario('doctor');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', robot.username, robot.password));
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('wrong', robot.username, 'not-the-password'));
}, 300_000);

afterAll(async () => {
  await s?.cleanup();
  for (const r of registries) await r.stop();
}, 300_000);

/** A namespace of this scenario with a RegistryCredential for `server` (source Secret `source`) ready in it. */
async function servedNamespace(
  group: string,
  server: string,
  source = 'robot',
  extra: Record<string, unknown> = {},
): Promise<{ ns: string; cred: string }> {
  const ns = await s.namespace(group, { group });
  const cred = await s.credential(group, {
    registries: [{ server, basicAuth: { secretName: source } }],
    namespaceSelector: s.selectorWith({ group }),
    ...extra,
  });
  await waitForSecret(s.cluster, ns, cred);
  await waitForPullSecrets(s.cluster, ns, 'default', [cred]);
  return { ns, cred };
}

async function failingPod(
  ns: string,
  name: string,
  image: string,
  serviceAccount = 'default',
  pullSecrets: string[] = [],
): Promise<void> {
  const pod = await w.core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name },
      spec: {
        serviceAccountName: serviceAccount,
        terminationGracePeriodSeconds: 1,
        ...(pullSecrets.length ? { imagePullSecrets: pullSecrets.map((n) => ({ name: n })) } : {}),
        containers: [{ name: 'app', image, imagePullPolicy: 'Always' }],
      },
    },
  });
  await w.waitForWaiting(ns, pod.metadata!.name!, ['ImagePullBackOff', 'ErrImagePull']);
  await w.waitForEvent(ns, name, 'Failed', /Failed to pull image/);
}

test('a Pod that pulls: verdict ok, exit 0', async () => {
  const { ns, cred } = await servedNamespace('works', trusted.host);
  await w.createPod(ns, 'web', [`${trusted.host}/team/app:1`]);
  await w.waitForRunning(ns, 'web');
  // this machine trusts the registry's CA as the node does (--registry-ca): the live check agrees
  const result = await doctor(['pod', 'web', '-n', ns], ['--registry-ca', trusted.caFile]);
  expect(result.code).toBe(0);
  expect(result.json.diagnoses[0].verdict).toBe('ok');
  expect(result.json.diagnoses[0].steps.find((step) => step.id === 'live')?.status).toBe('ok');
  expect(result.stdout).toContain(`managed by RegistryCredential ${cred}`);
  expect(result.stdout).not.toContain(robot.password);
});

test('the Pod was created before the ServiceAccount carried the Secret', async () => {
  const ns = await s.namespace('late', { group: 'late' });
  await failingPod(ns, 'early', `${trusted.host}/team/app:1`);
  const cred = await s.credential('late', {
    registries: [{ server: trusted.host, basicAuth: { secretName: 'robot' } }],
    namespaceSelector: s.selectorWith({ group: 'late' }),
  });
  await waitForPullSecrets(s.cluster, ns, 'default', [cred]);
  const result = await doctor(['pod', 'early', '-n', ns]);
  expect(result.code).toBe(1);
  expect(brokenFix(result)).toMatchObject({ verdict: 'broken', step: 'secrets' });
  expect(brokenFix(result).fix).toMatch(
    new RegExp(
      `created before ServiceAccount default carried ${cred}.*recreate the Pod \\(kubectl delete pod early -n ${ns}`,
    ),
  );
  expect(brokenFix(result).fix).toMatch(/podRecovery\.enabled: true/);
});

test('a missing Secret, and one that exists only in another namespace', async () => {
  const ns = await s.namespace('missing', { group: 'missing' });
  await failingPod(ns, 'nosecret', `${trusted.host}/team/app:1`, 'default', ['does-not-exist']);
  const missing = await doctor(['pod', 'nosecret', '-n', ns]);
  expect(missing.code).toBe(1);
  expect(brokenFix(missing).fix).toBe(`Create does-not-exist in ${ns}, or remove the reference.`);

  await s.cluster.createSecret(
    s.sourceNamespace,
    dockerConfigSecret('shared-pull', dockerConfigJson(trusted.host, robot.username, robot.password)),
  );
  await failingPod(ns, 'elsewhere', `${trusted.host}/team/app:1`, 'default', ['shared-pull']);
  const elsewhere = await doctor(['pod', 'elsewhere', '-n', ns]);
  expect(elsewhere.code).toBe(1);
  expect(brokenFix(elsewhere).fix).toContain(
    `Pull secrets must be in the Pod's namespace ${ns}: shared-pull (found in ${s.sourceNamespace})`,
  );
});

test('a pull secret of the wrong type is ignored by the kubelet', async () => {
  const ns = await s.namespace('opaque', { group: 'opaque' });
  await s.cluster.createSecret(ns, {
    metadata: { name: 'opaque-pull' },
    type: 'Opaque',
    stringData: { '.dockerconfigjson': dockerConfigJson(trusted.host, robot.username, robot.password) },
  });
  await failingPod(ns, 'app', `${trusted.host}/team/app:1`, 'default', ['opaque-pull']);
  const result = await doctor(['pod', 'app', '-n', ns]);
  expect(result.code).toBe(1);
  const secrets = result.json.diagnoses[0].steps.find((step) => step.id === 'secrets')!;
  expect(secrets.details.join('\n')).toContain('Secret opaque-pull: type Opaque; the kubelet ignores it');
  expect(brokenFix(result).fix).toContain(`No pull secret has a key for ${trusted.host}`);
});

test('a wrong password: the registry refuses it, live', async () => {
  const { ns, cred } = await servedNamespace('wrongpw', trusted.host, 'wrong');
  await failingPod(ns, 'app', `${trusted.host}/team/app:1`);
  const result = await doctor(['pod', 'app', '-n', ns], ['--registry-ca', trusted.caFile]);
  expect(result.code).toBe(1);
  expect(brokenFix(result)).toMatchObject({ step: 'live' });
  // what the node reported is shown, and confirmed by the live check
  expect(result.stdout).toContain('cause: ' + trusted.host + ' refused the credential the kubelet sent (401)');
  expect(brokenFix(result).fix).toBe(
    `The registry refuses this username/password: fix them in the source of RegistryCredential ${cred} (a ` +
      `rotated password, an expired robot account or token).`,
  );
  expect(result.stdout).not.toContain('not-the-password');
});

test('keys the kubelet does not match: no port, another path', async () => {
  const ns = await s.namespace('keys', { group: 'keys' });
  const [host, port] = trusted.host.split(':');
  await s.cluster.createSecret(
    ns,
    dockerConfigSecret('no-port', dockerConfigJson(host, robot.username, robot.password)),
  );
  await s.cluster.createSecret(
    ns,
    dockerConfigSecret('other-path', dockerConfigJson(`${trusted.host}/other`, robot.username, robot.password)),
  );
  await failingPod(ns, 'noport', `${trusted.host}/team/app:1`, 'default', ['no-port']);
  await failingPod(ns, 'path', `${trusted.host}/team/app:1`, 'default', ['other-path']);
  const noPort = await doctor(['pod', 'noport', '-n', ns]);
  expect(noPort.code).toBe(1);
  expect(noPort.stdout).toContain(`key "${host}" (Secret no-port): no port in the key, port ${port} in the image`);
  expect(brokenFix(noPort).fix).toContain(`No pull secret has a key for ${trusted.host}`);
  const path = await doctor(['pod', 'path', '-n', ns]);
  expect(path.code).toBe(1);
  expect(path.stdout).toContain(
    `key "${trusted.host}/other" (Secret other-path): the key's path /other is not a prefix of the image's path ` +
      `/team/app`,
  );
});

test('Docker Hub keys (no registry contacted: --no-live): registry-1.docker.io does not match, the legacy key does', async () => {
  const ns = await s.namespace('hub', { group: 'hub' });
  await s.cluster.createSecret(
    ns,
    dockerConfigSecret('hub-wrong', dockerConfigJson('registry-1.docker.io', 'hubuser', 'x')),
  );
  await s.cluster.createSecret(
    ns,
    dockerConfigSecret('hub-legacy', dockerConfigJson('https://index.docker.io/v1/', 'hubuser', 'x')),
  );
  await s.cluster.createServiceAccount(ns, 'wrong-key', ['hub-wrong']);
  await s.cluster.createServiceAccount(ns, 'legacy-key', ['hub-legacy']);
  const wrong = await doctor([
    'image',
    'library/busybox:1.36',
    '-n',
    ns,
    '--service-account',
    'wrong-key',
    '--no-live',
  ]);
  expect(wrong.code).toBe(1);
  expect(brokenFix(wrong).fix).toContain('(use "https://index.docker.io/v1/" or "docker.io")');
  const legacy = await doctor(['image', 'busybox:1.36', '-n', ns, '--service-account', 'legacy-key', '--no-live']);
  expect(legacy.code).toBe(0);
  expect(legacy.stdout).toContain('through its Docker Hub fallback for the legacy key');
});

test('a ServiceAccount the RegistryCredential does not inject into', async () => {
  const { ns, cred } = await servedNamespace('sa', trusted.host);
  await s.cluster.createServiceAccount(ns, 'builder');
  await failingPod(ns, 'build', `${trusted.host}/team/app:1`, 'builder');
  const result = await doctor(['pod', 'build', '-n', ns]);
  expect(result.code).toBe(1);
  expect(brokenFix(result).fix).toContain(
    `RegistryCredential ${cred} provides ${trusted.host} in ${ns} (Secret ${cred}) but injects it only into ` +
      `ServiceAccounts ["default"]: add "builder"`,
  );
});

test("a private CA the node does not trust: the node's x509 Event, or the live TLS check", async () => {
  const { ns } = await servedNamespace('ca', untrusted.host);
  await failingPod(ns, 'app', `${untrusted.host}/team/app:1`);
  // from here, with the CA: the credential works, but the node failed on x509
  const withCa = await doctor(['pod', 'app', '-n', ns], ['--registry-ca', untrusted.caFile]);
  expect(withCa.code).toBe(1);
  expect(brokenFix(withCa)).toMatchObject({ step: 'events' });
  expect(brokenFix(withCa).fix).toContain(
    `Give the node the registry's CA: /etc/containerd/certs.d/${untrusted.host}/ca.crt`,
  );
  // without it: the live check fails on TLS too
  const withoutCa = await doctor(['image', `${untrusted.host}/team/app:1`, '-n', ns]);
  expect(withoutCa.code).toBe(1);
  expect(brokenFix(withoutCa)).toMatchObject({ step: 'live' });
  expect(withoutCa.stdout).toContain('x509: certificate signed by unknown authority');
});

test('a missing tag', async () => {
  const { ns } = await servedNamespace('tag', trusted.host);
  await failingPod(ns, 'app', `${trusted.host}/team/app:nope`);
  const result = await doctor(['pod', 'app', '-n', ns], ['--registry-ca', trusted.caFile]);
  expect(result.code).toBe(1);
  expect(brokenFix(result).fix).toBe('team/app has no tag nope: check the tag (or push it).');
  // containerd's last attempt may have been a TLS error (its fallback after the 404): the node's
  // part of the story must not name another cause than the registry's own answer.
  expect(result.stdout).not.toContain('cause: the node does not trust');
});

test('the registry is down', async () => {
  const down = await privateRegistry([robot], true);
  const { ns } = await servedNamespace('down', down.host);
  await down.stop();
  const result = await doctor(['image', `${down.host}/team/app:1`, '-n', ns]);
  expect(result.code).toBe(1);
  expect(brokenFix(result).fix).toBe(
    `${down.host} cannot be reached from here: check that it runs, and DNS, firewall and proxies.`,
  );
});

test('through kubectl: the plugin installed with npm install -g of the packed package', async () => {
  const prefix = await mkdtemp(path.join(os.tmpdir(), 'regcred-plugin-'));
  try {
    const tarball = (
      await runOk('npm', ['pack', '--silent', '--pack-destination', prefix], { cwd: REPO_ROOT, timeoutMs: 120_000 })
    )
      .trim()
      .split('\n')
      .pop()!;
    await runOk(
      'npm',
      ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', path.join(prefix, tarball)],
      { timeoutMs: 300_000 },
    );
    const kubectlBin = path.join(testEnv().binDir, 'kubectl');
    const env = {
      ...process.env,
      PATH: `${path.join(prefix, 'bin')}:${process.env.PATH}`,
      KUBECONFIG: testEnv().adminKubeconfig,
      KUBECACHEDIR: path.join(prefix, 'kube-cache'),
    };
    const plugins = await run(kubectlBin, ['plugin', 'list'], { env });
    expect(plugins.stdout).toContain(path.join(prefix, 'bin', 'kubectl-regcred'));
    const status = await run(kubectlBin, ['regcred', 'status'], { env, timeoutMs: 60_000 });
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^NAME\s+READY\s+NAMESPACES\s+EXPIRES\s+VERIFIED/);
    const usage = await run(kubectlBin, ['regcred', 'doctor', 'pod'], { env });
    expect(usage.code).toBe(2);
    expect(await readFile(path.join(prefix, 'bin', 'kubectl-regcred'), 'utf8')).toMatch(/^#!\/usr\/bin\/env node/);
  } finally {
    await rm(prefix, { recursive: true, force: true });
  }
}, 400_000);
