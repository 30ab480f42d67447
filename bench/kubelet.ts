// `npm run bench:kubelet`: the kubelet endpoint of delivery.kubelet on a real local control plane
// (etcd, kube-apiserver), beside a floor measured in the same run: TokenReview alone, the one API
// call the endpoint makes per new token. Prints the figures and writes JSON to bench/results/.
// `npm run bench:kubelet -- --help` lists the phases and knobs.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../src/k8s/client.js';
import { accessFromKubeConfig } from '../src/k8s/kubeconfig.js';
import { systemClock } from '../src/runtime/clock.js';
import { freePorts, startControlPlane } from '../test/harness/controlplane.js';
import { startOperator, sumMetric, type OperatorProcess } from '../test/harness/operator.js';
import { createCertificateAuthority, issueServerCertificate } from '../test/harness/tls.js';
import { waitFor } from '../test/harness/wait.js';
import { cpuSecondsOf, figures, fmt, log, memoryOf, percentile, pool, record, RssSampler, seconds } from './support.js';

const HELP = `npm run bench:kubelet [-- --quick] [-- --help]

One control plane; S ServiceAccounts (BENCH_KUBELET_SERVICE_ACCOUNTS, 20 per namespace), one Pod
each, and a Pod-bound token each with the audience kubelet.regcred.io, as a kubelet mints them. One
RegistryCredential (delivery: {secrets: false, kubelet: true}) selects them all. The operator runs
with the shipped log level and kubelet flags; requests go to its endpoint as the node plugin sends
them: one new TLS connection per request, BENCH_KUBELET_CONCURRENCY at once.
  floor    a TokenReview for each token, issued directly, at the same concurrency
  storm    each token once (nothing cached: one TokenReview per request)
  steady   BENCH_KUBELET_STEADY_REQUESTS more requests over the same tokens (verified tokens are
           remembered until they expire)
Per phase: requests per second, p50 and p99 latency, the operator's CPU seconds and peak RSS, and
TokenReviews per request (regcred_kubelet_token_reviews_total).

Knobs (environment; --quick values in brackets):
  BENCH_KUBELET_SERVICE_ACCOUNTS  2000 [200]
  BENCH_KUBELET_CONCURRENCY       64
  BENCH_KUBELET_STEADY_REQUESTS   20000 [2000]`;

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const AUDIENCE = 'kubelet.regcred.io';
const PER_NAMESPACE = 20;
const REGISTRY = 'registry.bench.invalid';

const quick = process.argv.includes('--quick');
const knob = (name: string, full: number, small: number) => Number(process.env[name] ?? (quick ? small : full));
const SERVICE_ACCOUNTS = knob('BENCH_KUBELET_SERVICE_ACCOUNTS', 2000, 200);
const CONCURRENCY = knob('BENCH_KUBELET_CONCURRENCY', 64, 64);
const STEADY_REQUESTS = knob('BENCH_KUBELET_STEADY_REQUESTS', 20_000, 2000);
const MODE = `kubelet c=${CONCURRENCY}`;

type Method = 'GET' | 'POST';

interface Phase {
  requests: number;
  seconds: number;
  latenciesMs: number[];
  failures: number;
}

/** Runs `send` once per item, `CONCURRENCY` at once, timing each. */
async function timed<T>(items: T[], send: (item: T) => Promise<boolean>): Promise<Phase> {
  const latenciesMs: number[] = [];
  let failures = 0;
  const t0 = performance.now();
  await pool(items, CONCURRENCY, async (item) => {
    const started = performance.now();
    if (!(await send(item))) failures++;
    latenciesMs.push(performance.now() - started);
  });
  return { requests: items.length, seconds: seconds(t0), latenciesMs, failures };
}

