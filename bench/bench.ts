// One control plane and the benchmark's own client on it (Bench), the floor that issues the
// operator's writes directly (Floor), and the operator modes measured (qps0, defaults).
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../src/k8s/client.js';
import { accessFromKubeConfig } from '../src/k8s/kubeconfig.js';
import { systemClock } from '../src/runtime/clock.js';
import { run, startControlPlane, type ControlPlane } from '../harness/controlplane.js';
import { imageNodeFlags, startOperator, type OperatorProcess } from '../harness/operator.js';
import { waitFor } from '../harness/wait.js';
import {
  CONCURRENCY,
  CREDENTIALS,
  MERGE,
  OPERATOR_MAIN,
  PULL_LABEL,
  ROOT,
  SA_USER,
  SAS,
  SYSTEM,
  TARGETING,
  WARMUP,
} from './config.js';
import { log, pool, seconds, shippedSettings, sleep } from './support.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type Status = {
  status?: { namespaces?: { ready: number; selected: number }; conditions?: Array<{ type: string; status: string }> };
};

/** One control plane and the benchmark's own client on it. */
export class Bench {
  readonly client: KubeClient;
  private constructor(
    readonly cp: ControlPlane,
    client: KubeClient,
  ) {
    this.client = client;
  }

  static async start(): Promise<Bench> {
    // kcm at 500 requests a second: the `default` ServiceAccounts of 20,000 namespaces in a minute or
    // two rather than 17 (its 20 per second); it is idle once they exist.
    const cp = await startControlPlane({ withControllerManager: true, controllerManagerQps: 500 });
    const envFile = path.join(cp.dir, 'test-env.json');
    await writeFile(envFile, JSON.stringify(cp.env));
    process.env.REGCRED_TEST_ENV = envFile;
    const kc = new KubeConfig();
    kc.loadFromFile(cp.adminKubeconfig);
    return new Bench(cp, KubeClient.create(await accessFromKubeConfig(kc), { clock: systemClock, maxRetries: 5 }));
  }

  req<T>(method: Method, p: string, body?: unknown, contentType?: string): Promise<T> {
    return this.client.request<T>({ method, path: p, body, contentType, timeoutMs: 120_000 });
  }

  async stop(): Promise<void> {
    this.client.close();
    await this.cp.stop();
  }

  /** The CRD, the operator's namespace with the source Secret, its ServiceAccount and a token kubeconfig. */
  private crdEstablishedAt = 0;

  /**
   * kube-controller-manager's garbage collector picks up new resources every 30 s. Until it watches
   * RegistryCredentials, it checks each new dependent of one (the copies carry an ownerReference)
   * with a GET of the copy: 2,000 extra requests in a fan-out of 2,000 that a cluster running for
   * longer than that does not see, and the floor's Secrets never cause. The fan-outs start after it.
   */
  async garbageCollectorSettled(): Promise<void> {
    const due = this.crdEstablishedAt + 40_000;
    if (due > performance.now()) await sleep(due - performance.now());
  }

