// Spec semantics 8 (cheap when idle): a converged cluster causes zero writes — after unrelated
// changes, and after the operator restarts. The API server's audit log is the witness.
import { basicAuthSecret } from '../harness/cluster.js';
import { auditMark, describeRequests, requestsSince, writesSince } from '../harness/audit.js';
import { type Scenario, startScenario, waitForCondition } from '../harness/scenario.js';
import { waitFor } from '../../harness/wait.js';

let s: Scenario;
let creds: string[];
let nss: string[];
beforeAll(async () => {
  s = await startScenario('idle');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'p'));
  nss = await Promise.all(['i1', 'i2', 'i3'].map((p) => s.namespace(p)));
  for (const ns of nss) await s.cluster.createServiceAccount(ns, 'app', ['foreign']);
  creds = [
    await s.credential('a', {
      registries: [{ server: 'a.example.com', basicAuth: { secretName: 'robot' } }],
      namespaceSelector: s.selector,
      serviceAccounts: ['*'],
    }),
    await s.credential('b', {
      registries: [{ server: 'b.example.com', basicAuth: { secretName: 'robot' } }],
      namespaceSelector: s.selector,
    }),
  ];
  for (const c of creds) await waitForCondition(s.cluster, c, 'Ready', { status: 'True' });
});
afterAll(async () => s?.cleanup());

test('unrelated changes on a converged cluster cause no writes', async () => {
  const mark = await auditMark();
  const reconciles = await s.operator.metric('regcred_reconcile_total');
  // Things the operator watches, none of which changes what it should do:
  await s.cluster.labelNamespace(nss[0]!, { unrelated: 'yes' });
  const app = (await s.cluster.getServiceAccount(nss[1]!, 'app'))!;
  app.metadata!.annotations = { ...app.metadata!.annotations, note: 'unrelated' };
  await s.cluster.replaceServiceAccount(app);
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('unrelated-source', 'x', 'y'));
  const copy = (await s.cluster.getSecret(nss[2]!, creds[0]!))!;
  copy.metadata!.annotations = { note: 'someone looked at it' };
  await s.cluster.replaceSecret(copy);
  // ...and wait until the operator has reacted to them (reconciles ran), then count its writes.
  await waitFor(async () => (await s.operator.metric('regcred_reconcile_total')) >= reconciles + 3, {
    what: 'the operator to reconcile the changes',
  });
  await waitFor(async () => (await s.operator.metric('regcred_workqueue_depth')) === 0, {
    what: 'an empty work queue',
  });
  const writes = await writesSince(mark, s.operator.user);
  expect(describeRequests(writes)).toEqual([]);
});

test('a restart on a converged cluster causes no writes and no relists after the initial one', async () => {
  const mark = await auditMark();
  await s.restartOperator();
  await waitFor(
    async () => (await s.operator.metric('regcred_reconcile_total', { kind: 'credential' })) >= creds.length,
    { what: 'the restarted operator to reconcile every credential' },
  );
  await waitFor(async () => (await s.operator.metric('regcred_workqueue_depth')) === 0, {
    what: 'an empty work queue',
  });
  const requests = await requestsSince(mark, s.operator.user);
  expect(describeRequests(requests.filter((e) => !['get', 'list', 'watch'].includes(e.verb)))).toEqual([]);
  // one list per informer (6, Pending Pods included), nothing per namespace or per object
  const lists = requests.filter((e) => e.verb === 'list');
  expect(lists.length).toBeLessThanOrEqual(6);
  expect(requests.filter((e) => e.verb === 'get')).toEqual([]);
  for (const c of creds) expect(await s.cluster.condition(c, 'Ready')).toMatchObject({ status: 'True' });
});
