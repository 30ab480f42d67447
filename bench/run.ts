// `npm run bench`: the operator on a real local control plane (etcd, kube-apiserver,
// kube-controller-manager), against floors measured in the same run by a tight client of the
// benchmark doing the same writes. Prints a table and writes JSON to bench/results/.
//
// Sizes: BENCH_SIZES (default 500,2000,10000), BENCH_NEW_NAMESPACES (200), BENCH_IDLE_SECONDS (300),
// BENCH_UNRELATED_SECRETS (25000, created for the largest size only), BENCH_CONCURRENCY (8).
// BENCH_WARMUP_NAMESPACES (50): a throwaway RegistryCredential the operator serves and cleans up before
// the measured fan-out, so both sides run warm.
// BENCH_WATCHED_FLOOR=1 adds a fan-out floor whose client also keeps an operator's watches open.
// BENCH_TARGETING=1 makes the measured RegistryCredentials select by namespaceNames (globs, ANDed
// with the label selector), ServiceAccounts by serviceAccountSelector (with an exclusion) and shape
// the copies with a secretTemplate, for the same writes; it adds the phase "SA relabelled".
// `--quick` = sizes 30, 10 new namespaces, 5 s idle, 200 unrelated Secrets: a smoke run for CI.
import { createReadStream } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../src/k8s/client.js';
import { systemClock } from '../src/runtime/clock.js';
import { startControlPlane, type ControlPlane } from '../test/harness/controlplane.js';
import { startOperator, sumMetric, type OperatorProcess } from '../test/harness/operator.js';
import { waitFor } from '../test/harness/wait.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const quick = process.argv.includes('--quick');
const env = (name: string, full: string, small: string) => process.env[name] ?? (quick ? small : full);
const SIZES = env('BENCH_SIZES', '500,2000,10000', '30').split(',').map(Number);
const NEW_NAMESPACES = Number(env('BENCH_NEW_NAMESPACES', '200', '10'));
const IDLE_SECONDS = Number(env('BENCH_IDLE_SECONDS', '300', '5'));
const UNRELATED = Number(env('BENCH_UNRELATED_SECRETS', '25000', '200'));
const CONCURRENCY = Number(env('BENCH_CONCURRENCY', '8', '8'));
// A freshly started operator first runs its code cold (JIT, caches just listed); a production
// operator is long-running. Before the measured fan-out it serves (then cleans up) a throwaway
// RegistryCredential over this many extra namespaces, as the floor's client is warm from the setup.
const WARMUP = Number(env('BENCH_WARMUP_NAMESPACES', '50', '5'));
const SAS = ['default', 'app', 'ci'];
// Opt-in: a second fan-out floor whose client also keeps the watches an operator needs open
// (namespaces, ServiceAccounts, its Secrets), to show what watching costs on this machine.
const WATCHED_FLOOR = process.env.BENCH_WATCHED_FLOOR === '1';
const TARGETING = process.env.BENCH_TARGETING === '1';
/** How long the operator must make no write for a phase to count as finished (quietSince). */
const QUIET_MS = 12_000;
/** The label that serviceAccountSelector matches (BENCH_TARGETING); every `app` and `ci` SA carries it. */
const PULL_LABEL = 'regcred.io/pull';
const USER = 'regcred-bench-operator';
const MANAGED = 'app.kubernetes.io/managed-by=regcred-operator';

interface Figure {
  size: number;
  figure: string;
  unit: string;
  operator: number;
  floor?: number;
  ratio?: number;
  note?: string;
}

