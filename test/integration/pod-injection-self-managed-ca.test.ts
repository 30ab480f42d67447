// Pod injection with the self-managed CA (--webhook-self-managed-ca): the operator process creates
// its Secret (CA + serving certificate), patches the CA into the caBundle of the
// MutatingWebhookConfiguration, and the real API server calls it; with short lifetimes it renews the
// serving certificate and rotates the CA while Pods are being created, and no admission is lost:
// every Pod carries the entry, and the API server counts no failed (failed-open) call.
import {
  AdmissionregistrationV1Api,
  KubeConfig,
  type V1MutatingWebhookConfiguration,
  type V1Pod,
} from '@kubernetes/client-node';
import { X509Certificate } from 'node:crypto';
import { basicAuthSecret, Cluster } from '../harness/cluster.js';
import { type Scenario, startScenario, waitForSecret } from '../harness/scenario.js';
import { freePorts, kubectl, testEnv } from '../../harness/controlplane.js';
import { sumMetric } from '../../harness/operator.js';
import { waitFor } from '../../harness/wait.js';

const served = 'registry.example.com/team/app:1';
const SECRET = 'regcred-operator-webhook-ca';

let s: Scenario;
let admission: AdmissionregistrationV1Api;
let configurationName: string;
let secretNamespace: string;
let webhookName: string;
let ns: string;
let cred: string;
let podCounter = 0;

function pod(): V1Pod {
  return {
    metadata: { name: `p${++podCounter}` },
    spec: {
      serviceAccountName: 'web',
      automountServiceAccountToken: false,
      containers: [{ name: 'c', image: served }],
    },
  };
}

async function createdEntries(): Promise<string[]> {
  const result = await s.cluster.createPod(ns, pod());
  return (result.spec?.imagePullSecrets ?? []).map((reference) => reference.name ?? '');
}

/** SHA-256 fingerprints of the CAs in the configuration's caBundle. */
async function bundle(): Promise<string[]> {
  const configuration: V1MutatingWebhookConfiguration = await admission.readMutatingWebhookConfiguration({
    name: configurationName,
  });
  const text = Buffer.from(configuration.webhooks?.[0]?.clientConfig.caBundle ?? '', 'base64').toString();
  return (text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((pem) =>
    String(new X509Certificate(pem).fingerprint256),
  );
}

/** The API server's own count of this webhook's calls: all, and those that failed (and so were ignored). */
async function apiServerCalls(): Promise<{ ok: number; failed: number }> {
  const res = await kubectl(['get', '--raw', '/metrics']);
  const labels = { name: webhookName, type: 'admit', operation: 'CREATE' };
  const all = sumMetric(res.stdout, 'apiserver_admission_webhook_request_total', labels);
  const ok = sumMetric(res.stdout, 'apiserver_admission_webhook_request_total', { ...labels, code: '200' });
  const failOpen = sumMetric(res.stdout, 'apiserver_admission_webhook_fail_open_count', { name: webhookName });
  return { ok, failed: all - ok + failOpen };
}

const steps = (action: string) => s.operator.metric('regcred_webhook_certificate_steps_total', { action });

beforeAll(async () => {
  const [port] = await freePorts(1);
  const kc = new KubeConfig();
  kc.loadFromFile(testEnv().adminKubeconfig);
  admission = kc.makeApiClient(AdmissionregistrationV1Api);
  const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  configurationName = `regcred-selfca-${suffix}`;
  webhookName = `pods.${suffix}.regcred.io`;
  // The operator's own namespace, where it keeps its CA Secret.
  secretNamespace = `selfca-ca-${suffix}`;
  await Cluster.admin().createNamespace(secretNamespace);
  s = await startScenario('selfca', {
    operatorArgs: [
      ...['--webhook-secret-namespace', secretNamespace],
      ...['--webhook-bind-address', `127.0.0.1:${port}`, '--webhook-self-managed-ca'],
      ...['--webhook-configuration-name', configurationName, '--webhook-dns-names', '127.0.0.1'],
      // short lifetimes: the serving certificate is renewed every ~10 s, the CA rotated at ~30 s
      ...['--webhook-ca-lifetime-seconds', '45', '--webhook-cert-lifetime-seconds', '15'],
      ...['--webhook-cert-propagation-seconds', '3'],
    ],
  });
  // What the chart renders: no caBundle; the operator fills it in.
  await admission.createMutatingWebhookConfiguration({
    body: {
      metadata: { name: configurationName },
      webhooks: [
        {
          name: webhookName,
          admissionReviewVersions: ['v1'],
          clientConfig: { url: `https://127.0.0.1:${port}/mutate/pods` },
          rules: [
            { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' },
          ],
          namespaceSelector: { matchLabels: s.selector.matchLabels },
          failurePolicy: 'Ignore',
          sideEffects: 'None',
          timeoutSeconds: 2,
        },
      ],
    },
  });
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'p'));
  ns = await s.namespace('pods');
  await s.cluster.createServiceAccount(ns, 'web');
  cred = await s.credential('selfca', {
    registries: [{ server: 'registry.example.com', basicAuth: { secretName: 'robot' }, verify: { enabled: false } }],
    namespaceSelector: s.selector,
    serviceAccounts: ['web'],
    injection: 'Pods',
  });
  await waitForSecret(s.cluster, ns, cred);
});

afterAll(async () => {
  if (admission && configurationName)
    await admission.deleteMutatingWebhookConfiguration({ name: configurationName }).catch(() => undefined);
  await s?.cleanup();
  if (secretNamespace) await Cluster.admin().deleteNamespace(secretNamespace);
});

