// Targeting and Secret shape: serviceAccountSelector and excludeServiceAccounts. Every SA the
// selector matches gets the entry besides the listed ones; an SA relabelled in or out follows within
// seconds, and relabelled out it loses exactly our entry; excludeServiceAccounts wins over the list
// (also ["*"]) and the selector, also when added later, and then removes exactly our entry.
import { basicAuthSecret } from '../harness/cluster.js';
import {
  type Scenario,
  startScenario,
  waitForCondition,
  waitForCounts,
  waitForPullSecrets,
  waitForServiceAccount,
} from '../harness/scenario.js';
import { waitFor } from '../../harness/wait.js';

let s: Scenario;
beforeAll(async () => {
  s = await startScenario('sasel');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'p'));
});
afterAll(async () => s?.cleanup());

const registries = [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }];
const PULL = { 'regcred.io/pull': 'production' };

const injectedAnnotation = async (ns: string, sa: string) =>
  (await s.cluster.getServiceAccount(ns, sa))?.metadata?.annotations?.['regcred.io/injected-pull-secrets'];

test('SAs matching the selector get the entry; relabelled in and out; created later; exact cleanup', async () => {
  const ns = await s.namespace('sel', { case: 'sel' });
  await s.cluster.createServiceAccount(ns, 'app', ['foreign-a'], PULL);
  await s.cluster.createServiceAccount(ns, 'worker', ['foreign-b']);
  await s.cluster.createServiceAccount(ns, 'ci-builder', ['mirror'], PULL);
  const cred = await s.credential('sel', {
    registries,
    namespaceSelector: s.selectorWith({ case: 'sel' }),
    serviceAccounts: ['default'],
    serviceAccountSelector: { matchLabels: PULL },
    excludeServiceAccounts: ['ci-builder'],
  });
  await waitForPullSecrets(s.cluster, ns, 'app', ['foreign-a', cred]);
  await waitForServiceAccount(s.cluster, ns, 'default');
  await waitForPullSecrets(s.cluster, ns, 'default', [cred]);
  await waitForCounts(s.cluster, cred, { selected: 1, ready: 1, failed: 0 });
  // Neither the unlabelled SA nor the excluded one (labelled like the others) got it.
  expect(await s.cluster.pullSecretNames(ns, 'worker')).toEqual(['foreign-b']);
  expect(await s.cluster.pullSecretNames(ns, 'ci-builder')).toEqual(['mirror']);
  expect(await injectedAnnotation(ns, 'ci-builder')).toBeUndefined();

  // Relabelled in.
  await s.cluster.labelServiceAccount(ns, 'worker', PULL);
  await waitForPullSecrets(s.cluster, ns, 'worker', ['foreign-b', cred]);

  // Someone adds an entry after ours; then the SA is relabelled out: only ours goes.
  const app = (await s.cluster.getServiceAccount(ns, 'app'))!;
  app.imagePullSecrets = [...app.imagePullSecrets!, { name: 'foreign-c' }];
  await s.cluster.replaceServiceAccount(app);
  await s.cluster.labelServiceAccount(ns, 'app', { 'regcred.io/pull': 'staging' });
  await waitForPullSecrets(s.cluster, ns, 'app', ['foreign-a', 'foreign-c']);
  expect(await injectedAnnotation(ns, 'app')).toBeUndefined();
  // Label removed altogether: the same.
  await s.cluster.labelServiceAccount(ns, 'worker', { 'regcred.io/pull': null });
  await waitForPullSecrets(s.cluster, ns, 'worker', ['foreign-b']);

  // An SA created later with the label.
  await s.cluster.createServiceAccount(ns, 'deployer', [], PULL);
  await waitForPullSecrets(s.cluster, ns, 'deployer', [cred]);

  await waitForCounts(s.cluster, cred, { selected: 1, ready: 1, failed: 0 });
  const ready = await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  expect(ready.message).toBe('pull secret present in 1 namespaces');
  await waitFor(
    async () => {
      const reasons = new Set((await s.cluster.eventsFor(cred)).map((e) => e.reason));
      return reasons.has('PullSecretAdded') && reasons.has('PullSecretRemoved');
    },
    { what: `PullSecretAdded and PullSecretRemoved Events of ${cred}` },
  );
  // Nothing else changed.
  expect(await s.cluster.pullSecretNames(ns, 'default')).toEqual([cred]);
  expect(await s.cluster.pullSecretNames(ns, 'ci-builder')).toEqual(['mirror']);
});

test('excludeServiceAccounts wins over "*" and the selector, also added later, removing exactly our entry', async () => {
  const ns = await s.namespace('excl', { case: 'excl' });
  await s.cluster.createServiceAccount(ns, 'builder', ['mirror'], PULL);
  await s.cluster.createServiceAccount(ns, 'deployer', ['theirs']);
  const cred = await s.credential('excl', {
    registries,
    namespaceSelector: s.selectorWith({ case: 'excl' }),
    serviceAccounts: ['*'],
    serviceAccountSelector: { matchLabels: PULL },
  });
  await waitForPullSecrets(s.cluster, ns, 'builder', ['mirror', cred]);
  await waitForPullSecrets(s.cluster, ns, 'deployer', ['theirs', cred]);
  await waitForServiceAccount(s.cluster, ns, 'default');
  await waitForPullSecrets(s.cluster, ns, 'default', [cred]);

  // The builder must not pull with these credentials: excluded later, it loses exactly our entry.
  await s.cluster.patchCredentialSpec(cred, { excludeServiceAccounts: ['builder'] });
  await waitForPullSecrets(s.cluster, ns, 'builder', ['mirror']);
  expect(await injectedAnnotation(ns, 'builder')).toBeUndefined();
  const generation = (await s.cluster.getCredential(cred))!.metadata.generation;
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True', observedGeneration: generation });
  await waitForCounts(s.cluster, cred, { selected: 1, ready: 1, failed: 0 });
  expect(await s.cluster.pullSecretNames(ns, 'deployer')).toEqual(['theirs', cred]);
  expect(await s.cluster.pullSecretNames(ns, 'default')).toEqual([cred]);

  // Someone (not us) adds the same entry to the excluded SA: it is theirs, and stays.
  const builder = (await s.cluster.getServiceAccount(ns, 'builder'))!;
  builder.imagePullSecrets = [...builder.imagePullSecrets!, { name: cred }];
  await s.cluster.replaceServiceAccount(builder);
  await s.cluster.labelServiceAccount(ns, 'builder', { touched: 'yes' });
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
  await waitForCounts(s.cluster, cred, { selected: 1, ready: 1, failed: 0 });
  expect(await s.cluster.pullSecretNames(ns, 'builder')).toEqual(['mirror', cred]);

  // The exclusion lifted: the builder is selected again (the entry someone added counts as theirs).
  await s.cluster.patchCredentialSpec(cred, { excludeServiceAccounts: [] });
  const lifted = (await s.cluster.getCredential(cred))!.metadata.generation;
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True', observedGeneration: lifted });
  expect(await s.cluster.pullSecretNames(ns, 'builder')).toEqual(['mirror', cred]);
});
