// Spec semantics 6 (clean up): when a namespace leaves the selection, or the RegistryCredential is
// deleted, the operator removes exactly what it added — its Secrets and its SA entries — and
// nothing else: foreign entries keep their order, other Secrets stay.
import { basicAuthSecret } from '../harness/cluster.js';
import {
  type Scenario,
  startScenario,
  waitForPullSecrets,
  waitForSecret,
  waitForSecretGone,
} from '../harness/scenario.js';
import { waitFor } from '../../harness/wait.js';

let s: Scenario;
beforeAll(async () => {
  s = await startScenario('cleanup');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'p'));
});
afterAll(async () => s?.cleanup());

const registries = [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }];

test('a namespace relabelled out of the selector is cleaned up, foreign entries kept in order', async () => {
  const ns = await s.namespace('relabel', { case: 'relabel' });
  const stays = await s.namespace('stays', { case: 'relabel' });
  await s.cluster.createServiceAccount(ns, 'app', ['first']);
  const cred = await s.credential('relabel', {
    registries,
    namespaceSelector: s.selectorWith({ case: 'relabel' }),
    serviceAccounts: ['default', 'app'],
  });
  await waitForPullSecrets(s.cluster, ns, 'app', ['first', cred]);
  const app = (await s.cluster.getServiceAccount(ns, 'app'))!;
  app.imagePullSecrets = [...app.imagePullSecrets!, { name: 'last' }];
  await s.cluster.replaceServiceAccount(app);
  await waitForPullSecrets(s.cluster, ns, 'default', [cred]);
  // `stays` converged too before the change (its default SA may appear after the other namespace's)
  await waitForSecret(s.cluster, stays, cred);
  await waitForPullSecrets(s.cluster, stays, 'default', [cred]);

  await s.cluster.labelNamespace(ns, { case: 'elsewhere' });
  await waitForSecretGone(s.cluster, ns, cred);
  await waitForPullSecrets(s.cluster, ns, 'app', ['first', 'last']);
  await waitForPullSecrets(s.cluster, ns, 'default', []);
  // the namespace still selected keeps everything
  expect(await s.cluster.getSecret(stays, cred)).toBeDefined();
  expect(await s.cluster.pullSecretNames(stays, 'default')).toEqual([cred]);
  await waitFor(async () => (await s.cluster.getCredential(cred))?.status?.namespaces?.selected === 1, {
    what: 'status to count 1 selected namespace',
  });
});

test('a namespace added to excludeNamespaces is cleaned up', async () => {
  const ns = await s.namespace('excl', { case: 'excl' });
  const cred = await s.credential('excl', { registries, namespaceSelector: s.selectorWith({ case: 'excl' }) });
  await waitForSecret(s.cluster, ns, cred);
  await s.cluster.patchCredentialSpec(cred, { excludeNamespaces: [ns] });
  await waitForSecretGone(s.cluster, ns, cred);
  await waitForPullSecrets(s.cluster, ns, 'default', []);
});

test('deleting the RegistryCredential removes its Secrets and SA entries, and nothing else', async () => {
  const nss = await Promise.all(['d1', 'd2'].map((p) => s.namespace(p, { case: 'delete' })));
  const cred = await s.credential('delete', {
    registries,
    namespaceSelector: s.selectorWith({ case: 'delete' }),
    serviceAccounts: ['*'],
  });
  const other = await s.credential('other', {
    registries,
    namespaceSelector: s.selectorWith({ case: 'delete' }),
    serviceAccounts: ['*'],
  });
  for (const ns of nss) {
    await s.cluster.createServiceAccount(ns, 'app', ['foreign-1']);
    await s.cluster.createSecret(ns, { metadata: { name: 'unrelated' }, type: 'Opaque', stringData: { a: 'b' } });
    for (const sa of ['app', 'default']) {
      // `default` is created by kube-controller-manager, maybe after `app`: both must list both before the deletion
      await waitFor(
        async () => {
          const names = await s.cluster.pullSecretNames(ns, sa);
          return names?.includes(cred) && names.includes(other);
        },
        { what: `${ns}/${sa} to list both credentials` },
      );
    }
    const app = (await s.cluster.getServiceAccount(ns, 'app'))!;
    app.imagePullSecrets = [...app.imagePullSecrets!, { name: 'foreign-2' }];
    await s.cluster.replaceServiceAccount(app);
  }
  const before = new Map<string, string[]>();
  for (const ns of nss) before.set(ns, (await s.cluster.pullSecretNames(ns, 'app'))!);

  await s.cluster.deleteCredential(cred);
  await waitFor(async () => !(await s.cluster.getCredential(cred)), {
    what: `${cred} to be released by its finalizer`,
  });
  for (const ns of nss) {
    // The finalizer ran the cleanup before the object went away: nothing is left to the GC.
    expect(await s.cluster.getSecret(ns, cred)).toBeUndefined();
    expect(await s.cluster.pullSecretNames(ns, 'app')).toEqual(before.get(ns)!.filter((n) => n !== cred));
    expect(await s.cluster.pullSecretNames(ns, 'default')).toEqual([other]);
    expect(await s.cluster.getSecret(ns, 'unrelated')).toBeDefined();
    expect(await s.cluster.getSecret(ns, other)).toBeDefined();
  }
  const annotation = (await s.cluster.getServiceAccount(nss[0]!, 'app'))!.metadata?.annotations?.[
    'regcred.io/injected-pull-secrets'
  ];
  expect(JSON.parse(annotation!)).toEqual({ [other]: other });
});