  async install(): Promise<string> {
    const crd = await this.cp.kubectl(['apply', '-f', path.join(ROOT, 'crds')]);
    if (crd.code !== 0) throw new Error(crd.stderr);
    await this.cp.kubectl(['wait', '--for=condition=Established', 'crd/registrycredentials.regcred.io']);
    this.crdEstablishedAt = performance.now();
    await this.req('POST', '/api/v1/namespaces', { metadata: { name: SYSTEM } });
    await this.req('POST', `/api/v1/namespaces/${SYSTEM}/secrets`, {
      metadata: { name: 'robot' },
      stringData: { username: 'bench', password: 'p0' },
    });
    await this.req('POST', `/api/v1/namespaces/${SYSTEM}/serviceaccounts`, { metadata: { name: 'regcred-operator' } });
    await this.req('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      metadata: { name: 'regcred-bench-operator-sa' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: 'regcred-operator', namespace: SYSTEM }],
    });
    const token = await this.cp.kubectl(['-n', SYSTEM, 'create', 'token', 'regcred-operator', '--duration=6h']);
    if (token.code !== 0) throw new Error(token.stderr);
    const kc = new KubeConfig();
    kc.loadFromFile(this.cp.adminKubeconfig);
    const cluster = kc.getCurrentCluster()!;
    const file = path.join(this.cp.dir, 'regcred-operator-sa.kubeconfig');
    await writeFile(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
        users: [{ name: 'sa', user: { token: token.stdout.trim() } }],
        contexts: [{ name: 'c', context: { cluster: 'c', user: 'sa' } }],
        'current-context': 'c',
      }),
      { mode: 0o600 },
    );
    return file;
  }

  async namespaces(names: Array<readonly [string, string]>, serviceAccounts = SAS.slice(1)): Promise<void> {
    await pool(names, 32, ([name, set]) =>
      this.req('POST', '/api/v1/namespaces', { metadata: { name, labels: { bench: set } } }),
    );
    await pool(names, 32, async ([ns]) => {
      for (const sa of serviceAccounts)
        await this.req('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, {
          metadata: { name: sa, labels: { [PULL_LABEL]: 'bench' } },
        });
    });
    await waitFor(
      async () =>
        (
          await this.req<{ items: unknown[] }>(
            'GET',
            '/api/v1/serviceaccounts?fieldSelector=metadata.name%3Ddefault&labelSelector=',
          )
        ).items.length >= names.length,
      { timeoutMs: 30 * 60_000, intervalMs: 1000, what: 'default ServiceAccounts' },
    );
  }

  /**
   * Watches `path` from its current resourceVersion until `seen` has returned true; completion is
   * observed as it happens (no polling interval, no list load on the API server).
   */
  async watchUntil<T extends object>(
    p: string,
    query: { labelSelector?: string; fieldSelector?: string },
    seen: (obj: T) => boolean,
  ) {
    const q = new URLSearchParams({ limit: '1', ...query }).toString();
    const rv = (await this.req<{ metadata: { resourceVersion: string } }>('GET', `${p}?${q}`)).metadata.resourceVersion;
    const abort = new AbortController();
    let reached!: () => void;
    const done = new Promise<void>((resolve) => (reached = resolve));
    const ended = this.client.watch<T>(
      p,
      { ...query, resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: 3600 },
      (e) => {
        if (e.type !== 'BOOKMARK' && seen(e.object)) reached();
      },
      abort.signal,
    );
    return {
      done: Promise.race([done, ended.then(() => Promise.reject(new Error(`the watch of ${p} ended first`)))]),
      stop: async () => {
        abort.abort();
        await ended.catch(() => undefined);
      },
    };
  }

  /**
   * A RegistryCredential over the namespaces labelled `bench` in `sets`. With `targeting`
   * (BENCH_TARGETING), the same namespaces and ServiceAccounts reached through the targeting fields:
   * each set's namespaces are named `<set>-*`.
   */
  credential(name: string, sets: string[], extra: Record<string, unknown> = {}, targeting = TARGETING) {
    return {
      apiVersion: 'regcred.io/v1alpha1',
      kind: 'RegistryCredential',
      metadata: { name },
      spec: {
        registries: [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }],
        namespaceSelector: { matchExpressions: [{ key: 'bench', operator: 'In', values: sets }] },
        secretName: 'pull',
        ...(targeting
          ? {
              namespaceNames: sets.map((set) => `${set}-*`),
              excludeNamespaces: ['kube-*', '*-sandbox'],
              serviceAccounts: ['default'],
              serviceAccountSelector: { matchLabels: { [PULL_LABEL]: 'bench' } },
              excludeServiceAccounts: ['builder'],
              secretTemplate: {
                labels: { team: 'bench', 'argocd.argoproj.io/secret-type': 'repository' },
                annotations: { 'argocd.argoproj.io/compare-options': 'IgnoreExtraneous' },
              },
            }
          : { serviceAccounts: SAS }),
        ...extra,
      },
    };
  }

  /**
   * Creates a RegistryCredential and returns once its status says `want` namespaces are ready (in
   * seconds); undefined when that takes longer than `timeoutMs`.
   */
  async applyAndConverge(
    body: { metadata: { name: string } },
    want: number,
    timeoutMs = 3_600_000,
  ): Promise<number | undefined> {
    const watch = await this.watchUntil<Status>(
      CREDENTIALS,
      { fieldSelector: `metadata.name=${body.metadata.name}` },
      converged(want),
    );
    const t0 = performance.now();
    await this.req('POST', CREDENTIALS, body);
    let timer: NodeJS.Timeout | undefined;
    const reached = await Promise.race([
      watch.done.then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    const took = seconds(t0);
    await watch.stop();
    return reached ? took : undefined;
  }

  async deleteCredential(name: string): Promise<number> {
    const t0 = performance.now();
    await this.req('DELETE', `${CREDENTIALS}/${name}`);
    await waitFor(
      () =>
        this.req('GET', `${CREDENTIALS}/${name}`).then(
          () => false,
          () => true,
        ),
      { timeoutMs: 30 * 60_000, intervalMs: 250, what: `RegistryCredential ${name} cleaned up` },
    );
    return seconds(t0);
  }

  /** Serves and cleans up a throwaway RegistryCredential over the warm-* namespaces (JIT, caches). */
  async warmUp(op: OperatorProcess): Promise<void> {
    if (WARMUP <= 0) return;
    await this.applyAndConverge(this.credential('warmup', ['warm']), WARMUP);
    await this.deleteCredential('warmup');
    await waitFor(async () => (await op.metric('regcred_workqueue_depth')) === 0, { timeoutMs: 60_000 });
  }

  async setSource(password: string): Promise<void> {
    await this.req('PATCH', `/api/v1/namespaces/${SYSTEM}/secrets/robot`, { stringData: { password } }, MERGE);
  }
}

export const converged = (want: number) => (c: Status) =>
  (c.status?.namespaces?.ready ?? 0) >= want &&
  c.status?.conditions?.find((x) => x.type === 'Ready')?.status === 'True';

export const documentFor = (password: string) =>
  Buffer.from(
    JSON.stringify({
      auths: {
        'r.example.com': {
          username: 'bench',
          password,
          auth: Buffer.from(`bench:${password}`).toString('base64'),
        },
      },
    }),
  ).toString('base64');

export const names = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

// ---- the floor: the same writes, issued directly ----------------------------------------------------

export class Floor {
  constructor(private readonly b: Bench) {}

  private secret(ns: string, document: string) {
    return {
      metadata: { name: 'pull', namespace: ns, labels: { 'bench-floor': 'true' } },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': document },
    };
  }

  /** The fan-out's writes over `nss`: a Secret and 3 ServiceAccount patches each. */
  async fanOut(nss: string[]): Promise<number> {
    const document = documentFor('p0');
    const t0 = performance.now();
    await pool(nss, CONCURRENCY, async (ns) => {
      await this.b.req('POST', `/api/v1/namespaces/${ns}/secrets`, this.secret(ns, document));
      for (const sa of SAS)
        await this.b.req(
          'PATCH',
          `/api/v1/namespaces/${ns}/serviceaccounts/${sa}`,
          { imagePullSecrets: [{ name: 'pull' }] },
          MERGE,
        );
    });
    return seconds(t0);
  }

  /** Undoes a fan-out (not timed), so that another can be measured on the same namespaces. */
  async reset(nss: string[]): Promise<void> {
    await pool(nss, 32, async (ns) => {
      await this.b.req('DELETE', `/api/v1/namespaces/${ns}/secrets/pull`).catch(() => undefined);
      for (const sa of SAS)
        await this.b.req('PATCH', `/api/v1/namespaces/${ns}/serviceaccounts/${sa}`, { imagePullSecrets: null }, MERGE);
    });
  }

  /** The rotation's writes: one update per copy. */
  async rotate(nss: string[], password: string): Promise<number> {
    const document = documentFor(password);
    const t0 = performance.now();
    await pool(nss, CONCURRENCY, (ns) =>
      this.b.req('PUT', `/api/v1/namespaces/${ns}/secrets/pull`, this.secret(ns, document)),
    );
    return seconds(t0);
  }

  /** A minimal reactor for a new namespace: the Secret, then the `default` SA once it exists. */
  react(ns: string): void {
    void (async () => {
      await this.b.req('POST', `/api/v1/namespaces/${ns}/secrets`, this.secret(ns, documentFor('p0')));
      await waitFor(
        async () =>
          this.b
            .req(
              'PATCH',
              `/api/v1/namespaces/${ns}/serviceaccounts/default`,
              { imagePullSecrets: [{ name: 'pull' }] },
              MERGE,
            )
            .then(
              () => true,
              () => false,
            ),
        { timeoutMs: 60_000, intervalMs: 5 },
      );
    })();
  }
}

// ---- operator modes ------------------------------------------------------------------------------------

export interface Mode {
  name: string;
  start(): Promise<OperatorProcess>;
  user: string;
}

export async function modes(b: Bench, saKubeconfig: string): Promise<Record<string, Mode>> {
  const helm = (await run('bash', [path.join(ROOT, 'hack', 'build-helm.sh')], { timeoutMs: 600_000 })).stdout
    .trim()
    .split('\n')
    .pop()!;
  const shipped = await shippedSettings(
    ROOT,
    async () =>
      (
        await run(
          helm,
          [
            'template',
            'regcred-operator',
            path.join(ROOT, 'deploy', 'helm', 'regcred-operator'),
            '--namespace',
            SYSTEM,
          ],
          {
            env: {
              ...process.env,
              HELM_CACHE_HOME: path.join(b.cp.dir, 'helm'),
              HELM_CONFIG_HOME: path.join(b.cp.dir, 'helm'),
            },
          },
        )
      ).stdout,
    SYSTEM,
  );
  log(
    `defaults: deploy/ and the chart agree: ${JSON.stringify(shipped.tuning)}; ` +
      `node flags of the image (every operator here runs with them): ${(await imageNodeFlags()).join(' ') || 'none'}`,
  );
  const common = {
    sourceNamespace: SYSTEM,
    kubeconfig: saKubeconfig,
    user: SA_USER,
    bindClusterAdmin: false,
    main: OPERATOR_MAIN,
  };
  return {
    qps0: {
      name: 'qps0',
      user: SA_USER,
      start: () =>
        startOperator({
          ...common,
          args: ['--concurrency', String(CONCURRENCY), '--kube-api-qps', '0', '--log-level', 'warn'],
        }),
    },
    defaults: {
      name: 'defaults',
      user: SA_USER,
      // The harness's own --log-level debug and --verify-registries=false come first: the shipped
      // level is given again (a flag wins over REGCRED_LOG_LEVEL), and registries stay unchecked
      // (the made-up r.example.com must not be contacted: one check per registry and interval).
      start: () =>
        startOperator({
          ...common,
          args: [...shipped.args, `--log-level=${shipped.tuning.logLevel}`],
          env: shipped.env,
        }),
    },
  };
}