/** POST a CredentialProviderRequest over a connection of its own, as the plugin does. */
function ask(port: number, ca: Buffer, token: string): Promise<{ status: number; body: string }> {
  const body = JSON.stringify({
    apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
    kind: 'CredentialProviderRequest',
    image: `${REGISTRY}/app:1`,
    serviceAccountToken: token,
  });
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/credentials',
        method: 'POST',
        ca,
        servername: 'regcred-operator-kubelet.regcred-system.svc',
        agent: false,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function main(): Promise<void> {
  if (process.argv.includes('--help')) {
    console.log(HELP);
    return;
  }
  const started = new Date();
  const cp = await startControlPlane({ withControllerManager: false });
  const work = await mkdtemp(path.join(os.tmpdir(), 'regcred-bench-kubelet-'));
  let op: OperatorProcess | undefined;
  try {
    const envFile = path.join(cp.dir, 'test-env.json');
    await writeFile(envFile, JSON.stringify(cp.env));
    process.env.REGCRED_TEST_ENV = envFile;
    const kc = new KubeConfig();
    kc.loadFromFile(cp.adminKubeconfig);
    const client = KubeClient.create(await accessFromKubeConfig(kc), { clock: systemClock, maxRetries: 5 });
    const req = <T>(method: Method, p: string, body?: unknown) =>
      client.request<T>({ method, path: p, body, timeoutMs: 120_000 });
    const crd = await cp.kubectl(['apply', '-f', path.join(ROOT, 'crds')]);
    if (crd.code !== 0) throw new Error(crd.stderr);
    await cp.kubectl(['wait', '--for=condition=Established', 'crd/registrycredentials.regcred.io']);

    // ServiceAccounts, a Pod each (never scheduled: a bound token only needs it to exist), a token each
    const t0 = performance.now();
    const source = 'bench-kubelet-source';
    await req('POST', '/api/v1/namespaces', { metadata: { name: source } });
    const namespaces = Array.from({ length: Math.ceil(SERVICE_ACCOUNTS / PER_NAMESPACE) }, (_, i) => `kb-${i}`);
    await pool(namespaces, 16, (name) =>
      req('POST', '/api/v1/namespaces', { metadata: { name, labels: { 'bench-kubelet': 'yes' } } }),
    );
    const accounts = Array.from({ length: SERVICE_ACCOUNTS }, (_, i) => ({
      namespace: namespaces[Math.floor(i / PER_NAMESPACE)]!,
      name: `sa-${i % PER_NAMESPACE}`,
    }));
    const tokens: string[] = [];
    await pool(accounts, 32, async ({ namespace, name }) => {
      await req('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, { metadata: { name } });
      const pod = await req<{ metadata: { name: string; uid: string } }>(
        'POST',
        `/api/v1/namespaces/${namespace}/pods`,
        {
          metadata: { name: `p-${name}` },
          spec: { serviceAccountName: name, containers: [{ name: 'c', image: `${REGISTRY}/app:1` }] },
        },
      );
      const token = await req<{ status: { token: string } }>(
        'POST',
        `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
        {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: {
            audiences: [AUDIENCE],
            expirationSeconds: 3600,
            boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
          },
        },
      );
      tokens.push(token.status.token);
    });
    log(`${SERVICE_ACCOUNTS} ServiceAccounts, Pods and tokens in ${fmt(seconds(t0))} s`);

    // the floor: TokenReview alone
    const floor = await timed(tokens, async (token) => {
      const review = await req<{ status: { authenticated?: boolean } }>(
        'POST',
        '/apis/authentication.k8s.io/v1/tokenreviews',
        { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [AUDIENCE] } },
      );
      return review.status.authenticated === true;
    });

    // the operator and its endpoint
    const ca = await createCertificateAuthority(path.join(work, 'ca'));
    const serving = await issueServerCertificate(ca, 'endpoint', ['regcred-operator-kubelet.regcred-system.svc']);
    await writeFile(path.join(work, 'tls.crt'), serving.cert);
    await writeFile(path.join(work, 'tls.key'), serving.key);
    const caPem = await readFile(ca.caFile);
    const [port] = await freePorts(1);
    await req('POST', `/api/v1/namespaces/${source}/secrets`, {
      metadata: { name: 'pull' },
      type: 'kubernetes.io/basic-auth',
      stringData: { username: 'bench', password: randomBytes(18).toString('base64url') },
    });
    op = await startOperator({
      sourceNamespace: source,
      user: 'bench-kubelet-operator',
      args: [
        ...['--kubelet-bind-address', `127.0.0.1:${port!}`],
        ...[
          '--kubelet-tls-cert-file',
          path.join(work, 'tls.crt'),
          '--kubelet-tls-key-file',
          path.join(work, 'tls.key'),
        ],
      ],
    });
    await req('POST', '/apis/regcred.io/v1alpha1/registrycredentials', {
      apiVersion: 'regcred.io/v1alpha1',
      kind: 'RegistryCredential',
      metadata: { name: 'bench-kubelet' },
      spec: {
        registries: [{ server: REGISTRY, basicAuth: { secretName: 'pull' }, verify: { enabled: false } }],
        namespaceSelector: { matchLabels: { 'bench-kubelet': 'yes' } },
        serviceAccounts: ['*'],
        delivery: { secrets: false, kubelet: true },
      },
    });
    await waitFor(
      async () => {
        const cred = await req<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(
          'GET',
          '/apis/regcred.io/v1alpha1/registrycredentials/bench-kubelet',
        );
        return cred.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      },
      { timeoutMs: 120_000, what: 'the RegistryCredential Ready' },
    );
    const operator = op;
    const rss = new RssSampler(operator.pid).start();
    const served = (answer: { status: number; body: string }) =>
      answer.status === 200 && answer.body.includes(`"${REGISTRY}"`);
    const measure = async (name: string, items: string[]) => {
      rss.enter(name);
      const reviews = await operator.metric('regcred_kubelet_token_reviews_total');
      const cpu = await cpuSecondsOf(operator.pid);
      const phase = await timed(items, async (token) => served(await ask(port!, caPem, token)));
      return {
        phase,
        cpu: (await cpuSecondsOf(operator.pid)) - cpu,
        reviewsPerRequest: ((await operator.metric('regcred_kubelet_token_reviews_total')) - reviews) / phase.requests,
      };
    };
    const storm = await measure('storm', tokens);
    const steady = await measure(
      'steady',
      Array.from({ length: STEADY_REQUESTS }, (_, i) => tokens[i % tokens.length]!),
    );
    rss.stop();
    const memory = await memoryOf(operator.pid);

    const report = (phase: string, p: Phase, floorPhase?: Phase) => {
      const rate = (x: Phase) => x.requests / x.seconds;
      record({
        size: SERVICE_ACCOUNTS,
        mode: MODE,
        figure: `${phase}: requests/s`,
        unit: '/s',
        operator: rate(p),
        floor: floorPhase && rate(floorPhase),
      });
      for (const q of [50, 99])
        record({
          size: SERVICE_ACCOUNTS,
          mode: MODE,
          figure: `${phase}: p${q} latency`,
          unit: 'ms',
          operator: percentile(p.latenciesMs, q),
          floor: floorPhase && percentile(floorPhase.latenciesMs, q),
        });
      if (p.failures)
        record({
          size: SERVICE_ACCOUNTS,
          mode: MODE,
          figure: `${phase}: not served`,
          unit: 'requests',
          operator: p.failures,
        });
    };
    record({
      size: SERVICE_ACCOUNTS,
      mode: MODE,
      figure: 'floor (TokenReview alone): requests/s',
      unit: '/s',
      operator: floor.requests / floor.seconds,
    });
    report('storm', storm.phase, floor);
    report('steady', steady.phase);
    for (const [name, m] of [
      ['storm', storm],
      ['steady', steady],
    ] as const) {
      record({ size: SERVICE_ACCOUNTS, mode: MODE, figure: `${name}: operator CPU`, unit: 's', operator: m.cpu });
      record({
        size: SERVICE_ACCOUNTS,
        mode: MODE,
        figure: `${name}: TokenReviews per request`,
        unit: '',
        operator: m.reviewsPerRequest,
      });
      record({
        size: SERVICE_ACCOUNTS,
        mode: MODE,
        figure: `${name}: operator RSS peak`,
        unit: 'MiB',
        operator: rss.peakByPhase.get(name) ?? 0,
      });
    }
    record({
      size: SERVICE_ACCOUNTS,
      mode: MODE,
      figure: 'operator RSS high-water mark',
      unit: 'MiB',
      operator: memory.peak,
    });
    const metrics = await operator.metrics();
    record({
      size: SERVICE_ACCOUNTS,
      mode: MODE,
      figure: 'requests served (regcred_kubelet_requests_total)',
      unit: 'requests',
      operator: sumMetric(metrics, 'regcred_kubelet_requests_total', { result: 'served' }),
    });

    const results = path.join(ROOT, 'bench', 'results');
    await mkdir(results, { recursive: true });
    const file = path.join(
      results,
      `kubelet-${started.toISOString().replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`,
    );
    await writeFile(
      file,
      JSON.stringify(
        {
          started: started.toISOString(),
          machine: { cpus: os.cpus().length, memoryMiB: Math.round(os.totalmem() / 2 ** 20) },
          serviceAccounts: SERVICE_ACCOUNTS,
          concurrency: CONCURRENCY,
          steadyRequests: STEADY_REQUESTS,
          figures,
        },
        null,
        2,
      ),
    );
    log(`wrote ${path.relative(ROOT, file)}`);
  } finally {
    await op?.stop();
    await cp.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