const figures: Figure[] = [];
function record(f: Omit<Figure, 'ratio'>): void {
  const ratio = f.floor ? f.operator / f.floor : undefined;
  figures.push({ ...f, ratio });
  const r = ratio === undefined ? '' : ` (floor ${fmt(f.floor!)} ${f.unit}, ${ratio.toFixed(2)}x)`;
  log(`N=${f.size} ${f.figure}: ${fmt(f.operator)} ${f.unit}${r}${f.note ? ` — ${f.note}` : ''}`);
}
const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(n < 10 ? 3 : 1));
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const seconds = (t0: number) => (performance.now() - t0) / 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` over `items` with at most `n` in flight. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

// ---- the API server's audit log: requests by user per phase ---------------------------------

interface Audit {
  verb: string;
  stage: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string };
}

async function auditOffset(cp: ControlPlane): Promise<number> {
  return (await stat(cp.auditLogPath)).size;
}

async function requestsSince(cp: ControlPlane, offset: number, user: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let rest = '';
  for await (const chunk of createReadStream(cp.auditLogPath, { start: offset, encoding: 'utf8' })) {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      if (!line.includes(user)) continue;
      const e = JSON.parse(line) as Audit;
      if (e.stage !== 'ResponseComplete' || e.user.username !== user) continue;
      const subresource = e.objectRef?.subresource ? `/${e.objectRef.subresource}` : '';
      const key = `${e.verb} ${e.objectRef?.resource ?? '?'}${subresource}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
  }
  return counts;
}

// ---- the API server's own /metrics: apiserver_request_total by verb and resource --------------

