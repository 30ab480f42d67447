// `npm run bench`: the operator on a real local control plane (etcd, kube-apiserver,
// kube-controller-manager), against floors measured in the same run by a tight client of the
// benchmark doing the same writes. Prints a table and writes JSON to bench/results/.
// `npm run bench -- --help` lists the sizes, modes and knobs.
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../src/k8s/client.js';
import { accessFromKubeConfig } from '../src/k8s/kubeconfig.js';
import { systemClock } from '../src/runtime/clock.js';
import { startApiProxy } from '../test/harness/api-proxy.js';
import { run, startControlPlane, type ControlPlane } from '../test/harness/controlplane.js';
import { imageNodeFlags, startOperator, sumMetric, type OperatorProcess } from '../test/harness/operator.js';
import { waitFor } from '../test/harness/wait.js';
import {
  API_WRITES,
  apfView,
  apiserverMetrics,
  apiserverRequests,
  auditOffset,
  delta,
  figures,
  fmt,
  log,
  memoryOf,
  percentile,
  pool,
  record,
  requestsSince,
  RssSampler,
  controlPlanePids,
  cpuMeter,
  showCpu,
  type Samples,
  seconds,
  shippedSettings,
  show,
  sleep,
  total,
  WRITES,
} from './support.js';

const HELP = `npm run bench [-- --quick] [-- --help]

Per size N (BENCH_SIZES): a fresh control plane; N namespaces for the floor (f-*) and N for the
operator (o-*), 3 ServiceAccounts each. The floor is the same writes issued directly by the
benchmark's client with the same concurrency, measured in the same run next to each operator phase.
Two modes of the operator, one after the other (BENCH_MODES):
  qps0      the benchmark's earlier settings: --concurrency 8 --kube-api-qps 0 --log-level warn
            (fan-out, new namespaces one by one, rotation, idle, memory, restart, cleanup)
  defaults  exactly the flags and environment deploy/ and the chart ship (checked to agree), with the
            node flags of the image's ENTRYPOINT (as every operator the harness starts), as the
            ServiceAccount regcred-system/regcred-operator (fan-out with the API server's APF view,
            rotation, trickle, idle, memory; at the largest size the pod-watch scenario)
Before the first size: the memory of the defaults mode with ${'BENCH_SMALL_NAMESPACES'} namespaces.
After the sizes: the pressure scenario (an API server made to throttle, then slow, by
test/harness/api-proxy.ts) at BENCH_PRESSURE_NAMESPACES namespaces, adaptive bound on and off.

Knobs (environment; --quick values in brackets):
  BENCH_SIZES                    500,2000,10000 [30]
  BENCH_MODES                    qps0,defaults
  BENCH_NEW_NAMESPACES           200 [10]   qps0: namespaces created one by one, latency to served
  BENCH_IDLE_SECONDS             300 [5]    idle phase of each mode
  BENCH_UNRELATED_SECRETS        25000 [200] unrelated Secrets, largest size only
  BENCH_CONCURRENCY              8          the floor's concurrency (and qps0's --concurrency)
  BENCH_ROTATIONS                3 [1]      rotations per mode, each beside the floor's; medians compared
  BENCH_WARMUP_NAMESPACES        50 [5]     served and cleaned up before each measured fan-out
  BENCH_TRICKLE_NAMESPACES       100 [5]    defaults: namespaces created one at a time ...
  BENCH_TRICKLE_INTERVAL_MS      1000 [200] ... this far apart
  BENCH_TRICKLE_SETTLE_SECONDS   75 [5]     ... then this long counted too (held Events and status)
  BENCH_SMALL_NAMESPACES         20 [5]     the small memory figure (0: skip)
  BENCH_PODS_RUNNING             20000 [100] pod-watch: Pods whose status says Running ...
  BENCH_PODS_PENDING             1000 [10]  ... and Pending ones (largest size, defaults mode)
  BENCH_PRESSURE_NAMESPACES      500 [20]   the pressure scenario (0: skip)
  BENCH_WATCHED_FLOOR=1          a second fan-out floor whose client keeps an operator's watches open
  BENCH_TARGETING=1              the RegistryCredentials reach the same namespaces and ServiceAccounts
                                 through namespaceNames (globs ANDed with the selector), exclusion globs,
                                 serviceAccountSelector with an exclusion, and shape the copies with a
                                 secretTemplate; qps0 adds the plain spec's fan-out in the same run and
                                 the phase "SA relabelled out"
`;

