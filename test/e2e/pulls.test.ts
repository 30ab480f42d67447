// Pods really pull with what the operator wrote: a real kubelet and containerd pull from real
// private registries (TLS, bcrypt htpasswd, a non-default port) with the pull secret the
// ServiceAccount admission plugin copied into the Pod, matched to the image by the kubelet's own
// key matching. The operator runs as its own process here (test/e2e/operator-pods.test.ts runs it
// as Pods of its image).
import { authsOf, basicAuthSecret } from '../harness/cluster.js';
import { dockerConfigJson, type Registry, type RegistryUser, startRegistry } from '../harness/registry.js';
import {
  type Scenario,
  passwordFor,
  startScenario,
  waitForCondition,
  waitForPullSecrets,
  waitForSecret,
} from '../harness/scenario.js';
import { trustRegistry } from '../harness/node.js';
import { appImageLayout, isRunning, nodeEnv, podPullSecrets, waitingReasons, Workloads } from '../harness/workloads.js';

const alice: RegistryUser = { username: 'alice', password: 'a1ice-Pa55' };
const bob: RegistryUser = { username: 'bob', password: 'b0b-secret' };

let s: Scenario;
let w: Workloads;
let registryA: Registry;
let registryB: Registry;
const registries: Registry[] = [];

/** A registry the node trusts, holding the app image at each of `repositories`. */
async function privateRegistry(users: RegistryUser[], repositories: string[]): Promise<Registry> {
  const registry = await startRegistry({ users });
  registries.push(registry);
  await trustRegistry(nodeEnv(), registry.host, registry.caFile);
  for (const repository of repositories) await registry.push(await appImageLayout(repository), '1', repository);
  return registry;
}

beforeAll(async () => {
  w = new Workloads();
  [registryA, registryB] = await Promise.all([
    privateRegistry([alice], ['private/app:1', 'team/app:1']),
    privateRegistry([bob], ['other/app:1']),
  ]);
  s = await startScenario('pulls');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('registry-a', alice.username, alice.password));
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('registry-b', bob.username, bob.password));
}, 300_000);

afterAll(async () => {
  await s?.cleanup();
  for (const r of registries) await r.stop();
}, 300_000);

test("a Deployment created before any credential fails with the registry's 401; after the RegistryCredential, its new Pods pull and run", async () => {
  const ns = await s.namespace('story', { group: 'story' });
  const image = `${registryA.host}/private/app:1`;
  await w.createDeployment(ns, 'app', [image]);

  const stuck = await w.waitForDeploymentPod(
    ns,
    'app',
    (p) => waitingReasons(p).includes('ImagePullBackOff'),
    'ImagePullBackOff',
  );
  const stuckName = stuck.metadata!.name!;
  const refused = await w.waitForEvent(ns, stuckName, 'Failed', /401 Unauthorized/);
  expect(refused).toMatchObject({ type: 'Warning', component: 'kubelet' });
  expect(refused.message).toContain(image);

  const cred = await s.credential('story', {
    registries: [{ server: registryA.host, basicAuth: { secretName: 'registry-a' } }],
    namespaceSelector: s.selectorWith({ group: 'story' }),
    serviceAccounts: ['default'],
  });
  await waitForPullSecrets(s.cluster, ns, 'default', [cred]);
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });

  // The support question this operator's users ask: the Pod made before the SA carried the Secret
  // does not have it, and keeps failing; only new Pods get it from the ServiceAccount.
  expect(podPullSecrets(await w.pod(ns, stuckName))).not.toContain(cred);
  await w.rolloutRestart(ns, 'app');
  const running = await w.waitForDeploymentPod(
    ns,
    'app',
    (p) => p.metadata!.name !== stuckName && isRunning(p),
    'a new Pod running',
  );
  expect(podPullSecrets(running)).toEqual([cred]);
  const pulled = await w.waitForEvent(ns, running.metadata!.name!, 'Pulled', /Successfully pulled image/);
  expect(pulled.message).toContain(image);
});

test('a host:port/path key: the kubelet uses it for the images under that path, and only for them', async () => {
  const ns = await s.namespace('path', { group: 'path' });
  const server = `${registryA.host}/team`;
  const cred = await s.credential('path', {
    registries: [{ server, basicAuth: { secretName: 'registry-a' } }],
    namespaceSelector: s.selectorWith({ group: 'path' }),
  });
  const copy = await waitForSecret(s.cluster, ns, cred);
  expect(Object.keys(authsOf(copy) ?? {})).toEqual([server]);
  await waitForPullSecrets(s.cluster, ns, 'default', [cred]);

  await w.createPod(ns, 'under-path', [`${registryA.host}/team/app:1`]);
  await w.createPod(ns, 'outside-path', [`${registryA.host}/private/app:1`]);
  const running = await w.waitForRunning(ns, 'under-path');
  expect(podPullSecrets(running)).toEqual([cred]);
  // Same registry, same user, but the key's path does not cover this repository: no credential sent.
  await w.waitForWaiting(ns, 'outside-path', ['ImagePullBackOff', 'ErrImagePull']);
  await w.waitForEvent(ns, 'outside-path', 'Failed', /401 Unauthorized/);
});

