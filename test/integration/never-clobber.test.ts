// Spec semantics 5 (never clobber): a Secret named secretName that this RegistryCredential does not
// own is never modified or deleted; that namespace reports SecretConflict (status + Event), and the
// other namespaces are served. Once the foreign Secret is gone, the namespace converges.
import { basicAuthSecret } from '../harness/cluster.js';
import {
  type Scenario,
  startScenario,
  waitForCondition,
  waitForCounts,
  waitForPullSecrets,
  waitForSecret,
  waitForServiceAccount,
} from '../harness/scenario.js';
import { waitFor } from '../../harness/wait.js';

let s: Scenario;
beforeAll(async () => {
  s = await startScenario('clobber');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'p'));
});
afterAll(async () => s?.cleanup());

test('an unowned Secret with the same name is never touched and SecretConflict is reported', async () => {
  const taken = await s.namespace('taken', { case: 'c' });
  const free = await s.namespace('free', { case: 'c' });
  const name = `pull-${s.id}`;
  const foreign = await s.cluster.createSecret(taken, {
    metadata: { name, labels: { owner: 'someone-else' } },
    type: 'Opaque',
    stringData: { keep: 'me' },
  });
  const cred = await s.credential('conflict', {
    registries: [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }],
    namespaceSelector: s.selectorWith({ case: 'c' }),
    secretName: name,
  });

  await waitForSecret(s.cluster, free, name);
  const propagated = await waitForCondition(s.cluster, cred, 'Propagated', {
    status: 'False',
    reason: 'SecretConflict',
  });
  expect(propagated.message).toContain(taken);
  // Propagated=False can be written while the free namespace's default SA (created a moment after
  // its namespace) is still to be patched: wait for the counts, do not read them once.
  const status = await waitForCounts(s.cluster, cred, { selected: 2, ready: 1, failed: 1 });
  expect(status.namespaces).toEqual({ selected: 2, ready: 1, failed: 1 });
  expect(status.failures).toEqual([
    {
      namespace: taken,
      reason: 'SecretConflict',
      message: expect.stringContaining('not managed by this RegistryCredential'),
    },
  ]);
  expect(await s.cluster.condition(cred, 'Ready')).toMatchObject({ status: 'False', reason: 'SecretConflict' });
  await waitFor(
    async () => (await s.cluster.eventsFor(cred)).find((e) => e.reason === 'SecretConflict' && e.type === 'Warning'),
    { what: 'a SecretConflict Warning Event' },
  );

  const after = (await s.cluster.getSecret(taken, name))!;
  expect(after.metadata?.resourceVersion).toBe(foreign.metadata?.resourceVersion);
  expect(after.type).toBe('Opaque');
  // not wired into the SA either: it is not our Secret (the SA may appear a moment after its namespace)
  await waitForServiceAccount(s.cluster, taken, 'default');
  expect(await s.cluster.pullSecretNames(taken, 'default')).not.toContain(name);

  // The owner removes theirs: the namespace converges (the failure is retried with backoff).
  await s.cluster.deleteSecret(taken, name);
  await waitForSecret(s.cluster, taken, name, (x) => x.type === 'kubernetes.io/dockerconfigjson', 90_000);
  await waitForPullSecrets(s.cluster, taken, 'default', [name]);
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
});

test('two RegistryCredentials with the same secretName: the second reports SecretConflict', async () => {
  const ns = await s.namespace('shared', { case: 'dup' });
  const name = `dup-${s.id}`;
  const spec = {
    registries: [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }],
    namespaceSelector: s.selectorWith({ case: 'dup' }),
    secretName: name,
  };
  const first = await s.credential('first', spec);
  await waitForCondition(s.cluster, first, 'Ready', { status: 'True' });
  const owned = (await s.cluster.getSecret(ns, name))!;
  const second = await s.credential('second', spec);
  await waitForCondition(s.cluster, second, 'Propagated', { status: 'False', reason: 'SecretConflict' });
  expect((await s.cluster.getSecret(ns, name))!.metadata?.resourceVersion).toBe(owned.metadata?.resourceVersion);
  expect(await s.cluster.condition(first, 'Ready')).toMatchObject({ status: 'True' });
});
