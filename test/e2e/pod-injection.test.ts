// Pod injection on the real node: in a namespace whose ServiceAccount belongs to a reconciler that
// resets it to its declared form on every change (as operators that own their ServiceAccounts do),
// a Deployment pulls from a private registry and runs, with the entry the webhook added to its Pod,
// and the ServiceAccount never carries it. With the operator stopped, Pod creation is not blocked
// (failurePolicy Ignore); podRecovery replaces that Pod once the operator is back.
import { AdmissionregistrationV1Api, KubeConfig, Watch, type V1ServiceAccount } from '@kubernetes/client-node';
import { registerPodWebhook, webhookServing } from '../../harness/admission.js';
import { testEnv } from '../../harness/controlplane.js';
import { waitFor } from '../../harness/wait.js';
import { basicAuthSecret } from '../harness/cluster.js';
import { trustRegistry } from '../harness/node.js';
import { type Registry, type RegistryUser, startRegistry } from '../harness/registry.js';
import { type Scenario, startScenario, waitForSecret } from '../harness/scenario.js';
import { appImageLayout, isRunning, nodeEnv, podPullSecrets, waitingReasons, Workloads } from '../harness/workloads.js';

const robot: RegistryUser = { username: 'robot', password: 'inj3ct-Pa55' };
const SA = 'app';

let s: Scenario;
let w: Workloads;
let registry: Registry;
let admission: AdmissionregistrationV1Api;
let webhookName: string | undefined;
let reconciler: SaReconciler | undefined;
let ns: string;
let cred: string;
let image: string;

/**
 * The owner of a ServiceAccount: it declares the SA's imagePullSecrets and, on every change it watches, replaces the
 * SA with that declared form, stripping whatever anyone else added. It remembers every version it saw.
 */
class SaReconciler {
  readonly seen: string[][] = [];
  resets = 0;
  private abort?: AbortController;

  constructor(
    private readonly kc: KubeConfig,
    readonly namespace: string,
    readonly name: string,
    readonly declared: string[],
  ) {}

  async start(): Promise<void> {
    await w.core.createNamespacedServiceAccount({
      namespace: this.namespace,
      body: { metadata: { name: this.name }, imagePullSecrets: this.declared.map((name) => ({ name })) },
    });
    this.abort = await new Watch(this.kc).watch(
      `/api/v1/namespaces/${this.namespace}/serviceaccounts`,
      { fieldSelector: `metadata.name=${this.name}` },
      (phase, sa: V1ServiceAccount) => {
        if (phase !== 'ADDED' && phase !== 'MODIFIED') return;
        const names = (sa.imagePullSecrets ?? []).map((r) => r.name ?? '');
        this.seen.push(names);
        if (JSON.stringify(names) === JSON.stringify(this.declared)) return;
        // A conflict means a newer version exists: its own event brings it here again.
        void w.core
          .replaceNamespacedServiceAccount({
            namespace: this.namespace,
            name: this.name,
            body: { ...sa, imagePullSecrets: this.declared.map((name) => ({ name })) },
          })
          .then(() => this.resets++)
          .catch(() => undefined);
      },
      () => undefined,
    );
  }

  stop(): void {
    this.abort?.abort();
  }
}

/** Whether a Pod created now (dry run: admission runs, nothing is stored) gets the credential's entry. */
async function admittedWithEntry(): Promise<boolean> {
  const pod = await w.core.createNamespacedPod({
    namespace: ns,
    dryRun: 'All',
    body: {
      metadata: { generateName: 'probe-' },
      spec: { serviceAccountName: SA, containers: [{ name: 'c0', image }] },
    },
  });
  return podPullSecrets(pod).includes(cred);
}

