// Spec second round, Pod injection: with injection: Pods the real API server calls the operator's
// mutating admission webhook (over loopback, by url: with a caBundle, failurePolicy: Ignore), which
// appends the copy's name to each new Pod of a selected ServiceAccount whose images the copy serves;
// no ServiceAccount is edited, the entries added in ServiceAccounts mode are removed, and a stopped
// operator does not block Pod creation.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import * as path from 'node:path';
import {
  AdmissionregistrationV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import { basicAuthSecret } from '../harness/cluster.js';
import { type Scenario, startScenario, waitForPullSecrets, waitForSecret } from '../harness/scenario.js';
import { createCertificateAuthority, issueServerCertificate } from '../../harness/tls.js';
import { freePorts, testEnv } from '../../harness/controlplane.js';
import { waitFor } from '../../harness/wait.js';

const served = 'registry.example.com/team/app:1';
const unserved = 'other.example.com/app:1';

let s: Scenario;
let admission: AdmissionregistrationV1Api;
let webhookName: string;
let ns: string;
let cred: string;
let podCounter = 0;

function pod(serviceAccountName: string, images: { containers: string[]; init?: string[] }, pullSecrets?: string[]) {
  const body: V1Pod = {
    metadata: { name: `p${++podCounter}` },
    spec: {
      serviceAccountName,
      automountServiceAccountToken: false,
      containers: images.containers.map((image, i) => ({ name: `c${i}`, image })),
      initContainers: images.init?.map((image, i) => ({ name: `i${i}`, image })),
      ...(pullSecrets ? { imagePullSecrets: pullSecrets.map((name) => ({ name })) } : {}),
    },
  };
  return body;
}

async function created(
  serviceAccount: string,
  images: { containers: string[]; init?: string[] },
  pullSecrets?: string[],
) {
  const result = await s.cluster.createPod(ns, pod(serviceAccount, images, pullSecrets));
  return (result.spec?.imagePullSecrets ?? []).map((reference) => reference.name);
}

beforeAll(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'regcred-webhook-'));
  const ca = await createCertificateAuthority(path.join(dir, 'ca'));
  const serving = await issueServerCertificate(ca, 'webhook', [
    'regcred-operator-webhook.regcred-system.svc',
    '127.0.0.1',
  ]);
  await writeFile(path.join(dir, 'tls.crt'), serving.cert);
  await writeFile(path.join(dir, 'tls.key'), serving.key);
  const [port] = await freePorts(1);
  s = await startScenario('podinject', {
    operatorArgs: [
      ...['--webhook-bind-address', `127.0.0.1:${port}`],
      ...['--webhook-tls-cert-file', path.join(dir, 'tls.crt'), '--webhook-tls-key-file', path.join(dir, 'tls.key')],
    ],
  });
  const kc = new KubeConfig();
  kc.loadFromFile(testEnv().adminKubeconfig);
  admission = kc.makeApiClient(AdmissionregistrationV1Api);
  webhookName = `regcred-${s.id}`;
  await admission.createMutatingWebhookConfiguration({
    body: {
      metadata: { name: webhookName },
      webhooks: [
        {
          name: 'pods.regcred.io',
          admissionReviewVersions: ['v1'],
          clientConfig: {
            url: `https://127.0.0.1:${port}/mutate/pods`,
            caBundle: (await readFile(ca.caFile)).toString('base64'),
          },
          rules: [
            { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' },
          ],
          // Only this scenario's namespaces: the API server never calls it for anyone else's Pods.
          namespaceSelector: { matchLabels: s.selector.matchLabels },
          failurePolicy: 'Ignore',
          sideEffects: 'None',
          timeoutSeconds: 2,
          reinvocationPolicy: 'IfNeeded',
        },
      ],
    },
  });
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', 'u', 'p'));
  ns = await s.namespace('pods', { case: 'pods' });
  // "web" belongs to a GitOps tool (field manager gitops), as it would in a cluster that forbids edits.
  await gitopsApply(ns, 'web', ['foreign-a']);
  await s.cluster.createServiceAccount(ns, 'builder');
  cred = await s.credential('pods', {
    registries: [{ server: 'registry.example.com', basicAuth: { secretName: 'robot' }, verify: { enabled: false } }],
    namespaceSelector: s.selectorWith({ case: 'pods' }),
    serviceAccounts: ['web'],
    injection: 'Pods',
  });
  await waitForSecret(s.cluster, ns, cred);
  // The API server starts calling a new webhook configuration a moment after it is created.
  await waitFor(async () => ((await created('web', { containers: [served] })).includes(cred) ? true : undefined), {
    timeoutMs: 30_000,
    what: 'the API server to call the webhook',
  });
});

