// Spec semantics 1 (materialize) and 2 (inject): every selected namespace gets the Secret, with the
// right type, payload, labels and ownerReference, and its `default` ServiceAccount lists it. That
// includes namespaces created after the RegistryCredential, whose `default` SA only appears a
// moment later (created by kube-controller-manager).
import { authsOf } from '../harness/cluster.js';
import {
  type Scenario,
  startScenario,
  waitForCondition,
  waitForCounts,
  waitForPullSecrets,
  waitForSecret,
  waitForServiceAccount,
} from '../harness/scenario.js';
import { basicAuthSecret } from '../harness/cluster.js';
import { waitFor } from '../../harness/wait.js';

let s: Scenario;
beforeAll(async () => {
  s = await startScenario('materialize');
});
afterAll(async () => s?.cleanup());

test('a Secret in every selected namespace, the default SA patched, status Ready', async () => {
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('harbor-robot', 'robot$ci', 'pa55:word'));
  const before = await s.namespace('before');
  const excluded = await s.namespace('excluded');
  const cred = await s.credential('harbor', {
    registries: [{ server: 'harbor.example.com', basicAuth: { secretName: 'harbor-robot' } }],
    namespaceSelector: s.selector,
    excludeNamespaces: [excluded],
  });
  const after = await s.namespace('after');

  for (const ns of [before, after]) {
    const secret = await waitForSecret(s.cluster, ns, cred);
    expect(secret.type).toBe('kubernetes.io/dockerconfigjson');
    expect(secret.metadata?.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'regcred-operator',
      'regcred.io/credential': cred,
    });
    expect(secret.metadata?.ownerReferences).toEqual([
      expect.objectContaining({
        apiVersion: 'regcred.io/v1alpha1',
        kind: 'RegistryCredential',
        name: cred,
        controller: true,
      }),
    ]);
    expect(authsOf(secret)).toEqual({
      'harbor.example.com': {
        username: 'robot$ci',
        password: 'pa55:word',
        auth: Buffer.from('robot$ci:pa55:word').toString('base64'),
      },
    });
    await waitForPullSecrets(s.cluster, ns, 'default', [cred]);
  }
  expect(await s.cluster.getSecret(excluded, cred)).toBeUndefined();
  // kube-controller-manager creates the SA a moment after its namespace; until then there is nothing to check
  await waitForServiceAccount(s.cluster, excluded, 'default');
  expect(await s.cluster.pullSecretNames(excluded, 'default')).not.toContain(cred);

  const ready = await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  // Ready=True may still be the status counted before `after` joined: wait for the counts.
  await waitForCounts(s.cluster, cred, { selected: 2, ready: 2, failed: 0 });
  const obj = (await s.cluster.getCredential(cred))!;
  expect(ready.observedGeneration).toBe(obj.metadata.generation);
  expect(obj.status?.namespaces).toEqual({ selected: 2, ready: 2, failed: 0 });
  expect(obj.metadata.finalizers).toContain('regcred.io/cleanup');
  expect(await s.cluster.condition(cred, 'SourcesReady')).toMatchObject({ status: 'True' });
  expect(await s.cluster.condition(cred, 'Propagated')).toMatchObject({ status: 'True' });

  const events = await waitFor(
    async () => {
      const list = await s.cluster.eventsFor(cred);
      return list.some((e) => e.reason === 'SecretCreated') && list.some((e) => e.reason === 'PullSecretAdded')
        ? list
        : undefined;
    },
    { what: 'SecretCreated and PullSecretAdded Events' },
  );
  expect(events.find((e) => e.reason === 'SecretCreated')?.type).toBe('Normal');
});
