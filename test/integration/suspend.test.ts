// spec.suspend: true stops every change to targets and deletes nothing; status says Suspended.
// Resuming converges everything that changed meanwhile.
import { basicAuthSecret } from '../harness/cluster.js';
import { auditMark, describeRequests, writesSince } from '../harness/audit.js';
import {
  passwordFor,
  type Scenario,
  startScenario,
  waitForCondition,
  waitForPullSecrets,
  waitForSecret,
} from '../harness/scenario.js';
import { waitFor } from '../../harness/wait.js';

let s: Scenario;
beforeAll(async () => {
  s = await startScenario('suspend');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'before'));
});
afterAll(async () => s?.cleanup());

test('suspended: no writes to Secrets or ServiceAccounts, nothing deleted; resumed: converged', async () => {
  const ns = await s.namespace('a');
  const cred = await s.credential('s', {
    registries: [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }],
    namespaceSelector: s.selector,
  });
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });

  await s.cluster.patchCredentialSpec(cred, { suspend: true });
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'False', reason: 'Suspended' });
  const mark = await auditMark();
  const reconciles = await s.operator.metric('regcred_reconcile_total');
  // rotate the source, drop the SA entry, add a namespace, deselect the old one
  await s.cluster.setPassword(s.sourceNamespace, 'robot', 'after');
  const sa = (await s.cluster.getServiceAccount(ns, 'default'))!;
  sa.imagePullSecrets = [];
  await s.cluster.replaceServiceAccount(sa);
  const later = await s.namespace('later');
  await s.cluster.labelNamespace(ns, { 'regcred-test': 'elsewhere' });
  await waitFor(async () => (await s.operator.metric('regcred_reconcile_total')) >= reconciles + 3, {
    what: 'the operator to see the changes',
  });
  await waitFor(async () => (await s.operator.metric('regcred_workqueue_depth')) === 0, {
    what: 'an empty work queue',
  });
  const targetWrites = (await writesSince(mark, s.operator.user)).filter((e) =>
    ['secrets', 'serviceaccounts'].includes(e.objectRef?.resource ?? ''),
  );
  expect(describeRequests(targetWrites)).toEqual([]);
  expect(passwordFor(await s.cluster.getSecret(ns, cred), 'r.example.com')).toBe('before');
  expect(await s.cluster.getSecret(later, cred)).toBeUndefined();

  await s.cluster.patchCredentialSpec(cred, { suspend: false });
  await waitForSecret(s.cluster, later, cred, (x) => passwordFor(x, 'r.example.com') === 'after');
  await waitForPullSecrets(s.cluster, later, 'default', [cred]);
  await waitFor(async () => !(await s.cluster.getSecret(ns, cred)), {
    what: 'the deselected namespace to be cleaned up after resuming',
  });
  await waitForCondition(s.cluster, cred, 'Ready', { status: 'True' });
});
