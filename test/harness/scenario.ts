// One test file = one scenario: its own source namespace, its own operator process (with its own
// identity), namespaces labelled with the scenario's id so its RegistryCredentials select only
// them, and a cleanup that deletes what it created (waiting for the operator's finalizer).
import type { V1Secret } from '@kubernetes/client-node';
import { authsOf, Cluster, type Condition, type CredentialObject, uniqueSuffix } from './cluster.js';
import { readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { kubectl, testEnv } from '../../harness/controlplane.js';
import { startOperator, type OperatorProcess } from '../../harness/operator.js';
import { waitFor } from '../../harness/wait.js';

export const TEST_LABEL = 'regcred-test';

export interface Scenario {
  cluster: Cluster;
  id: string;
  sourceNamespace: string;
  operator: OperatorProcess;
  /** A selector matching exactly this scenario's namespaces. */
  selector: { matchLabels: Record<string, string> };
  /** A selector for this scenario's namespaces that also carry `labels` (one test's own group). */
  selectorWith(labels: Record<string, string>): { matchLabels: Record<string, string> };
  /** Creates a namespace labelled for this scenario (plus `labels`), deleted at the end. */
  namespace(prefix: string, labels?: Record<string, string>): Promise<string>;
  /** Creates a RegistryCredential, deleted at the end. The name is made unique. */
  credential(prefix: string, spec: Record<string, unknown>): Promise<string>;
  restartOperator(): Promise<void>;
  /** The logs of the operator processes restartOperator stopped, oldest first. */
  stoppedLogs: string[];
  cleanup(): Promise<void>;
}

export interface ScenarioOptions {
  /** Extra environment of the operator process (e.g. AWS_* for the ECR tests). */
  operatorEnv?: NodeJS.ProcessEnv;
  operatorArgs?: string[];
  /** Turns the operator's kubeconfig into another (e.g. one through harness/api-proxy.ts). */
  wrapKubeconfig?: (kubeconfig: string) => Promise<string>;
  /**
   * Run the operator as this identity (e.g. a ServiceAccount token, serviceAccountKubeconfig) instead
   * of a client certificate of its own; `user` is its user name, bound to cluster-admin like the default.
   */
  operatorIdentity?: { kubeconfig: string; user: string };
}

export async function startScenario(name: string, opts: ScenarioOptions = {}): Promise<Scenario> {
  const cluster = Cluster.admin();
  const id = `${name}-${uniqueSuffix()}`;
  const sourceNamespace = `src-${id}`;
  await cluster.createNamespace(sourceNamespace);
  const namespaces = [sourceNamespace];
  const credentials: string[] = [];
  const user = opts.operatorIdentity?.user ?? `regcred-operator-${id}`;
  const identity = opts.operatorIdentity
    ? { kubeconfig: opts.operatorIdentity.kubeconfig, bindClusterAdmin: true }
    : {};
  const scenario: Scenario = {
    cluster,
    id,
    sourceNamespace,
    operator: await startOperator({
      sourceNamespace,
      user,
      env: opts.operatorEnv,
      args: opts.operatorArgs,
      wrapKubeconfig: opts.wrapKubeconfig,
      ...identity,
    }),
    selector: { matchLabels: { [TEST_LABEL]: id } },
    selectorWith: (labels) => ({ matchLabels: { [TEST_LABEL]: id, ...labels } }),
    async namespace(prefix, labels = {}) {
      const ns = `${prefix}-${id}`.slice(0, 63).replace(/-+$/, '');
      await cluster.createNamespace(ns, { [TEST_LABEL]: id, ...labels });
      namespaces.push(ns);
      return ns;
    },
    async credential(prefix, spec) {
      const cred = `${prefix}-${id}`;
      await cluster.createCredential(cred, spec);
      credentials.push(cred);
      return cred;
    },
    stoppedLogs: [],
    async restartOperator() {
      await scenario.operator.stop();
      scenario.stoppedLogs.push(await scenario.operator.logs());
      scenario.operator = await startOperator({
        sourceNamespace,
        user,
        env: opts.operatorEnv,
        args: opts.operatorArgs,
        wrapKubeconfig: opts.wrapKubeconfig,
        ...identity,
      });
    },
    async cleanup() {
      for (const c of credentials) await cluster.deleteCredential(c);
      // The operator must still run here: its finalizer releases each credential after cleanup.
      for (const c of credentials)
        await waitFor(async () => !(await cluster.getCredential(c)), {
          timeoutMs: 60_000,
          what: `RegistryCredential ${c} to be gone`,
        });
      await scenario.operator.stop();
      for (const ns of namespaces) await cluster.deleteNamespace(ns);
    },
  };
  return scenario;
}

/**
 * A kubeconfig holding a TokenRequest token (3 h) of the ServiceAccount `namespace/name`, created
 * here when missing: an operator that must know itself as a ServiceAccount runs with it.
 */
export async function serviceAccountKubeconfig(namespace: string, name: string): Promise<string> {
  const created = await kubectl(['-n', namespace, 'create', 'serviceaccount', name]);
  if (created.code !== 0 && !created.stderr.includes('AlreadyExists')) throw new Error(created.stderr);
  const res = await kubectl(['-n', namespace, 'create', 'token', name, '--duration=3h']);
  if (res.code !== 0) throw new Error(res.stderr);
  const admin = JSON.parse(await readFile(testEnv().adminKubeconfig, 'utf8')) as {
    clusters: Array<{ cluster: Record<string, string> }>;
  };
  const file = path.join(testEnv().dir, `sa-${namespace}-${name}.kubeconfig`);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'regcred-test', cluster: admin.clusters[0]!.cluster }],
    users: [{ name, user: { token: res.stdout.trim() } }],
    contexts: [{ name: 'sa', context: { cluster: 'regcred-test', user: name, namespace } }],
    'current-context': 'sa',
  };
  await writeFile(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}