test('the operator creates its CA Secret, patches the caBundle, and the API server calls it', async () => {
  const secret = await waitFor(() => s.cluster.getSecret(secretNamespace, SECRET), {
    what: 'the self-managed CA Secret',
  });
  expect(Object.keys(secret.data ?? {}).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
  const ca = new X509Certificate(Buffer.from(secret.data!['ca.crt']!, 'base64'));
  await waitFor(async () => ((await bundle()).includes(ca.fingerprint256) ? true : undefined), {
    what: 'the CA in the caBundle',
  });
  // The API server starts calling a new configuration a moment after it changes.
  await waitFor(async () => ((await createdEntries()).includes(cred) ? true : undefined), {
    timeoutMs: 30_000,
    what: 'the API server to call the webhook',
  });
  // No ServiceAccount edit: the entry is only on Pods.
  expect(await s.cluster.pullSecretNames(ns, 'web')).toEqual([]);
});

test('serving-certificate renewal and CA rotation under a Pod creation loop lose no admission', async () => {
  // From here on every call must succeed: wait until the first ones do, then count.
  await waitFor(async () => ((await createdEntries()).includes(cred) ? true : undefined), {
    timeoutMs: 30_000,
    what: 'the webhook to answer',
  });
  const firstCa = (await bundle())[0]!;
  const before = await apiServerCalls();
  const startSteps = {
    renew: await steps('renewServing'),
    promote: await steps('promoteCa'),
    retire: await steps('retireCa'),
  };
  const loopPods: string[] = [];
  const missing: string[] = [];
  // The loop ends when a whole CA rotation (staged, promoted, the former CA retired and dropped from
  // the bundle) and a serving renewal have happened while it ran.
  const rotated = async () =>
    (await steps('renewServing')) > startSteps.renew &&
    (await steps('promoteCa')) > startSteps.promote &&
    (await steps('retireCa')) > startSteps.retire &&
    (await bundle()).length === 1 &&
    (await bundle())[0] !== firstCa;
  await waitFor(
    async () => {
      for (let i = 0; i < 5; i++) {
        const entries = await createdEntries();
        loopPods.push(`p${podCounter}`);
        if (!entries.includes(cred)) missing.push(`p${podCounter}`);
      }
      return rotated();
    },
    { timeoutMs: 120_000, intervalMs: 1, what: 'a serving renewal and a whole CA rotation under the loop' },
  );
  expect(missing).toEqual([]);
  const after = await apiServerCalls();
  expect(after.failed - before.failed).toBe(0);
  expect(after.ok - before.ok).toBeGreaterThanOrEqual(loopPods.length);
  expect(loopPods.length).toBeGreaterThan(0);
  // The Pods the API server stored carry the entry too.
  const stored = new Map(
    (await s.cluster.core.listNamespacedPod({ namespace: ns })).items.map((p) => [p.metadata!.name!, p]),
  );
  const withoutEntry = loopPods.filter(
    (name) => !(stored.get(name)?.spec?.imagePullSecrets ?? []).some((reference) => reference.name === cred),
  );
  expect(withoutEntry).toEqual([]);
}, 180_000);

test('the CA Secret is owned by the configuration: deleting the configuration deletes it, and a new configuration gets a new one', async () => {
  const ownerOf = (secret: { metadata?: { ownerReferences?: Array<{ kind: string; name: string; uid: string }> } }) =>
    secret.metadata?.ownerReferences?.find((o) => o.kind === 'MutatingWebhookConfiguration');
  const configuration = await admission.readMutatingWebhookConfiguration({ name: configurationName });
  const secret = await waitFor(
    async () => {
      const current = await s.cluster.getSecret(secretNamespace, SECRET);
      return current && ownerOf(current)?.uid === configuration.metadata?.uid ? current : undefined;
    },
    { what: 'the CA Secret owned by the configuration' },
  );
  expect(ownerOf(secret)).toMatchObject({ name: configurationName, apiVersion: 'admissionregistration.k8s.io/v1' });
  // what helm uninstall / kubectl delete -k does: the configuration goes, the garbage collector takes the Secret
  await admission.deleteMutatingWebhookConfiguration({ name: configurationName });
  await waitFor(async () => ((await s.cluster.getSecret(secretNamespace, SECRET)) ? undefined : true), {
    timeoutMs: 60_000,
    what: 'the garbage collector to delete the CA Secret',
  });
  // installed again: a new configuration (another uid), a new Secret owned by it, its CA in the bundle
  const again = await admission.createMutatingWebhookConfiguration({
    body: {
      metadata: { name: configurationName },
      // as the chart renders it: no caBundle
      webhooks: (configuration.webhooks ?? []).map((webhook) => ({
        ...webhook,
        clientConfig: { url: webhook.clientConfig.url },
      })),
    },
  });
  const renewed = await waitFor(
    async () => {
      const current = await s.cluster.getSecret(secretNamespace, SECRET);
      return current && ownerOf(current)?.uid === again.metadata?.uid ? current : undefined;
    },
    { timeoutMs: 60_000, what: 'a new CA Secret owned by the new configuration' },
  );
  const ca = new X509Certificate(Buffer.from(renewed.data!['ca.crt']!, 'base64'));
  await waitFor(async () => ((await bundle()).includes(ca.fingerprint256) ? true : undefined), {
    timeoutMs: 60_000,
    what: 'the new CA in the new configuration caBundle',
  });
}, 180_000);