afterAll(async () => {
  if (admission && webhookName)
    await admission.deleteMutatingWebhookConfiguration({ name: webhookName }).catch(() => undefined);
  await s?.cleanup();
});

test('a Pod of a selected SA gets the entry after its own; others are untouched; the SA is not edited', async () => {
  // the API server's ServiceAccount admission copies the SA's own entries into a Pod that lists none
  expect(await created('web', { containers: [served] })).toEqual(['foreign-a', cred]);
  expect(await created('web', { containers: [served] }, ['mine-b', 'mine-a'])).toEqual(['mine-b', 'mine-a', cred]);
  // an init container's image counts
  expect(await created('web', { containers: [unserved], init: [served] })).toEqual(['foreign-a', cred]);
  // images the credential does not serve: untouched
  expect(await created('web', { containers: [unserved] }, ['mine'])).toEqual(['mine']);
  // an SA it does not select: untouched
  expect(await created('builder', { containers: [served] })).toEqual([]);
  // listed already by the Pod: not twice
  expect(await created('web', { containers: [served] }, [cred, 'x'])).toEqual([cred, 'x']);
  expect(await s.cluster.pullSecretNames(ns, 'web')).toEqual(['foreign-a']);
});

test('server-side apply of the SA by another field manager: no conflict, and no entry of ours', async () => {
  // force: false: a field another manager (the operator) owned would be a 409 Conflict here
  await gitopsApply(ns, 'web', ['gitops-entry']);
  expect(await s.cluster.pullSecretNames(ns, 'web')).toEqual(['gitops-entry']);
});

test('switching to ServiceAccounts adds the SA entry, and back to Pods removes exactly it', async () => {
  await s.cluster.patchCredentialSpec(cred, { injection: 'ServiceAccounts' });
  await waitForPullSecrets(s.cluster, ns, 'web', ['gitops-entry', cred]);
  await s.cluster.patchCredentialSpec(cred, { injection: 'Pods' });
  await waitForPullSecrets(s.cluster, ns, 'web', ['gitops-entry']);
  expect(
    (await s.cluster.getServiceAccount(ns, 'web'))!.metadata?.annotations?.['regcred.io/injected-pull-secrets'],
  ).toBeUndefined();
  await waitFor(async () => ((await created('web', { containers: [served] })).includes(cred) ? true : undefined), {
    timeoutMs: 30_000,
    what: 'Pods to get the entry again',
  });
});

test('the webhook down (operator stopped) does not block Pod creation', async () => {
  await s.operator.stop();
  try {
    expect(await created('web', { containers: [served] }, ['mine'])).toEqual(['mine']);
  } finally {
    await s.restartOperator();
  }
  await waitFor(async () => ((await created('web', { containers: [served] })).includes(cred) ? true : undefined), {
    timeoutMs: 30_000,
    what: 'the restarted operator to answer',
  });
});

/** A server-side apply of the SA's imagePullSecrets by field manager "gitops", without force. */
async function gitopsApply(namespace: string, name: string, pullSecrets: string[]): Promise<void> {
  const body = {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name, namespace },
    imagePullSecrets: pullSecrets.map((secret) => ({ name: secret })),
  };
  await s.cluster.core.patchNamespacedServiceAccount(
    { name, namespace, body, fieldManager: 'gitops', force: false },
    setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
  );
}
