// injection: Pods on an operator that serves no admission webhook (--webhook-bind-address 0, the
// default): Pods would get no entry, so the ServiceAccounts keep theirs and a Warning Event says why.
import { basicAuthSecret } from '../harness/cluster.js';
import { type Scenario, startScenario, waitForPullSecrets } from '../harness/scenario.js';
import { waitFor } from '../../harness/wait.js';

let s: Scenario;
beforeAll(async () => {
  s = await startScenario('nowebhook');
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'p'));
});
afterAll(async () => s?.cleanup());

test('without the webhook, injection: Pods keeps the ServiceAccount entries and says why in a Warning Event', async () => {
  const ns = await s.namespace('a', { case: 'nowebhook' });
  const cred = await s.credential('pods', {
    registries: [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }],
    namespaceSelector: s.selectorWith({ case: 'nowebhook' }),
    injection: 'Pods',
  });
  await waitForPullSecrets(s.cluster, ns, 'default', [cred]);
  await waitFor(
    async () =>
      (await s.cluster.eventsFor(cred)).some(
        (e) =>
          e.type === 'Warning' &&
          e.reason === 'PodInjectionUnavailable' &&
          /--webhook-bind-address/.test(e.message ?? ''),
      ),
    { what: `a PodInjectionUnavailable Event of ${cred}` },
  );
  // Still there once the Event has been written: nothing removed the entry.
  await waitForPullSecrets(s.cluster, ns, 'default', [cred]);
});