test('two registries with different users merged into one Secret: a Pod with a container from each starts', async () => {
  // Each registry refuses the other's user: the Pod needs both entries of the one Secret.
  expect(
    (
      await registryB.inspect(
        dockerConfigJson(registryB.host, alice.username, alice.password),
        `${registryB.host}/other/app:1`,
      )
    ).unauthorized,
  ).toBe(true);
  expect(
    (
      await registryA.inspect(
        dockerConfigJson(registryA.host, bob.username, bob.password),
        `${registryA.host}/private/app:1`,
      )
    ).unauthorized,
  ).toBe(true);

  const ns = await s.namespace('multi', { group: 'multi' });
  const cred = await s.credential('multi', {
    registries: [
      { server: registryA.host, basicAuth: { secretName: 'registry-a' } },
      { server: registryB.host, basicAuth: { secretName: 'registry-b' } },
    ],
    namespaceSelector: s.selectorWith({ group: 'multi' }),
  });
  await waitForPullSecrets(s.cluster, ns, 'default', [cred]);
  await w.createPod(ns, 'both', [`${registryA.host}/private/app:1`, `${registryB.host}/other/app:1`]);
  const pod = await w.waitForRunning(ns, 'both');
  const images = [`${registryA.host}/private/app:1`, `${registryB.host}/other/app:1`];
  // Every container runs. Not compared: status.image, which containerd reports as any name the
  // node holds for the same digest (another test may have pulled this content under another host).
  expect(pod.status?.containerStatuses?.map((c) => [c.name, c.state?.running !== undefined]).sort()).toEqual(
    (pod.spec?.containers ?? []).map((c) => [c.name, true]).sort(),
  );
  expect(pod.spec?.containers.map((c) => c.image).sort()).toEqual(images.sort());
  expect(podPullSecrets(pod)).toEqual([cred]);
  for (const image of images)
    await w.waitForEvent(
      ns,
      'both',
      'Pulled',
      new RegExp(`Successfully pulled image "${image.replace(/[.]/g, '\\.')}"`),
    );
});

test("rotation: the registry's password changes and the source Secret follows; a new Pod pulls with the new password, the old one is refused", async () => {
  const carol: RegistryUser = { username: 'carol', password: 'first-Pa55' };
  const rotated: RegistryUser = { username: 'carol', password: 'second-Pa55' };
  const registry = await privateRegistry([carol], ['rotating/app:1']);
  const image = `${registry.host}/rotating/app:1`;
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('registry-c', carol.username, carol.password));
  const ns = await s.namespace('rotate', { group: 'rotate' });
  const cred = await s.credential('rotate', {
    registries: [{ server: registry.host, basicAuth: { secretName: 'registry-c' } }],
    namespaceSelector: s.selectorWith({ group: 'rotate' }),
  });
  await waitForPullSecrets(s.cluster, ns, 'default', [cred]);
  await w.createPod(ns, 'before', [image]);
  await w.waitForRunning(ns, 'before');

  // The registry's side of a rotation: only the new password works from now on.
  await registry.setUsers([rotated]);
  expect(
    (await registry.inspect(dockerConfigJson(registry.host, carol.username, carol.password), image)).unauthorized,
  ).toBe(true);
  expect((await registry.inspect(dockerConfigJson(registry.host, rotated.username, rotated.password), image)).ok).toBe(
    true,
  );
  // imagePullPolicy Always: a Pod started now, while the copies hold the old password, is refused.
  await w.createPod(ns, 'stale', [image]);
  await w.waitForEvent(ns, 'stale', 'Failed', /401 Unauthorized/);

  // The source Secret follows; the operator rewrites the copy; a Pod created after that pulls.
  await s.cluster.setPassword(s.sourceNamespace, 'registry-c', rotated.password);
  await waitForSecret(s.cluster, ns, cred, (copy) => passwordFor(copy, registry.host) === rotated.password);
  await w.createPod(ns, 'after', [image]);
  await w.waitForRunning(ns, 'after');
  await w.waitForEvent(ns, 'after', 'Pulled', /Successfully pulled image/);
});