if (process.argv.includes('--help')) {
  process.stdout.write(HELP);
  process.exit(0);
}

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const quick = process.argv.includes('--quick');
const env = (name: string, full: string, small: string) => process.env[name] ?? (quick ? small : full);
const num = (name: string, full: string, small: string) => Number(env(name, full, small));
const SIZES = env('BENCH_SIZES', '500,2000,10000', '30').split(',').map(Number);
const MODES = env('BENCH_MODES', 'qps0,defaults', 'qps0,defaults').split(',');
const NEW_NAMESPACES = num('BENCH_NEW_NAMESPACES', '200', '10');
const IDLE_SECONDS = num('BENCH_IDLE_SECONDS', '300', '5');
const UNRELATED = num('BENCH_UNRELATED_SECRETS', '25000', '200');
const CONCURRENCY = num('BENCH_CONCURRENCY', '8', '8');
// A freshly started operator first runs its code cold (JIT, caches just listed); a production
// operator is long-running. Before the measured fan-out it serves (then cleans up) a throwaway
// RegistryCredential over this many extra namespaces, as the floor's client is warm from the setup.
const ROTATIONS = num('BENCH_ROTATIONS', '3', '1');
const WARMUP = num('BENCH_WARMUP_NAMESPACES', '50', '5');
const TRICKLE = num('BENCH_TRICKLE_NAMESPACES', '100', '5');
const TRICKLE_INTERVAL_MS = num('BENCH_TRICKLE_INTERVAL_MS', '1000', '200');
const TRICKLE_SETTLE_SECONDS = num('BENCH_TRICKLE_SETTLE_SECONDS', '75', '5');
const SMALL = num('BENCH_SMALL_NAMESPACES', '20', '5');
const PODS_RUNNING = num('BENCH_PODS_RUNNING', '20000', '100');
const PODS_PENDING = num('BENCH_PODS_PENDING', '1000', '10');
const PRESSURE = num('BENCH_PRESSURE_NAMESPACES', '500', '20');
const WATCHED_FLOOR = process.env.BENCH_WATCHED_FLOOR === '1';
const TARGETING = process.env.BENCH_TARGETING === '1';
/** The label that serviceAccountSelector matches (BENCH_TARGETING); every `app` and `ci` SA carries it. */
const PULL_LABEL = 'regcred.io/pull';
/** A phase of the pressure scenario that has not converged by then is reported as such. */
const PRESSURE_TIMEOUT_MS = 600_000;
const SAS = ['default', 'app', 'ci'];
/** Where the operator lives, as deploy/ installs it: its namespace (also the source) and ServiceAccount. */
const SYSTEM = 'regcred-system';
const SA_USER = `system:serviceaccount:${SYSTEM}:regcred-operator`;
/** A client-certificate identity (the pressure scenario's proxy forwards with a client certificate). */
const CERT_USER = 'regcred-bench-operator';
const MANAGED = 'app.kubernetes.io/managed-by=regcred-operator';
const CREDENTIALS = '/apis/regcred.io/v1alpha1/registrycredentials';
const MERGE = 'application/merge-patch+json';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
type Status = {
  status?: { namespaces?: { ready: number; selected: number }; conditions?: Array<{ type: string; status: string }> };
};