const WATCHED = new Set(['secrets', 'serviceaccounts', 'registrycredentials']);
/** apiserver_request_total for the resources the operator touches, keyed "VERB resource[/sub]". */
async function apiserverRequests(cp: ControlPlane): Promise<Record<string, number>> {
  const r = await cp.kubectl(['get', '--raw', '/metrics']);
  if (r.code !== 0) throw new Error(`kubectl get --raw /metrics: ${r.stderr}`);
  const counts: Record<string, number> = {};
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const label = (name: string) => new RegExp(`[{,]${name}="([^"]*)"`).exec(line)?.[1] ?? '';
    if (!WATCHED.has(label('resource'))) continue;
    const key = `${label('verb')} ${label('resource')}${label('subresource') ? `/${label('subresource')}` : ''}`;
    counts[key] = (counts[key] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return counts;
}
const delta = (after: Record<string, number>, before: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(after)
      .map(([k, v]) => [k, v - (before[k] ?? 0)])
      .filter(([, v]) => (v as number) > 0),
  ) as Record<string, number>;
const API_WRITES = ['POST', 'PUT', 'PATCH', 'DELETE', 'APPLY'];

const WRITES = ['create', 'update', 'patch', 'delete'];
const total = (c: Record<string, number>, verbs?: string[]) =>
  Object.entries(c)
    .filter(([k]) => !verbs || verbs.includes(k.split(' ')[0]!))
    .reduce((a, [, v]) => a + v, 0);
const show = (c: Record<string, number>) =>
  Object.entries(c)
    .sort()
    .map(([k, v]) => `${k}=${v}`)
    .join(', ') || 'none';

// ---- one size ---------------------------------------------------------------------------------

async function runSize(n: number, withUnrelated: boolean): Promise<void> {
  log(`--- N=${n}: starting a control plane`);
  const cp = await startControlPlane({ withControllerManager: true });
  const envFile = path.join(cp.dir, 'test-env.json');
  await writeFile(envFile, JSON.stringify(cp.env));
  process.env.REGCRED_TEST_ENV = envFile;
  let op: OperatorProcess | undefined;
  const kc = new KubeConfig();
  kc.loadFromFile(cp.adminKubeconfig);
  const client = await KubeClient.create(kc, { clock: systemClock, qps: 0, maxRetries: 5 });
  const req = <T>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    p: string,
    body?: unknown,
    contentType?: string,
  ) => client.request<T>({ method, path: p, body, contentType, timeoutMs: 120_000 });
  const merge = 'application/merge-patch+json';
  /**
   * Watches `path` from its current resourceVersion until `seen` has returned true; completion is
   * observed as it happens (no polling interval, no list load on the API server).
   */
  const watchUntil = async <T extends object>(
    path: string,
    query: { labelSelector?: string; fieldSelector?: string },
    seen: (obj: T) => boolean,
  ) => {
    const q = new URLSearchParams({ limit: '1', ...query }).toString();
    const rv = (await req<{ metadata: { resourceVersion: string } }>('GET', `${path}?${q}`)).metadata.resourceVersion;
    const abort = new AbortController();
    let reached!: () => void;
    const done = new Promise<void>((resolve) => (reached = resolve));
    const ended = client.watch<T>(
      path,
      { ...query, resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: 3600 },
      (e) => {
        if (e.type !== 'BOOKMARK' && seen(e.object)) reached();
      },
      abort.signal,
    );
    return {
      done: Promise.race([done, ended.then(() => Promise.reject(new Error(`the watch of ${path} ended first`)))]),
      stop: async () => {
        abort.abort();
        await ended.catch(() => undefined);
      },
    };
  };
  /**
   * The operator's requests since `mark`, once it has made no write for QUIET_MS (longer than the
   * longest status pause, 10 s): the end of a phase, with its paced status recount and Events.
   */
  const quietSince = async (mark: number) => {
    let calls = await requestsSince(cp, mark, USER);
    let writes = total(calls, WRITES);
    const began = performance.now();
    let since = began;
    // bounded: an operator that never stops writing shows in the next phase's figures
    while (performance.now() - since < QUIET_MS && performance.now() - began < 120_000) {
      await sleep(1000);
      calls = await requestsSince(cp, mark, USER);
      const now = total(calls, WRITES);
      if (now !== writes) [writes, since] = [now, performance.now()];
    }
    return calls;
  };
  try {
    const crd = await cp.kubectl(['apply', '-f', path.join(ROOT, 'crds')]);
    if (crd.code !== 0) throw new Error(crd.stderr);
    await cp.kubectl(['wait', '--for=condition=Established', 'crd/registrycredentials.regcred.io']);
    const source = 'regcred-bench-system';
    await req('POST', '/api/v1/namespaces', { metadata: { name: source } });
    await req('POST', `/api/v1/namespaces/${source}/secrets`, {
      metadata: { name: 'robot' },
      stringData: { username: 'bench', password: 'before' },
    });

    // Two identical sets of namespaces: f-* for the floor, o-* for the operator.
    const names = (p: string, count: number) => Array.from({ length: count }, (_, i) => `${p}-${i}`);
    const floorNs = names('f', n);
    const opNs = names('o', n);
    const watchedNs = WATCHED_FLOOR ? names('w', n) : [];
    const warmNs = names('warm', WARMUP);
    let t0 = performance.now();
    const sets = [
      ...floorNs.map((x) => [x, 'f'] as const),
      ...opNs.map((x) => [x, 'o'] as const),
      ...watchedNs.map((x) => [x, 'w'] as const),
      ...warmNs.map((x) => [x, 'warm'] as const),
    ];
    await pool(sets, 32, ([name, set]) =>
      req('POST', '/api/v1/namespaces', { metadata: { name, labels: { bench: set } } }),
    );
    await pool(
      sets.map(([x]) => x),
      32,
      async (ns) => {
        for (const sa of SAS.slice(1))
          await req('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, {
            metadata: { name: sa, labels: { [PULL_LABEL]: 'bench' } },
          });
      },
    );
    await waitFor(
      async () =>
        (
          await req<{ items: unknown[] }>(
            'GET',
            '/api/v1/serviceaccounts?fieldSelector=metadata.name%3Ddefault&labelSelector=',
          )
        ).items.length >= sets.length,
      { timeoutMs: 30 * 60_000, intervalMs: 1000, what: 'default ServiceAccounts' },
    );
    log(`setup: ${sets.length} namespaces with 3 ServiceAccounts each in ${seconds(t0).toFixed(1)} s`);
    if (withUnrelated) {
      t0 = performance.now();
      const blob = 'x'.repeat(2048); // a realistic Opaque Secret: a few keys, ~2-3 KiB
      await pool(
        Array.from({ length: UNRELATED }, (_, i) => i),
        32,
        (i) =>
          req('POST', `/api/v1/namespaces/${opNs[i % n]}/secrets`, {
            metadata: { name: `unrelated-${i}`, labels: { app: 'other' } },
            stringData: { 'config.yaml': blob, token: `t-${i}` },
          }),
      );
      log(`setup: ${UNRELATED} unrelated Secrets in ${seconds(t0).toFixed(1)} s`);
    }
    const document = Buffer.from(
      JSON.stringify({
        auths: {
          'r.example.com': {
            username: 'bench',
            password: 'before',
            auth: Buffer.from('bench:before').toString('base64'),
          },
        },
      }),
    ).toString('base64');
    const secretBody = (ns: string, name = 'pull') => ({
      metadata: { name, namespace: ns, labels: { 'bench-floor': 'true' } },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': document },
    });

    // 1. Fan-out floor: the same creates and SA updates, issued directly with the same concurrency.
    t0 = performance.now();
    const fanoutWrites = async (ns: string) => {
      await req('POST', `/api/v1/namespaces/${ns}/secrets`, secretBody(ns));
      for (const sa of SAS)
        await req(
          'PATCH',
          `/api/v1/namespaces/${ns}/serviceaccounts/${sa}`,
          { imagePullSecrets: [{ name: 'pull' }] },
          merge,
        );
    };
    await pool(floorNs, CONCURRENCY, fanoutWrites);
    const fanoutFloor = seconds(t0);
    let watchedFloor: { seconds: number; events: number } | undefined;
    if (WATCHED_FLOOR) {
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
            await req<{ metadata: { resourceVersion: string } }>(
              'GET',
              `${p}?limit=1${labelSelector ? `&labelSelector=${labelSelector}` : ''}`,
            )
          ).metadata.resourceVersion;
          // Wrapped: an async function returning the watch's promise would wait for the watch to end.
          return {
            ended: client.watch(
              p,
              { labelSelector, resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: 3600 },
              () => events++,
              abort.signal,
            ),
          };
        }),
      );
      t0 = performance.now();
      await pool(watchedNs, CONCURRENCY, fanoutWrites);
      watchedFloor = { seconds: seconds(t0), events };
      abort.abort();
      await Promise.allSettled(streams.map((x) => x.ended));
    }

    // 1. Fan-out: the operator.
    op = await startOperator({
      sourceNamespace: source,
      user: USER,
      args: ['--concurrency', String(CONCURRENCY), '--kube-api-qps', '0', '--log-level', 'warn'],
    });
    const CREDENTIALS = '/apis/regcred.io/v1alpha1/registrycredentials';
    // `names`: the name prefixes of the namespaces it serves (for namespaceNames with BENCH_TARGETING).
    const credential = (name: string, label: string, names: string[], targeting = TARGETING) => ({
      apiVersion: 'regcred.io/v1alpha1',
      kind: 'RegistryCredential',
      metadata: { name },
      spec: {
        registries: [{ server: 'r.example.com', basicAuth: { secretName: 'robot' } }],
        namespaceSelector: { matchLabels: { bench: label } },
        secretName: 'pull',
        ...(targeting
          ? {
              // the same namespaces and ServiceAccounts as the plain spec, reached through the new fields
              namespaceNames: names.map((prefix) => `${prefix}-*`),
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
      },
    });
    type Status = { status?: { namespaces?: { ready: number }; conditions?: Array<{ type: string; status: string }> } };
    const converged = (want: number) => (c: Status) =>
      (c.status?.namespaces?.ready ?? 0) >= want &&
      c.status?.conditions?.find((x) => x.type === 'Ready')?.status === 'True';
    /**
     * Applies `body`, returns the seconds until its status says `want` namespaces are ready, then
     * deletes it and waits for its cleanup.
     */
    const serveAndCleanUp = async (body: ReturnType<typeof credential>, want: number) => {
      const name = body.metadata.name;
      const watch = await watchUntil<Status>(CREDENTIALS, { fieldSelector: `metadata.name=${name}` }, converged(want));
      const start = performance.now();
      await req('POST', CREDENTIALS, body);
      await watch.done;
      const took = seconds(start);
      await watch.stop();
      await req('DELETE', `${CREDENTIALS}/${name}`);
      await waitFor(
        () =>
          req('GET', `${CREDENTIALS}/${name}`).then(
            () => false,
            () => true,
          ),
        { timeoutMs: 600_000, what: `the RegistryCredential ${name} cleaned up` },
      );
      await waitFor(async () => (await op!.metric('regcred_workqueue_depth')) === 0, { timeoutMs: 60_000 });
      return took;
    };
    if (WARMUP > 0) {
      await serveAndCleanUp(credential('warmup', 'warm', ['warm']), WARMUP);
      log(`warm-up: the operator served and cleaned up ${WARMUP} namespaces`);
    }
    // With BENCH_TARGETING, the plain spec's fan-out over the same namespaces in the same run, as the
    // comparison under the same load (the machine may be shared); it is cleaned up before the measured one.
    const plainFanout = TARGETING ? await serveAndCleanUp(credential('bench-plain', 'o', ['o'], false), n) : undefined;
    let mark = await auditOffset(cp);
    let api = await apiserverRequests(cp);
    const credentialWatch = await watchUntil<Status>(
      CREDENTIALS,
      { fieldSelector: 'metadata.name=bench' },
      converged(n),
    );
    t0 = performance.now();
    await req('POST', CREDENTIALS, credential('bench', 'o', ['o', 'onew']));
    await credentialWatch.done;
    const fanout = seconds(t0);
    await credentialWatch.stop();
    const fanoutCalls = await requestsSince(cp, mark, USER);
    record({
      size: n,
      figure: 'fan-out: apply to every namespace converged',
      unit: 's',
      operator: fanout,
      floor: fanoutFloor,
    });
    if (plainFanout !== undefined)
      record({
        size: n,
        figure: 'fan-out: the plain spec, same run',
        unit: 's',
        operator: plainFanout,
        floor: fanoutFloor,
      });
    if (watchedFloor)
      record({
        size: n,
        figure: 'fan-out: against a floor that also watches',
        unit: 's',
        operator: fanout,
        floor: watchedFloor.seconds,
        note: `${watchedFloor.events} watch events received by that floor's client`,
      });
    record({
      size: n,
      figure: 'fan-out: writes',
      unit: 'writes',
      operator: total(fanoutCalls, WRITES),
      floor: 4 * n,
      note: show(fanoutCalls),
    });
    // The bench's own create of the RegistryCredential is in this window: the minimum is 4n + 1.
    const fanoutApi = delta(await apiserverRequests(cp), api);
    record({
      size: n,
      figure: 'fan-out: apiserver_request_total writes',
      unit: 'writes',
      operator: total(fanoutApi, API_WRITES),
      floor: 4 * n + 1,
      note: show(fanoutApi),
    });

    // 2. New namespaces, one after another: creation -> Secret present and `default` SA patched.
    const latencies = async (prefix: string, label: string, react?: (ns: string) => void) => {
      const out: number[] = [];
      for (let i = 0; i < NEW_NAMESPACES; i++) {
        const ns = `${prefix}-${i}`;
        const start = performance.now();
        await req('POST', '/api/v1/namespaces', { metadata: { name: ns, labels: { bench: label } } });
        react?.(ns);
        await waitFor(
          async () => {
            const [s, sa] = await Promise.all([
              req('GET', `/api/v1/namespaces/${ns}/secrets/pull`).then(
                () => true,
                () => false,
              ),
              req<{ imagePullSecrets?: Array<{ name: string }> }>(
                'GET',
                `/api/v1/namespaces/${ns}/serviceaccounts/default`,
              ).then(
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
    // Floor: a minimal reactor doing the same two writes as soon as it can (SA: once it exists).
    const floorReact = (ns: string) => {
      void (async () => {
        await req('POST', `/api/v1/namespaces/${ns}/secrets`, secretBody(ns));
        await waitFor(
          async () =>
            req(
              'PATCH',
              `/api/v1/namespaces/${ns}/serviceaccounts/default`,
              { imagePullSecrets: [{ name: 'pull' }] },
              merge,
            ).then(
              () => true,
              () => false,
            ),
          { timeoutMs: 60_000, intervalMs: 5 },
        );
      })();
    };
    const floorLat = await latencies('fnew', 'fnew', floorReact);
    const opLat = await latencies('onew', 'o');
    for (const p of [50, 95, 99])
      record({
        size: n,
        figure: `new namespace p${p}`,
        unit: 's',
        operator: percentile(opLat, p),
        floor: percentile(floorLat, p),
      });

    // 3. Rotation: source changed -> every copy updated. Floor: the same updates issued directly.
    const copies = n + NEW_NAMESPACES;
    mark = await auditOffset(cp);
    api = await apiserverRequests(cp);
    const newDoc = Buffer.from(
      JSON.stringify({
        auths: {
          'r.example.com': {
            username: 'bench',
            password: 'after',
            auth: Buffer.from('bench:after').toString('base64'),
          },
        },
      }),
    ).toString('base64');
    // Completion is seen through a watch of the copies (what the operator itself receives), not by
    // polling lists: a list of every copy every few hundred ms would load the API server during
    // the operator's phase only, and skew the comparison with the floor.
    const rotated = new Set<string>();
    const rotationWatch = await watchUntil<{
      metadata: { namespace: string; name: string };
      data?: Record<string, string>;
    }>('/api/v1/secrets', { labelSelector: MANAGED }, (x) => {
      if (x.data?.['.dockerconfigjson'] === newDoc) rotated.add(`${x.metadata.namespace}/${x.metadata.name}`);
      return rotated.size >= copies;
    });
    t0 = performance.now();
    await req('PATCH', `/api/v1/namespaces/${source}/secrets/robot`, { stringData: { password: 'after' } }, merge);
    await rotationWatch.done;
    const rotation = seconds(t0);
    await rotationWatch.stop();
    // Checked once more by a list, outside the timed window.
    const copiesNow = await req<{ items: Array<{ data?: Record<string, string> }> }>(
      'GET',
      `/api/v1/secrets?labelSelector=${encodeURIComponent(MANAGED)}`,
    );
    if (copiesNow.items.filter((x) => x.data?.['.dockerconfigjson'] === newDoc).length < copies)
      throw new Error('rotation: a copy is not rotated after the watch saw all of them');
    const rotationCalls = await requestsSince(cp, mark, USER);
    const rotationApi = delta(await apiserverRequests(cp), api);
    t0 = performance.now();
    await pool([...floorNs, ...Array.from({ length: NEW_NAMESPACES }, (_, i) => `fnew-${i}`)], CONCURRENCY, (ns) =>
      req('PUT', `/api/v1/namespaces/${ns}/secrets/pull`, { ...secretBody(ns), data: { '.dockerconfigjson': newDoc } }),
    );
    record({ size: n, figure: 'rotation: every copy updated', unit: 's', operator: rotation, floor: seconds(t0) });
    record({
      size: n,
      figure: 'rotation: writes',
      unit: 'writes',
      operator: total(rotationCalls, WRITES),
      floor: copies,
      note: show(rotationCalls),
    });
    record({
      size: n,
      figure: 'rotation: apiserver_request_total writes',
      unit: 'writes',
      operator: total(rotationApi, API_WRITES),
      floor: copies + 1,
      note: `${show(rotationApi)} (the minimum counts the bench's own PATCH of the source)`,
    });

    // 3b. ServiceAccounts relabelled out of serviceAccountSelector, one after another (BENCH_TARGETING):
    // from the label PATCH until our entry is gone. Floor: a minimal reactor removing it itself.
    if (TARGETING) {
      const relabelled = async (prefix: string, react?: (ns: string) => Promise<unknown>) => {
        const out: number[] = [];
        for (let i = 0; i < Math.min(NEW_NAMESPACES, n); i++) {
          const ns = `${prefix}-${i}`;
          const start = performance.now();
          await req(
            'PATCH',
            `/api/v1/namespaces/${ns}/serviceaccounts/ci`,
            { metadata: { labels: { [PULL_LABEL]: null } } },
            merge,
          );
          if (react) void react(ns);
          await waitFor(
            async () =>
              !(
                await req<{ imagePullSecrets?: Array<{ name: string }> }>(
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
      const floorRelabel = await relabelled('f', (ns) =>
        req('PATCH', `/api/v1/namespaces/${ns}/serviceaccounts/ci`, { imagePullSecrets: [] }, merge),
      );
      mark = await auditOffset(cp);
      const opRelabel = await relabelled('o');
      // The phase ends with the credential's paced status recount and its Event (at most 10 s later).
      const relabelWrites = await quietSince(mark);
      for (const p of [50, 95, 99])
        record({
          size: n,
          figure: `SA relabelled out p${p}`,
          unit: 's',
          operator: percentile(opRelabel, p),
          floor: percentile(floorRelabel, p),
        });
      record({
        size: n,
        figure: 'SA relabelled out: writes',
        unit: 'writes',
        operator: total(relabelWrites, WRITES),
        floor: opRelabel.length,
        note: show(relabelWrites),
      });
    }

    // 4. Idle.
    await waitFor(async () => (await op!.metric('regcred_workqueue_depth')) === 0, { timeoutMs: 60_000 });
    mark = await auditOffset(cp);
    api = await apiserverRequests(cp);
    await sleep(IDLE_SECONDS * 1000); // a benchmark phase of fixed length, not a test wait
    const idleCalls = await requestsSince(cp, mark, USER);
    const idleApi = delta(await apiserverRequests(cp), api);
    record({
      size: n,
      figure: `idle ${IDLE_SECONDS} s: apiserver_request_total writes+lists`,
      unit: 'requests',
      operator: total(idleApi, [...API_WRITES, 'LIST']),
      floor: 0,
      note: show(idleApi),
    });
    record({
      size: n,
      figure: `idle ${IDLE_SECONDS} s: writes`,
      unit: 'writes',
      operator: total(idleCalls, WRITES),
      floor: 0,
    });
    record({
      size: n,
      figure: `idle ${IDLE_SECONDS} s: lists`,
      unit: 'lists',
      operator: total(idleCalls, ['list']),
      floor: 0,
      note: show(idleCalls),
    });

    // 6. Memory (before the restart: the cache is as full as it gets).
    const rss = Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${op.pid}/status`, 'utf8'))![1]) / 1024;
    const heap = sumMetric(await op.metrics(), 'regcred_nodejs_heap_size_used_bytes') / 1024 / 1024;
    record({
      size: n,
      figure: `memory: RSS${withUnrelated ? ` (+${UNRELATED} unrelated Secrets)` : ''}`,
      unit: 'MiB',
      operator: rss,
    });
    record({ size: n, figure: 'memory: heap used', unit: 'MiB', operator: heap });

    // 5. Restart on a converged cluster.
    await op.stop();
    mark = await auditOffset(cp);
    api = await apiserverRequests(cp);
    t0 = performance.now();
    op = await startOperator({
      sourceNamespace: source,
      user: USER,
      args: ['--concurrency', String(CONCURRENCY), '--kube-api-qps', '0', '--log-level', 'warn'],
    });
    const readyAfter = seconds(t0);
    await waitFor(
      async () =>
        (await op!.metric('regcred_reconcile_total', { kind: 'credential' })) >= 1 &&
        (await op!.metric('regcred_workqueue_depth')) === 0,
      { timeoutMs: 600_000 },
    );
    const restartCalls = await requestsSince(cp, mark, USER);
    record({ size: n, figure: 'restart: time to ready', unit: 's', operator: readyAfter });
    record({
      size: n,
      figure: 'restart: writes',
      unit: 'writes',
      operator: total(restartCalls, WRITES),
      floor: 0,
      note: show(restartCalls),
    });
    const restartApi = delta(await apiserverRequests(cp), api);
    record({
      size: n,
      figure: 'restart: apiserver_request_total writes',
      unit: 'writes',
      operator: total(restartApi, API_WRITES),
      floor: 0,
      note: show(restartApi),
    });
  } finally {
    await op?.stop().catch(() => undefined);
    client.close();
    await cp.stop();
  }
}

async function main(): Promise<void> {
  const started = new Date();
  const max = Math.max(...SIZES);
  for (const n of SIZES) await runSize(n, n === max);
  const lines = [
    `| N | figure | operator | floor | ratio |`,
    `|---|---|---|---|---|`,
    ...figures.map((f) => {
      const floor = f.floor === undefined ? '' : `${fmt(f.floor)} ${f.unit}`;
      const ratio = f.ratio === undefined ? '' : `${f.ratio.toFixed(2)}x`;
      return `| ${f.size} | ${f.figure} | ${fmt(f.operator)} ${f.unit} | ${floor} | ${ratio} |`;
    }),
  ];
  process.stdout.write(
    `\nregcred-operator benchmark, ${started.toISOString()}, sizes ${SIZES.join(',')}, ${NEW_NAMESPACES} new ` +
      `namespaces, idle ${IDLE_SECONDS} s, concurrency ${CONCURRENCY}${TARGETING ? ', targeting fields' : ''}\n\n` +
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
        newNamespaces: NEW_NAMESPACES,
        idleSeconds: IDLE_SECONDS,
        unrelated: UNRELATED,
        concurrency: CONCURRENCY,
        targeting: TARGETING,
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