/** Waits until a condition of a RegistryCredential matches, returning it. */
export function waitForCondition(
  cluster: Cluster,
  credential: string,
  type: string,
  match: Partial<Condition>,
  timeoutMs = 60_000,
): Promise<Condition> {
  let last: unknown;
  return waitFor(
    async () => {
      const credentialObject = await cluster.getCredential(credential);
      last = credentialObject?.status;
      const c = credentialObject?.status?.conditions?.find((condition) => condition.type === type);
      return c && Object.entries(match).every(([k, v]) => c[k as keyof Condition] === v) ? c : undefined;
    },
    { timeoutMs, what: `${credential} condition ${type} ${JSON.stringify(match)}` },
  ).catch((err: Error) => {
    // what was seen last says why (a status that never came, or another reason)
    throw new Error(`${err.message}; last status seen: ${JSON.stringify(last)}`);
  });
}

type Counts = { selected: number; ready: number; failed: number };

/**
 * Waits until status.namespaces equals `counts`, returning that status. Counts follow the
 * namespaces a moment later than a condition may (a namespace's default ServiceAccount, created
 * by kube-controller-manager after the namespace, is patched after the Secret): a test asserting
 * counts waits for them, never reads them once right after another condition.
 */
export function waitForCounts(
  cluster: Cluster,
  credential: string,
  counts: Counts,
  timeoutMs = 60_000,
): Promise<NonNullable<CredentialObject['status']>> {
  return waitFor(
    async () => {
      const status = (await cluster.getCredential(credential))?.status;
      const now = status?.namespaces; // the API server returns the keys in its own order
      const same =
        now && now.selected === counts.selected && now.ready === counts.ready && now.failed === counts.failed;
      return same ? status : undefined;
    },
    { timeoutMs, what: `${credential} status.namespaces = ${JSON.stringify(counts)}` },
  );
}

/** Waits until a ServiceAccount exists (kube-controller-manager creates `default` a moment after its namespace). */
export function waitForServiceAccount(
  cluster: Cluster,
  namespace: string,
  name: string,
  timeoutMs = 60_000,
): Promise<unknown> {
  return waitFor(() => cluster.getServiceAccount(namespace, name), {
    timeoutMs,
    what: `ServiceAccount ${namespace}/${name}`,
  });
}

/** Waits until the Secret exists and `check` holds for it, returning it. */
export function waitForSecret(
  cluster: Cluster,
  namespace: string,
  name: string,
  check: (s: V1Secret) => boolean = () => true,
  timeoutMs = 60_000,
): Promise<V1Secret> {
  return waitFor(
    async () => {
      const s = await cluster.getSecret(namespace, name);
      return s && check(s) ? s : undefined;
    },
    { timeoutMs, what: `Secret ${namespace}/${name}` },
  );
}

export function waitForSecretGone(
  cluster: Cluster,
  namespace: string,
  name: string,
  timeoutMs = 60_000,
): Promise<true> {
  return waitFor(async () => !(await cluster.getSecret(namespace, name)), {
    timeoutMs,
    what: `Secret ${namespace}/${name} to be deleted`,
  });
}

/** Waits until the SA's imagePullSecrets names equal `expected` (in order). */
export function waitForPullSecrets(
  cluster: Cluster,
  namespace: string,
  sa: string,
  expected: string[],
  timeoutMs = 60_000,
): Promise<string[]> {
  return waitFor(
    async () => {
      const names = await cluster.pullSecretNames(namespace, sa);
      return names && JSON.stringify(names) === JSON.stringify(expected) ? names : undefined;
    },
    { timeoutMs, what: `ServiceAccount ${namespace}/${sa} imagePullSecrets = ${JSON.stringify(expected)}` },
  );
}

/** The password stored for `server` in a materialized Secret. */
export function passwordFor(secret: V1Secret | undefined, server: string): string | undefined {
  return authsOf(secret)?.[server]?.password;
}

/**
 * Where the operator reported one of `secrets` about this scenario: in the log of each of its
 * processes (those restartOperator stopped, and `logs`: others the test stopped), its metrics, and
 * the status and Events of the scenario's RegistryCredentials. A finding names the place and the
 * secret's index in `secrets`; a test expects none. At least one secret must be given: a search for
 * nothing would assert nothing.
 */
export async function reportedSecrets(
  s: Scenario,
  secrets: readonly string[],
  logs: readonly string[] = [],
): Promise<string[]> {
  if (secrets.length === 0 || secrets.some((secret) => secret.length === 0))
    throw new Error('reportedSecrets: no secret to look for');
  const list = (await s.cluster.custom.listClusterCustomObject({
    group: 'regcred.io',
    version: 'v1alpha1',
    plural: 'registrycredentials',
  })) as { items: Array<{ metadata: { name: string }; status?: unknown }> };
  const ours = list.items.filter((c) => c.metadata.name.endsWith(s.id));
  if (ours.length === 0) throw new Error(`reportedSecrets: scenario ${s.id} has no RegistryCredential to look at`);
  const events = await Promise.all(ours.map((c) => s.cluster.eventsFor(c.metadata.name)));
  const places: Array<[string, string]> = [
    ...[...logs, ...s.stoppedLogs, await s.operator.logs()].map((text, i): [string, string] => [`log ${i + 1}`, text]),
    ['metrics', await s.operator.metrics()],
    ['status', JSON.stringify(ours.map((c) => c.status))],
    ['events', JSON.stringify(events)],
  ];
  return places.flatMap(([where, text]) =>
    secrets.flatMap((secret, i) => (text.includes(secret) ? [`${where}: secret ${i}`] : [])),
  );
}
