// Spec semantics 2 (inject) and 6 (clean up SA entries): listed ServiceAccounts get the entry once,
// every foreign entry keeps its place, ServiceAccounts created later are handled, "*" means every
// SA, [] means Secret only, and an SA that leaves the list loses exactly our entry.
import { basicAuthSecret } from '../harness/cluster.js';
import {
  type Scenario,
  startScenario,
  waitForCondition,
  waitForPullSecrets,
  waitForSecret,
  waitForServiceAccount,
} from '../harness/scenario.js';

let s: Scenario;
beforeAll(async () => {
  s = await startScenario('inject');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'p'));
});
afterAll(async () => s?.cleanup());

const registries = [{ server: 'registry.example.com', basicAuth: { secretName: 'robot' } }];

test('listed SAs, foreign entries kept in order, SAs created later, an SA taken off the list', async () => {
  const ns = await s.namespace('listed', { case: 'listed' });
  await s.cluster.createServiceAccount(ns, 'builder', ['foreign-a', 'foreign-b']);
  const cred = await s.credential('listed', {
    registries,
    namespaceSelector: s.selectorWith({ case: 'listed' }),
    serviceAccounts: ['default', 'builder', 'deployer'],
  });

  await waitForPullSecrets(s.cluster, ns, 'builder', ['foreign-a', 'foreign-b', cred]);
  await waitForPullSecrets(s.cluster, ns, 'default', [cred]);

  // created after the RegistryCredential, with an entry of its own
  await s.cluster.createServiceAccount(ns, 'deployer', ['mine']);
  await waitForPullSecrets(s.cluster, ns, 'deployer', ['mine', cred]);
  // not listed: untouched
  await s.cluster.createServiceAccount(ns, 'other', ['x']);
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  expect(await s.cluster.pullSecretNames(ns, 'other')).toEqual(['x']);

  // someone adds a foreign entry after ours: kept, ours stays once
  const builder = (await s.cluster.getServiceAccount(ns, 'builder'))!;
  builder.imagePullSecrets = [...builder.imagePullSecrets!, { name: 'foreign-c' }];
  await s.cluster.replaceServiceAccount(builder);

  // builder leaves the list: only our entry goes, the others keep their order
  await s.cluster.patchCredentialSpec(cred, { serviceAccounts: ['default', 'deployer'] });
  await waitForPullSecrets(s.cluster, ns, 'builder', ['foreign-a', 'foreign-b', 'foreign-c']);
  expect(
    (await s.cluster.getServiceAccount(ns, 'builder'))!.metadata?.annotations?.['regcred.io/injected-pull-secrets'],
  ).toBeUndefined();
  expect(await s.cluster.pullSecretNames(ns, 'deployer')).toEqual(['mine', cred]);
});

test('an entry someone removes is restored', async () => {
  const ns = await s.namespace('restore', { case: 'restore' });
  const cred = await s.credential('restore', { registries, namespaceSelector: s.selectorWith({ case: 'restore' }) });
  await waitForPullSecrets(s.cluster, ns, 'default', [cred]);
  const sa = (await s.cluster.getServiceAccount(ns, 'default'))!;
  sa.imagePullSecrets = [{ name: 'theirs' }];
  await s.cluster.replaceServiceAccount(sa);
  await waitForPullSecrets(s.cluster, ns, 'default', ['theirs', cred]);
});

test('serviceAccounts ["*"] patches every SA, including later ones', async () => {
  const ns = await s.namespace('star', { case: 'star' });
  await s.cluster.createServiceAccount(ns, 'a', ['keep']);
  const cred = await s.credential('star', {
    registries,
    namespaceSelector: s.selectorWith({ case: 'star' }),
    serviceAccounts: ['*'],
  });
  await waitForPullSecrets(s.cluster, ns, 'a', ['keep', cred]);
  await waitForPullSecrets(s.cluster, ns, 'default', [cred]);
  await s.cluster.createServiceAccount(ns, 'b');
  await waitForPullSecrets(s.cluster, ns, 'b', [cred]);
});

test('serviceAccounts [] materializes the Secret only', async () => {
  const ns = await s.namespace('none', { case: 'none' });
  await s.cluster.createServiceAccount(ns, 'a', ['keep']);
  const cred = await s.credential('none', {
    registries,
    namespaceSelector: s.selectorWith({ case: 'none' }),
    serviceAccounts: [],
  });
  await waitForSecret(s.cluster, ns, cred);
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  expect(await s.cluster.pullSecretNames(ns, 'a')).toEqual(['keep']);
  // kube-controller-manager creates `default` a moment after its namespace; until then there is nothing to check
  await waitForServiceAccount(s.cluster, ns, 'default');
  expect(await s.cluster.pullSecretNames(ns, 'default')).not.toContain(cred);
});