beforeAll(async () => {
  w = new Workloads();
  const kc = new KubeConfig();
  kc.loadFromFile(testEnv().adminKubeconfig);
  admission = kc.makeApiClient(AdmissionregistrationV1Api);
  registry = await startRegistry({ users: [robot], address: nodeEnv().gateway });
  await trustRegistry(nodeEnv(), registry.host, registry.caFile);
  await registry.push(await appImageLayout('injection'), '1', 'team/app:1');
  image = `${registry.host}/team/app:1`;

  const serving = await webhookServing();
  s = await startScenario('inject', { operatorArgs: serving.operatorArgs });
  webhookName = `regcred-${s.id}`;
  await registerPodWebhook(admission, webhookName, serving, s.selector);
  await s.cluster.createSecret(s.sourceNamespace, basicAuthSecret('robot', robot.username, robot.password));
  ns = await s.namespace('owned', { group: 'owned' });
  reconciler = new SaReconciler(kc, ns, SA, ['app-own']);
  await reconciler.start();
  cred = await s.credential('pods', {
    registries: [{ server: registry.host, basicAuth: { secretName: 'robot' } }],
    namespaceSelector: s.selectorWith({ group: 'owned' }),
    serviceAccounts: [SA],
    injection: 'Pods',
    podRecovery: { enabled: true },
  });
  await waitForSecret(s.cluster, ns, cred);
  await waitFor(admittedWithEntry, { timeoutMs: 30_000, what: 'the API server to call the webhook' });
}, 300_000);

afterAll(async () => {
  reconciler?.stop();
  if (webhookName) await admission.deleteMutatingWebhookConfiguration({ name: webhookName }).catch(() => undefined);
  await s?.cleanup();
  await registry?.stop();
}, 300_000);

test('the reconciler strips what others add to its ServiceAccount', async () => {
  const sa = (await s.cluster.getServiceAccount(ns, SA))!;
  await w.core.replaceNamespacedServiceAccount({
    namespace: ns,
    name: SA,
    body: { ...sa, imagePullSecrets: [{ name: 'app-own' }, { name: 'stray' }] },
  });
  await waitFor(async () => reconciler!.resets > 0 && reconciler!.seen.at(-1)?.join() === 'app-own', {
    what: 'the reconciler to reset its ServiceAccount',
  });
  expect(reconciler!.seen.some((names) => names.includes('stray'))).toBe(true);
  expect(await s.cluster.pullSecretNames(ns, SA)).toEqual(['app-own']);
});

test("a Deployment of the reconciled ServiceAccount pulls from the private registry and runs; the SA never gets the operator's entry", async () => {
  await w.createDeployment(ns, 'web', [image], SA);
  const running = await w.waitForDeploymentPod(ns, 'web', isRunning, 'running and Ready');
  expect(running.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  expect(podPullSecrets(running)).toEqual(['app-own', cred]);
  await w.waitForEvent(ns, running.metadata!.name!, 'Pulled', /Successfully pulled image/);
  expect(reconciler!.seen.length).toBeGreaterThan(0);
  expect(reconciler!.seen.filter((names) => names.includes(cred))).toEqual([]);
  expect(await s.cluster.pullSecretNames(ns, SA)).toEqual(['app-own']);
});

test('the operator stopped: a Pod is still created (without the entry); with podRecovery, once the operator is back, it is replaced by one that runs', async () => {
  await s.operator.stop();
  let stuckUid: string;
  try {
    await w.createDeployment(ns, 'later', [image], SA);
    const stuck = await w.waitForDeploymentPod(
      ns,
      'later',
      (p) => waitingReasons(p).includes('ImagePullBackOff'),
      'ImagePullBackOff',
    );
    expect(podPullSecrets(stuck)).toEqual(['app-own']);
    stuckUid = stuck.metadata!.uid!;
  } finally {
    await s.restartOperator();
  }
  const replacement = await w.waitForDeploymentPod(
    ns,
    'later',
    (p) => p.metadata!.uid !== stuckUid && isRunning(p),
    'a replacement Pod running',
  );
  expect(podPullSecrets(replacement)).toEqual(['app-own', cred]);
  expect(reconciler!.seen.filter((names) => names.includes(cred))).toEqual([]);
});