/** One control plane and the benchmark's own client on it. */
class Bench {
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

const converged = (want: number) => (c: Status) =>
  (c.status?.namespaces?.ready ?? 0) >= want &&
  c.status?.conditions?.find((x) => x.type === 'Ready')?.status === 'True';

const documentFor = (password: string) =>
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

const names = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

// ---- the floor: the same writes, issued directly ----------------------------------------------------

class Floor {
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

interface Mode {
  name: string;
  start(): Promise<OperatorProcess>;
  user: string;
}

async function modes(b: Bench, saKubeconfig: string): Promise<Record<string, Mode>> {
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
  const common = { sourceNamespace: SYSTEM, kubeconfig: saKubeconfig, user: SA_USER, bindClusterAdmin: false };
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

// ---- one size ------------------------------------------------------------------------------------------

async function runSize(n: number, largest: boolean, first: boolean): Promise<void> {
  log(`--- N=${n}: starting a control plane`);
  const b = await Bench.start();
  const floor = new Floor(b);
  let op: OperatorProcess | undefined;
  try {
    const saKubeconfig = await b.install();
    const byName = await modes(b, saKubeconfig);
    if (first && SMALL > 0 && MODES.includes('defaults')) await smallMemory(b, byName.defaults!);

    const floorNs = names('f', n);
    const opNs = names('o', n);
    let t0 = performance.now();
    await b.namespaces([
      ...floorNs.map((x) => [x, 'f'] as const),
      ...opNs.map((x) => [x, 'o'] as const),
      ...(WATCHED_FLOOR ? names('w', n).map((x) => [x, 'w'] as const) : []),
      ...names('warm', WARMUP).map((x) => [x, 'warm'] as const),
    ]);
    log(`setup: ${2 * n + WARMUP} namespaces with 3 ServiceAccounts each in ${seconds(t0).toFixed(1)} s`);
    if (largest) {
      t0 = performance.now();
      const blob = 'x'.repeat(2048); // a realistic Opaque Secret: a few keys, ~2-3 KiB
      await pool(
        Array.from({ length: UNRELATED }, (_, i) => i),
        32,
        (i) =>
          b.req('POST', `/api/v1/namespaces/${opNs[i % n]}/secrets`, {
            metadata: { name: `unrelated-${i}`, labels: { app: 'other' } },
            stringData: { 'config.yaml': blob, token: `t-${i}` },
          }),
      );
      log(`setup: ${UNRELATED} unrelated Secrets in ${seconds(t0).toFixed(1)} s`);
    }

    let password = 0;
    for (const [index, modeName] of MODES.entries()) {
      const mode = byName[modeName];
      if (!mode) throw new Error(`unknown mode ${modeName} (BENCH_MODES)`);
      if (index > 0) await floor.reset(floorNs);
      await b.garbageCollectorSettled();
      const cpPids = await controlPlanePids(b.cp);
      const floorCpu = await cpuMeter(cpPids);
      const fanoutFloor = await floor.fanOut(floorNs);
      const fanoutFloorCpu = await floorCpu();
      if (modeName === 'qps0' && WATCHED_FLOOR) await watchedFloor(b, floor, n, fanoutFloor);
      op = await mode.start();
      const sampler = new RssSampler(op.pid).start();
      sampler.enter('warm-up');
      await b.warmUp(op);

      // With BENCH_TARGETING, the plain spec's fan-out over the same namespaces first, in the same run:
      // the comparison under the same load (the machine may be shared); cleaned up before the measured one.
      if (TARGETING && modeName === 'qps0') {
        const plain = await b.applyAndConverge(b.credential('bench-plain', ['o'], {}, false), n);
        await b.deleteCredential('bench-plain');
        await quiet(op);
        if (plain !== undefined)
          record({
            size: n,
            mode: modeName,
            figure: 'fan-out: the plain spec, same run',
            unit: 's',
            operator: plain,
            floor: fanoutFloor,
          });
      }

      // 1. Fan-out.
      sampler.enter('fan-out');
      const mark = await auditOffset(b.cp);
      const api = await apiserverMetrics(b.cp);
      const cred = `bench-${modeName}`;
      const fanoutCpu = await cpuMeter({ operator: op.pid, ...cpPids });
      const fanout = await b.applyAndConverge(b.credential(cred, modeName === 'qps0' ? ['o', 'onew'] : ['o']), n);
      if (fanout === undefined) throw new Error(`${modeName}: the fan-out did not converge within an hour`);
      const everything = await requestsSince(b.cp, mark, mode.user);
      const calls = withoutLeases(everything);
      const after = await apiserverMetrics(b.cp);
      const m = modeName;
      record({
        size: n,
        mode: m,
        figure: 'fan-out: apply to every namespace converged',
        unit: 's',
        operator: fanout,
        floor: fanoutFloor,
        target: '<= 1.5x',
      });
      record({
        size: n,
        mode: m,
        figure: 'fan-out: writes',
        unit: 'writes',
        operator: total(calls, WRITES),
        floor: 4 * n,
        note: `${show(calls)}${leaseNote(everything)}`,
      });
      const apiWrites = delta(apiserverRequests(after), apiserverRequests(api));
      record({
        size: n,
        mode: m,
        figure: 'fan-out: apiserver_request_total writes',
        unit: 'writes',
        operator: total(apiWrites, API_WRITES),
        floor: 4 * n + 1,
        note: `${show(apiWrites)} (the minimum counts the bench's own create of the RegistryCredential)`,
      });
      apfFigures(n, m, api, after, await op.metric('regcred_api_requests_total', { code: '429' }));
      cpuFigure(n, m, 'fan-out', await fanoutCpu(), fanoutFloorCpu);

      // 2. New namespaces one after another (qps0): creation -> Secret present and `default` SA patched.
      if (modeName === 'qps0') await newNamespaces(b, floor, n, m);

      // 3. Rotation.
      sampler.enter('rotation');
      const copies = modeName === 'qps0' ? n + NEW_NAMESPACES : n;
      const floorCopies = modeName === 'qps0' ? [...floorNs, ...names('fnew', NEW_NAMESPACES)] : floorNs;
      await rotation(b, floor, n, m, mode, copies, floorCopies, () => `p${++password}`, op);
      if (TARGETING && modeName === 'qps0') await relabelledOut(b, op, n, m, mode);

      // 4. Trickle (defaults).
      if (modeName === 'defaults') {
        sampler.enter('trickle');
        await trickle(b, n, m, mode, cred);
      }

      // 5. Idle.
      sampler.enter('idle');
      await idle(b, op, n, m, mode);

      // 6. Memory: the whole life of the process so far, and now.
      const memory = await memoryOf(op.pid);
      const heap = sumMetric(await op.metrics(), 'regcred_nodejs_heap_size_used_bytes') / 1024 / 1024;
      const highest = sampler.highest();
      sampler.stop();
      const extra = largest ? ` (+${UNRELATED} unrelated Secrets)` : '';
      record({
        size: n,
        mode: m,
        figure: `memory: peak RSS${extra}`,
        unit: 'MiB',
        operator: memory.peak,
        target: largest && modeName === 'defaults' ? '<= 150 MiB' : undefined,
        note:
          `VmHWM; the highest 250 ms sample was ${highest.rss.toFixed(1)} MiB during ${highest.phase} (by phase: ` +
          `${[...sampler.peakByPhase].map(([phase, rss]) => `${phase} ${rss.toFixed(1)}`).join(', ')})`,
      });
      record({ size: n, mode: m, figure: `memory: RSS at the end${extra}`, unit: 'MiB', operator: memory.rss });
      record({ size: n, mode: m, figure: 'memory: heap used at the end', unit: 'MiB', operator: heap });

      // 7. Restart on a converged cluster (qps0), pod-watch (defaults, largest size).
      if (modeName === 'qps0') op = await restart(b, op, n, m, mode);
      if (modeName === 'defaults' && largest) op = await podWatch(b, op, n, m, mode, cred, opNs);

      // 8. Cleanup, so the next mode starts from namespaces without copies.
      if (index < MODES.length - 1) {
        const cleanMark = await auditOffset(b.cp);
        const took = await b.deleteCredential(cred);
        const cleanCalls = await requestsSince(b.cp, cleanMark, mode.user);
        record({
          size: n,
          mode: m,
          figure: 'cleanup: RegistryCredential deleted, every copy and entry gone',
          unit: 's',
          operator: took,
          note: `${total(cleanCalls, WRITES)} writes: ${show(cleanCalls)}`,
        });
      }
      await op.stop();
      op = undefined;
    }
  } finally {
    await op?.stop().catch(() => undefined);
    await b.stop();
  }
}

/** CPU seconds of the operator and the control plane during a phase, beside the floor's. */
function cpuFigure(n: number, mode: string, phase: string, cpu: Record<string, number>, floor: Record<string, number>) {
  const controlPlane = (x: Record<string, number>) => (x.apiserver ?? 0) + (x.etcd ?? 0);
  record({
    size: n,
    mode,
    figure: `${phase}: CPU seconds (operator + kube-apiserver + etcd)`,
    unit: 's',
    operator: (cpu.operator ?? 0) + controlPlane(cpu),
    floor: controlPlane(floor),
    note: `${showCpu(cpu)}; floor: ${showCpu(floor)} (the floor's own client not counted)`,
  });
}

async function watchedFloor(b: Bench, floor: Floor, n: number, plain: number): Promise<void> {
  const abort = new AbortController();
  let events = 0;
  const streams = await Promise.all(
    (
      [
        ['/api/v1/namespaces', undefined],
        ['/api/v1/serviceaccounts', undefined],
        ['/api/v1/secrets', 'bench-floor=true'],
      ] as const
    ).map(async ([p, labelSelector]) => {
      const rv = (
        await b.req<{ metadata: { resourceVersion: string } }>(
          'GET',
          `${p}?limit=1${labelSelector ? `&labelSelector=${labelSelector}` : ''}`,
        )
      ).metadata.resourceVersion;
      // Wrapped: an async function returning the watch's promise would wait for the watch to end.
      return {
        ended: b.client.watch(
          p,
          { labelSelector, resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: 3600 },
          () => events++,
          abort.signal,
        ),
      };
    }),
  );
  const took = await floor.fanOut(names('w', n));
  abort.abort();
  await Promise.allSettled(streams.map((x) => x.ended));
  record({
    size: n,
    mode: 'floor',
    figure: 'fan-out: a floor that also watches, against the plain floor',
    unit: 's',
    operator: took,
    floor: plain,
    note: `${events} watch events received by that floor's client`,
  });
}

function apfFigures(n: number, mode: string, before: Samples, after: Samples, operator429s: number): void {
  // A ServiceAccount outside kube-system: the suggested FlowSchema service-accounts (priority level
  // workload-low), where no other client of the benchmark lands.
  const view = apfView(before, after, 'service-accounts');
  record({
    size: n,
    mode,
    figure: 'fan-out: API Priority and Fairness',
    unit: 'rejected',
    operator: view.rejected,
    note:
      `FlowSchema ${view.flowSchema}, priority level ${view.priorityLevels.join(', ') || '-'}: ` +
      `${view.dispatched} requests dispatched, ${view.rejected} rejected (429), mean queue wait ` +
      `${view.meanWaitMs.toFixed(3)} ms, ${view.waitedLonger.requests} waited longer than ` +
      `${view.waitedLonger.thanSeconds ?? '?'} s; the operator saw ${operator429s} 429s in its whole life`,
  });
}

async function newNamespaces(b: Bench, floor: Floor, n: number, mode: string): Promise<void> {
  const latencies = async (prefix: string, label: string, react?: (ns: string) => void) => {
    const out: number[] = [];
    for (let i = 0; i < NEW_NAMESPACES; i++) {
      const ns = `${prefix}-${i}`;
      const start = performance.now();
      await b.req('POST', '/api/v1/namespaces', { metadata: { name: ns, labels: { bench: label } } });
      react?.(ns);
      await waitFor(
        async () => {
          const [s, sa] = await Promise.all([
            b.req('GET', `/api/v1/namespaces/${ns}/secrets/pull`).then(
              () => true,
              () => false,
            ),
            b
              .req<{ imagePullSecrets?: Array<{ name: string }> }>(
                'GET',
                `/api/v1/namespaces/${ns}/serviceaccounts/default`,
              )
              .then(
                (x) => !!x.imagePullSecrets?.some((e) => e.name === 'pull'),
                () => false,
              ),
          ]);
          return s && sa;
        },
        { timeoutMs: 120_000, intervalMs: 5, what: `namespace ${ns} converged` },
      );
      out.push((performance.now() - start) / 1000);
    }
    return out;
  };
  const floorLat = await latencies('fnew', 'fnew', (ns) => floor.react(ns));
  const opLat = await latencies('onew', 'onew');
  for (const p of [50, 95, 99])
    record({
      size: n,
      mode,
      figure: `new namespace p${p}`,
      unit: 's',
      operator: percentile(opLat, p),
      floor: percentile(floorLat, p),
    });
}

async function rotation(
  b: Bench,
  floor: Floor,
  n: number,
  mode: string,
  m: Mode,
  copies: number,
  floorCopies: string[],
  passwords: () => string,
  op: OperatorProcess,
): Promise<void> {
  const cpPids = await controlPlanePids(b.cp);
  const rounds: Array<{ operator: number; floor: number }> = [];
  for (let round = 0; round < ROTATIONS; round++) {
    const password = passwords();
    const first = round === 0;
    const mark = first ? await auditOffset(b.cp) : 0;
    const api = first ? apiserverRequests(await apiserverMetrics(b.cp)) : {};
    const document = documentFor(password);
    // Completion is seen through a watch of the copies (what the operator itself receives), not by
    // polling lists: a list of every copy every few hundred ms would load the API server during
    // the operator's phase only, and skew the comparison with the floor.
    const rotated = new Set<string>();
    const watch = await b.watchUntil<{ metadata: { namespace: string; name: string }; data?: Record<string, string> }>(
      '/api/v1/secrets',
      { labelSelector: MANAGED },
      (x) => {
        if (x.data?.['.dockerconfigjson'] === document) rotated.add(`${x.metadata.namespace}/${x.metadata.name}`);
        return rotated.size >= copies;
      },
    );
    const operatorCpu = await cpuMeter({ operator: op.pid, ...cpPids });
    const t0 = performance.now();
    await b.setSource(password);
    await watch.done;
    const took = seconds(t0);
    const cpu = await operatorCpu();
    await watch.stop();
    // Checked once more by a list, outside the timed window.
    const now = await b.req<{ items: Array<{ data?: Record<string, string> }> }>(
      'GET',
      `/api/v1/secrets?labelSelector=${encodeURIComponent(MANAGED)}`,
    );
    if (now.items.filter((x) => x.data?.['.dockerconfigjson'] === document).length < copies)
      throw new Error('rotation: a copy is not rotated after the watch saw all of them');
    // The operator's writes are settled once every copy is seen; its last status write may still
    // come (the audit log of the first round is read after the floor's round, by user).
    const apiWrites = first ? delta(apiserverRequests(await apiserverMetrics(b.cp)), api) : {};
    const floorCpu = await cpuMeter(cpPids);
    const floorTook = await floor.rotate(floorCopies, password);
    rounds.push({ operator: took, floor: floorTook });
    if (!first) continue;
    cpuFigure(n, mode, 'rotation', cpu, await floorCpu());
    const everything = await requestsSince(b.cp, mark, m.user);
    const calls = withoutLeases(everything);
    record({
      size: n,
      mode,
      figure: 'rotation: writes',
      unit: 'writes',
      operator: total(calls, WRITES),
      floor: copies,
      note: `${show(calls)}${leaseNote(everything)} (the first rotation)`,
    });
    record({
      size: n,
      mode,
      figure: 'rotation: apiserver_request_total writes',
      unit: 'writes',
      operator: total(apiWrites, API_WRITES),
      floor: copies + 1,
      note: `${show(apiWrites)} (the first rotation; the minimum counts the bench's own PATCH of the source)`,
    });
  }
  // Each round: the operator's rotation, then the floor's same writes; the medians are compared
  // (one rotation of 500 copies takes well under a second, where one-off delays on a shared
  // machine move a single reading by a third).
  const median = (xs: number[]) => percentile(xs, 50);
  record({
    size: n,
    mode,
    figure: `rotation: every copy updated (median of ${rounds.length})`,
    unit: 's',
    operator: median(rounds.map((r) => r.operator)),
    floor: median(rounds.map((r) => r.floor)),
    target: n === 2000 ? '<= 1.2x' : '<= 1.5x',
    note: `rounds (operator / floor): ${rounds.map((r) => `${fmt(r.operator)} / ${fmt(r.floor)} s`).join(', ')}`,
  });
}

/**
 * Namespaces created one at a time at a steady rate, each served by the operator: the writes it
 * makes per namespace, by resource, from the audit log, through a settle time that lets held Event
 * summaries and status writes happen. Only the `default` ServiceAccount exists in them: 2 writes
 * are necessary (the Secret, the SA patch).
 */
async function trickle(b: Bench, n: number, mode: string, m: Mode, cred: string): Promise<void> {
  const mark = await auditOffset(b.cp);
  const t0 = performance.now();
  for (let i = 0; i < TRICKLE; i++) {
    const due = t0 + i * TRICKLE_INTERVAL_MS;
    if (due > performance.now()) await sleep(due - performance.now()); // the arrival rate, not a wait for a condition
    // named like the other namespaces of the set `o` (BENCH_TARGETING selects them by name too)
    await b.req('POST', '/api/v1/namespaces', { metadata: { name: `o-tr-${i}`, labels: { bench: 'o' } } });
  }
  await waitFor(async () => converged(n + TRICKLE)(await b.req<Status>('GET', `${CREDENTIALS}/${cred}`)), {
    timeoutMs: 300_000,
    what: 'the trickled namespaces counted in status',
  });
  await sleep(TRICKLE_SETTLE_SECONDS * 1000); // a benchmark phase of fixed length: held writes fall in it
  const everything = await requestsSince(b.cp, mark, m.user);
  const calls = withoutLeases(everything);
  const byResource: Record<string, number> = {};
  for (const [key, count] of Object.entries(calls)) {
    const [verb, resource] = key.split(' ');
    if (!WRITES.includes(verb!)) continue;
    byResource[resource!] = (byResource[resource!] ?? 0) + count;
  }
  const per = (resource: string) => (byResource[resource] ?? 0) / TRICKLE;
  const all = total(calls, WRITES);
  const rate = `${TRICKLE} namespaces ${TRICKLE_INTERVAL_MS} ms apart, ${TRICKLE_SETTLE_SECONDS} s settle`;
  for (const resource of ['secrets', 'serviceaccounts', 'events', 'registrycredentials/status'])
    record({
      size: n,
      mode,
      figure: `trickle: ${resource} writes per namespace`,
      unit: 'writes',
      operator: per(resource),
      note: rate,
    });
  record({
    size: n,
    mode,
    figure: 'trickle: writes per namespace beyond the 2 necessary',
    unit: 'writes',
    operator: all / TRICKLE - 2,
    target: '<= 0.25',
    note: `${all} writes: ${show(calls)}${leaseNote(everything)}`,
  });
}

/**
 * Waits until the operator has no work queued or delayed (held status writes and Event summaries)
 * and made no write (Lease renewals aside) between two readings: the delayed gauge is refreshed
 * every 2 s, and a key in progress counts in neither gauge.
 */
async function quiet(op: OperatorProcess): Promise<void> {
  let before = -1;
  let seen = '';
  await waitFor(
    async () => {
      const text = await op.metrics();
      // Lease renewals (leader election, every 2 s) aside
      const writes =
        sumMetric(text, 'regcred_writes_total') - sumMetric(text, 'regcred_writes_total', { resource: 'leases' });
      const depth = sumMetric(text, 'regcred_workqueue_depth');
      const delayed = sumMetric(text, 'regcred_workqueue_delayed');
      seen = `depth ${depth}, delayed ${delayed}, writes ${before} then ${writes}`;
      const idle = writes === before && depth === 0 && delayed === 0;
      before = writes;
      return idle;
    },
    { timeoutMs: 180_000, intervalMs: 2500, what: 'the operator to have no work queued or delayed' },
  ).catch((err: Error) => {
    throw new Error(`${err.message} (last seen: ${seen})`);
  });
}

/**
 * Leader election's Lease renewals (every 2 s, client-go's timing, whatever the cluster does) are
 * counted apart from the operator's other writes.
 */
function withoutLeases(calls: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(calls).filter(([key]) => !key.endsWith(' leases')));
}
function leaseNote(calls: Record<string, number>): string {
  const renewals = calls['update leases'] ?? 0;
  return renewals ? `; besides, ${renewals} Lease renewals (leader election)` : '';
}

/**
 * BENCH_TARGETING: ServiceAccounts relabelled out of serviceAccountSelector one after another, from
 * the label PATCH until our entry is gone; floor: a minimal reactor removing it itself. The phase's
 * writes are counted until the operator is quiet (its paced status recount and Event summary). The
 * labels are put back afterwards (not measured), so that later modes select every ServiceAccount.
 */
async function relabelledOut(b: Bench, op: OperatorProcess, n: number, mode: string, m: Mode): Promise<void> {
  const count = Math.min(NEW_NAMESPACES, n);
  const label = (ns: string, value: string | null) =>
    b.req(
      'PATCH',
      `/api/v1/namespaces/${ns}/serviceaccounts/ci`,
      { metadata: { labels: { [PULL_LABEL]: value } } },
      MERGE,
    );
  const relabelled = async (prefix: string, react?: (ns: string) => Promise<unknown>) => {
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const ns = `${prefix}-${i}`;
      const start = performance.now();
      await label(ns, null);
      if (react) void react(ns);
      await waitFor(
        async () =>
          !(
            await b.req<{ imagePullSecrets?: Array<{ name: string }> }>(
              'GET',
              `/api/v1/namespaces/${ns}/serviceaccounts/ci`,
            )
          ).imagePullSecrets?.some((e) => e.name === 'pull'),
        { timeoutMs: 120_000, intervalMs: 5, what: `${ns}/ci without our entry` },
      );
      out.push((performance.now() - start) / 1000);
    }
    return out;
  };
  const floorLat = await relabelled('f', (ns) =>
    b.req('PATCH', `/api/v1/namespaces/${ns}/serviceaccounts/ci`, { imagePullSecrets: [] }, MERGE),
  );
  const mark = await auditOffset(b.cp);
  const opLat = await relabelled('o');
  await quiet(op);
  const calls = withoutLeases(await requestsSince(b.cp, mark, m.user));
  for (const p of [50, 95, 99])
    record({
      size: n,
      mode,
      figure: `SA relabelled out p${p}`,
      unit: 's',
      operator: percentile(opLat, p),
      floor: percentile(floorLat, p),
    });
  record({
    size: n,
    mode,
    figure: 'SA relabelled out: writes',
    unit: 'writes',
    operator: total(calls, WRITES),
    floor: opLat.length,
    note: show(calls),
  });
  await pool(names('f', count).concat(names('o', count)), 8, (ns) => label(ns, 'bench'));
  await quiet(op);
}

async function idle(
  b: Bench,
  op: OperatorProcess,
  n: number,
  mode: string,
  m: Mode,
  idleSeconds = IDLE_SECONDS,
): Promise<void> {
  await quiet(op);
  const mark = await auditOffset(b.cp);
  const api = apiserverRequests(await apiserverMetrics(b.cp));
  await sleep(idleSeconds * 1000); // a benchmark phase of fixed length, not a test wait
  const calls = await requestsSince(b.cp, mark, m.user);
  const apiCalls = delta(apiserverRequests(await apiserverMetrics(b.cp)), api);
  const ours = withoutLeases(calls);
  record({
    size: n,
    mode,
    figure: `idle ${idleSeconds} s: writes`,
    unit: 'writes',
    operator: total(ours, WRITES),
    floor: 0,
    note: `${show(ours)}${leaseNote(calls)}`,
  });
  record({
    size: n,
    mode,
    figure: `idle ${idleSeconds} s: lists`,
    unit: 'lists',
    operator: total(calls, ['list']),
    floor: 0,
  });
  record({
    size: n,
    mode,
    figure: `idle ${idleSeconds} s: apiserver_request_total writes (Secrets, SAs, RegistryCredentials, Events)`,
    unit: 'requests',
    operator: total(apiCalls, API_WRITES),
    floor: 0,
    note: show(apiCalls),
  });
}

async function restart(b: Bench, op: OperatorProcess, n: number, mode: string, m: Mode): Promise<OperatorProcess> {
  await quiet(op);
  await op.stop();
  const mark = await auditOffset(b.cp);
  const t0 = performance.now();
  const next = await m.start();
  const ready = seconds(t0);
  await waitFor(
    async () =>
      (await next.metric('regcred_reconcile_total', { kind: 'credential' })) >= 1 &&
      (await next.metric('regcred_workqueue_depth')) === 0,
    { timeoutMs: 600_000 },
  );
  const everything = await requestsSince(b.cp, mark, m.user);
  const calls = withoutLeases(everything);
  record({ size: n, mode, figure: 'restart: time to ready', unit: 's', operator: ready });
  record({
    size: n,
    mode,
    figure: 'restart: writes',
    unit: 'writes',
    operator: total(calls, WRITES),
    floor: 0,
    note: `${show(calls)}${leaseNote(everything)}`,
  });
  return next;
}

/**
 * Issue 15's stuck-pod recovery watches Pending Pods only (field selector, slim copies): Pods that
 * are not Pending must cost the operator nothing. There is no kubelet here, so Pods are created and
 * their status.phase is set to Running through the status subresource; the Pending ones stay as
 * created (unscheduled, not waiting on a pull). The operator restarts with stuck-pod recovery on.
 */
async function podWatch(
  b: Bench,
  op: OperatorProcess,
  n: number,
  mode: string,
  m: Mode,
  cred: string,
  nss: string[],
): Promise<OperatorProcess> {
  await op.stop();
  const t0 = performance.now();
  const pod = (ns: string, name: string) => ({
    metadata: { name, namespace: ns, labels: { app: 'bench' } },
    spec: {
      automountServiceAccountToken: false,
      containers: [{ name: 'app', image: 'r.example.com/team/app:1' }],
    },
  });
  const running = Array.from({ length: PODS_RUNNING }, (_, i) => [nss[i % n]!, `run-${i}`] as const);
  const pending = Array.from({ length: PODS_PENDING }, (_, i) => [nss[i % n]!, `pending-${i}`] as const);
  await pool([...running, ...pending], 32, ([ns, name]) =>
    b.req('POST', `/api/v1/namespaces/${ns}/pods`, pod(ns, name)),
  );
  await pool(running, 32, ([ns, name]) =>
    b.req('PATCH', `/api/v1/namespaces/${ns}/pods/${name}/status`, { status: { phase: 'Running' } }, MERGE),
  );
  log(`pod-watch: ${PODS_RUNNING} Running and ${PODS_PENDING} Pending Pods in ${seconds(t0).toFixed(1)} s`);
  await b.req('PATCH', `${CREDENTIALS}/${cred}`, { spec: { podRecovery: { enabled: true } } }, MERGE);
  const next = await m.start();
  await waitFor(
    async () =>
      (await next.metric('regcred_reconcile_total', { kind: 'credential' })) >= 1 &&
      (await next.metric('regcred_workqueue_depth')) === 0,
    { timeoutMs: 600_000 },
  );
  await quiet(next);
  const mark = await auditOffset(b.cp);
  await sleep(IDLE_SECONDS * 1000); // a benchmark phase of fixed length
  const everything = await requestsSince(b.cp, mark, m.user);
  const calls = withoutLeases(everything);
  const memory = await memoryOf(next.pid);
  const what = `${n} namespaces, ${PODS_RUNNING} Running + ${PODS_PENDING} Pending Pods, podRecovery on`;
  record({
    size: n,
    mode,
    figure: `pod-watch: peak RSS (${what})`,
    unit: 'MiB',
    operator: memory.peak,
    note: 'VmHWM since the restart',
  });
  record({ size: n, mode, figure: `pod-watch: RSS after ${IDLE_SECONDS} s idle`, unit: 'MiB', operator: memory.rss });
  record({
    size: n,
    mode,
    figure: `pod-watch: idle ${IDLE_SECONDS} s writes`,
    unit: 'writes',
    operator: total(calls, WRITES),
    floor: 0,
    note: show(calls),
  });
  record({
    size: n,
    mode,
    figure: "pod-watch: Pods in the operator's cache",
    unit: 'Pods',
    operator: sumMetric(await next.metrics(), 'regcred_cache_objects', { informer: 'pending-pods' }),
    floor: PODS_PENDING,
  });
  return next;
}

/** The defaults mode's memory with only a few namespaces in the cluster. */
async function smallMemory(b: Bench, mode: Mode): Promise<void> {
  await b.namespaces(names('s', SMALL).map((x) => [x, 's'] as const));
  const op = await mode.start();
  try {
    await b.applyAndConverge(b.credential('small', ['s']), SMALL);
    await idle(b, op, SMALL, mode.name, mode, Math.min(IDLE_SECONDS, 30));
    const memory = await memoryOf(op.pid);
    record({
      size: SMALL,
      mode: mode.name,
      figure: 'memory: peak RSS',
      unit: 'MiB',
      operator: memory.peak,
      target: '<= 80 MiB',
      note: 'VmHWM',
    });
    record({ size: SMALL, mode: mode.name, figure: 'memory: RSS at the end', unit: 'MiB', operator: memory.rss });
    await b.deleteCredential('small');
  } finally {
    await op.stop();
  }
}

// ---- pressure: the API server made to throttle, then slow -------------------------------------------

/**
 * The defaults flags through test/harness/api-proxy.ts with few seats: first it answers 429 beyond
 * 2 requests at once (API Priority and Fairness with full queues), during a fan-out; then it queues
 * beyond 2 seats held 100 ms each (rising latency), during a rotation. Once with the adaptive
 * bound, once with --kube-api-adaptive=false. Nothing may be lost: every copy, every entry.
 */
async function pressure(n: number): Promise<void> {
  log(`--- pressure: ${n} namespaces, starting a control plane`);
  const b = await Bench.start();
  const proxy = await startApiProxy(1);
  try {
    await b.install();
    await b.namespaces(names('o', n).map((x) => [x, 'o'] as const));
    // the source's password now: the second run starts from what the first one left
    let password = 'p0';
    const rotateTo = async (next: string) => {
      password = next;
      await b.setSource(next);
    };
    for (const adaptive of [true, false]) {
      const mode = adaptive ? 'pressure, adaptive' : 'pressure, --kube-api-adaptive=false';
      // The shipped tuning (all defaults) without leader election: its Lease requests would go
      // through the same crowded proxy, where the shipped FlowSchema would give them a level of their own.
      const op = await startOperator({
        sourceNamespace: SYSTEM,
        user: CERT_USER,
        wrapKubeconfig: (kc) => proxy.kubeconfigFor(kc),
        args: [`--kube-api-adaptive=${adaptive}`, '--log-level=info'],
      });
      let lowest = Infinity;
      const sampler = setInterval(() => {
        op.metric('regcred_api_inflight_limit').then(
          (limit) => (lowest = Math.min(lowest, limit)),
          () => undefined,
        );
      }, 100);
      try {
        const cred = adaptive ? 'pressure-a' : 'pressure-f';
        // 1. throttling during a fan-out
        proxy.setCapacity({ seats: 2, overflow: 'reject', serviceMs: 20 });
        let before = proxy.counts();
        proxy.concurrency();
        const fanout = await b.applyAndConverge(
          b.credential(cred, ['o'], { secretName: cred }),
          n,
          PRESSURE_TIMEOUT_MS,
        );
        let after = proxy.counts();
        const rejected = (after.throttled ?? 0) - (before.throttled ?? 0);
        const forwarded = (after.forwarded ?? 0) - (before.forwarded ?? 0);
        const lowestThrottled = lowest;
        const requests = `${rejected} answered 429 of ${forwarded + rejected} requests`;
        if (fanout === undefined) {
          record({
            size: n,
            mode,
            figure: 'throttled fan-out (2 seats, 429 beyond): not converged',
            unit: 's',
            operator: PRESSURE_TIMEOUT_MS / 1000,
            note: `gave up after ${PRESSURE_TIMEOUT_MS / 1000} s: ${requests}`,
          });
          continue;
        }
        await verifyAll(b, n, cred, password);
        record({
          size: n,
          mode,
          figure: 'throttled fan-out (2 seats, 429 beyond): converged, nothing lost',
          unit: 's',
          operator: fanout,
          note:
            `${requests} (${((100 * rejected) / (forwarded + rejected)).toFixed(1)} %); ` +
            `in-flight bound down to ${lowestThrottled}; at most ${proxy.concurrency().peak} at once at the proxy`,
        });
        // 2. slowness during a rotation
        proxy.setCapacity({ seats: 2, overflow: 'queue', serviceMs: 100 });
        lowest = Infinity;
        before = proxy.counts();
        const t0 = performance.now();
        await rotateTo(adaptive ? 'slow-a' : 'slow-f');
        await verifyAll(b, n, cred, password, 600_000);
        const took = seconds(t0);
        after = proxy.counts();
        record({
          size: n,
          mode,
          figure: 'slow rotation (2 seats held 100 ms, the rest queued): converged, nothing lost',
          unit: 's',
          operator: took,
          note:
            `in-flight bound down to ${lowest}; at most ${proxy.concurrency().peak} requests at once at the proxy ` +
            `(queued there); ${(after.forwarded ?? 0) - (before.forwarded ?? 0)} requests`,
        });
        // 3. the pressure gone: the bound grows back as requests succeed
        proxy.setCapacity(undefined);
        const bound = await op.metric('regcred_api_inflight_limit');
        await rotateTo(adaptive ? 'free-a' : 'free-f');
        await verifyAll(b, n, cred, password);
        record({
          size: n,
          mode,
          figure: 'pressure gone: in-flight bound after one more rotation',
          unit: 'requests',
          operator: await op.metric('regcred_api_inflight_limit'),
          note: `from ${bound}`,
        });
        await b.deleteCredential(cred);
      } finally {
        clearInterval(sampler);
        proxy.setCapacity(undefined);
        await op.stop();
      }
    }
  } finally {
    await proxy.stop();
    await b.stop();
  }
}

/** Every namespace holds the copy with `password` and all 3 ServiceAccounts list it. */
async function verifyAll(
  b: Bench,
  n: number,
  secretName: string,
  password: string,
  timeoutMs = 300_000,
): Promise<void> {
  const document = documentFor(password);
  await waitFor(
    async () => {
      const secrets = await b.req<{ items: Array<{ metadata: { name: string }; data?: Record<string, string> }> }>(
        'GET',
        `/api/v1/secrets?labelSelector=${encodeURIComponent(MANAGED)}`,
      );
      const good = secrets.items.filter(
        (x) => x.metadata.name === secretName && x.data?.['.dockerconfigjson'] === document,
      );
      if (good.length < n) return false;
      const sas = await b.req<{
        items: Array<{ metadata: { namespace: string }; imagePullSecrets?: Array<{ name: string }> }>;
      }>('GET', '/api/v1/serviceaccounts');
      const listing = sas.items.filter(
        (sa) =>
          sa.metadata.namespace.startsWith('o-') &&
          sa.imagePullSecrets?.filter((x) => x.name === secretName).length === 1,
      );
      return listing.length >= 3 * n;
    },
    { timeoutMs, intervalMs: 1000, what: `every copy ${secretName} with password ${password} and every entry` },
  );
}

async function main(): Promise<void> {
  const started = new Date();
  const max = Math.max(...SIZES);
  for (const [i, n] of SIZES.entries()) await runSize(n, n === max, i === 0);
  if (PRESSURE > 0) await pressure(PRESSURE);
  const lines = [
    `| N | mode | figure | operator | floor | ratio | target |`,
    `|---|---|---|---|---|---|---|`,
    ...figures.map((f) => {
      const floor = f.floor === undefined ? '' : `${fmt(f.floor)} ${f.unit}`;
      const ratio = f.ratio === undefined ? '' : `${f.ratio.toFixed(2)}x`;
      const operator = `${fmt(f.operator)} ${f.unit}`;
      return `| ${f.size} | ${f.mode} | ${f.figure} | ${operator} | ${floor} | ${ratio} | ${f.target ?? ''} |`;
    }),
  ];
  process.stdout.write(
    `\nregcred-operator benchmark, ${started.toISOString()}, sizes ${SIZES.join(',')}, modes ${MODES.join(',')}, ` +
      `${NEW_NAMESPACES} new namespaces, idle ${IDLE_SECONDS} s, floor concurrency ${CONCURRENCY}` +
      `${TARGETING ? ', targeting fields' : ''}\n\n` +
      `${lines.join('\n')}\n`,
  );
  const dir = path.join(ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const suffix = `${TARGETING ? '-targeting' : ''}${quick ? '-quick' : ''}`;
  const file = path.join(dir, `${started.toISOString().replace(/[:.]/g, '-')}${suffix}.json`);
  await writeFile(
    file,
    JSON.stringify(
      {
        started,
        quick,
        sizes: SIZES,
        modes: MODES,
        newNamespaces: NEW_NAMESPACES,
        idleSeconds: IDLE_SECONDS,
        unrelated: UNRELATED,
        concurrency: CONCURRENCY,
        targeting: TARGETING,
        trickle: { namespaces: TRICKLE, intervalMs: TRICKLE_INTERVAL_MS, settleSeconds: TRICKLE_SETTLE_SECONDS },
        pods: { running: PODS_RUNNING, pending: PODS_PENDING },
        figures,
      },
      null,
      2,
    ),
  );
  log(`wrote ${path.relative(ROOT, file)}`);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`[bench] FAILED: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
