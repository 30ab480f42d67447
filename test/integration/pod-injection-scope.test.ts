// The webhook's scope on the real API server (--webhook-scope selected, the default): the leader
// narrows the namespaceSelector of --webhook-configuration-name to the namespaces injection: Pods
// RegistryCredentials select, beside the selector the configuration had, and the API server then
// calls the webhook for no Pod elsewhere (its own metric apiserver_admission_webhook_request_total
// counts the calls). A namespace labelled later comes into scope; a selector reset by someone else
// is put back; a switch to ServiceAccounts empties the scope.
import {
  AdmissionregistrationV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1LabelSelector,
} from '@kubernetes/client-node';
import { basicAuthSecret } from '../harness/cluster.js';
import { type Scenario, startScenario, waitForSecret } from '../harness/scenario.js';
import { registerPodWebhook, webhookServing } from '../../harness/admission.js';
import { kubectl, testEnv } from '../../harness/controlplane.js';
import { sumMetric } from '../../harness/operator.js';
import { waitFor } from '../../harness/wait.js';

const served = 'registry.example.com/team/app:1';
const SCOPE_KEY = 'kubernetes.io/metadata.name';

let s: Scenario;
let admission: AdmissionregistrationV1Api;
let configurationName: string;
const webhook = 'pods.scope.regcred.io';
let podCounter = 0;

async function selector(): Promise<V1LabelSelector | undefined> {
  const configuration = await admission.readMutatingWebhookConfiguration({ name: configurationName });
  return configuration.webhooks?.[0]?.namespaceSelector;
}

/** The scope expression the operator keeps in the selector, if any. */
async function scope(): Promise<{ operator: string; values?: string[] } | undefined> {
  const expression = (await selector())?.matchExpressions?.find(
    (e) => e.key === SCOPE_KEY && (e.operator === 'In' || e.operator === 'DoesNotExist'),
  );
  return expression ? { operator: expression.operator, values: expression.values } : undefined;
}

const waitForScope = (check: (current: Awaited<ReturnType<typeof scope>>) => boolean, what: string) =>
  waitFor(async () => check(await scope()), { timeoutMs: 60_000, what });

/** The API server's count of its calls to this webhook. */
async function calls(): Promise<number> {
  const res = await kubectl(['get', '--raw', '/metrics']);
  return sumMetric(res.stdout, 'apiserver_admission_webhook_request_total', { name: webhook, type: 'admit' });
}

async function createPod(namespace: string): Promise<string[]> {
  const pod = await s.cluster.createPod(namespace, {
    metadata: { name: `p${++podCounter}` },
    spec: { automountServiceAccountToken: false, containers: [{ name: 'c', image: served }] },
  });
  return (pod.spec?.imagePullSecrets ?? []).map((reference) => reference.name ?? '');
}

/** A Pod in `namespace` gets the entry (the API server picks up a changed configuration a moment later). */
const waitForInjection = (namespace: string, entry: string) =>
  waitFor(async () => (await createPod(namespace)).includes(entry), {
    timeoutMs: 30_000,
    what: `a Pod in ${namespace} to get ${entry}`,
  });

/** A Pod in `namespace` is created without the API server calling the webhook. */
const waitForNoCall = (namespace: string) =>
  waitFor(
    async () => {
      const before = await calls();
      await createPod(namespace);
      return (await calls()) === before;
    },
    { timeoutMs: 30_000, what: `a Pod in ${namespace} created without a webhook call` },
  );

beforeAll(async () => {
  const serving = await webhookServing();
  const kc = new KubeConfig();
  kc.loadFromFile(testEnv().adminKubeconfig);
  admission = kc.makeApiClient(AdmissionregistrationV1Api);
  configurationName = `regcred-scope-${Date.now().toString(36)}`;
  s = await startScenario('scope', {
    operatorArgs: [...serving.operatorArgs, '--webhook-configuration-name', configurationName],
  });
  // As the chart renders it: the exclusions, and here this scenario's label (no other test's Pods).
  await registerPodWebhook(
    admission,
    configurationName,
    serving,
    {
      matchLabels: s.selector.matchLabels,
      matchExpressions: [{ key: SCOPE_KEY, operator: 'NotIn', values: ['kube-system', s.sourceNamespace] }],
    },
    webhook,
  );
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'p'));
}, 120_000);

afterAll(async () => {
  if (admission && configurationName)
    await admission.deleteMutatingWebhookConfiguration({ name: configurationName }).catch(() => undefined);
  await s?.cleanup();
});

test('the webhook is called only in the namespaces injection: Pods selects; later ones join; a reset is put back; ServiceAccounts mode empties it', async () => {
  const inside = await s.namespace('in', { inject: 'yes' });
  const outside = await s.namespace('out');
  // no RegistryCredential injects yet: no namespace in scope, the rest of the selector kept
  await waitForScope((current) => current?.operator === 'DoesNotExist', 'an empty scope');
  expect((await selector())?.matchLabels).toEqual(s.selector.matchLabels);
  expect((await selector())?.matchExpressions).toContainEqual({
    key: SCOPE_KEY,
    operator: 'NotIn',
    values: ['kube-system', s.sourceNamespace],
  });
  await waitForNoCall(inside);

  const cred = await s.credential('scope', {
    registries: [{ server: 'registry.example.com', basicAuth: { secretName: 'robot' }, verify: { enabled: false } }],
    namespaceSelector: s.selectorWith({ inject: 'yes' }),
    injection: 'Pods',
  });
  await waitForScope((current) => JSON.stringify(current?.values) === JSON.stringify([inside]), `scope [${inside}]`);
  await waitForSecret(s.cluster, inside, cred);
  await waitForInjection(inside, cred);
  await waitForNoCall(outside);

  // a namespace selected later comes into scope
  await s.cluster.labelNamespace(outside, { inject: 'yes' });
  await waitForScope(
    (current) => JSON.stringify(current?.values) === JSON.stringify([inside, outside].sort()),
    'both namespaces in scope',
  );
  await waitForSecret(s.cluster, outside, cred);
  await waitForInjection(outside, cred);

  // someone (a chart upgrade, a GitOps sync) resets the selector: the leader puts the scope back
  await admission.patchMutatingWebhookConfiguration(
    {
      name: configurationName,
      body: [
        {
          op: 'replace',
          path: '/webhooks/0/namespaceSelector',
          value: { matchLabels: s.selector.matchLabels },
        },
      ],
    },
    setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
  );
  expect(await scope()).toBeUndefined();
  await waitForScope((current) => current?.values?.length === 2, 'the scope put back after a reset');

  // ServiceAccounts mode: nothing left for the webhook to do, no namespace in scope
  await s.cluster.patchCredentialSpec(cred, { injection: 'ServiceAccounts' });
  await waitForScope((current) => current?.operator === 'DoesNotExist', 'an empty scope again');
  await waitForNoCall(inside);
  expect(await s.operator.metric('regcred_webhook_scope_namespaces')).toBe(0);
}, 300_000);
