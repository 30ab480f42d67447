// `npm run bench:kubelet`: the operator's kubelet endpoint (delivery.kubelet) under the load of many
// kubelets, on a real local control plane, beside a floor measured in the same run: the
// TokenReviews alone, issued directly by this process with the same concurrency.
//
// Phases:
// - storm: one request per distinct ServiceAccount (each with a token bound to its own Pod), all at
//   once, each on a new TLS connection as the plugin makes one per pull: every request needs its
//   own TokenReview;
// - steady: the same tokens again at a fixed concurrency for a while: verified tokens are cached
//   until they expire, so TokenReviews per request fall to 0;
// - plugin: sequential pulls through the real plugin binary, exec'd as the kubelet execs it.
// Prints a table and writes JSON to bench/results/ (`--quick`: small sizes, a smoke run of npm test).
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuthenticationV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { buildOperator, freePorts, startControlPlane } from '../harness/controlplane.js';
import { pluginBinary, providerRequest, runPlugin, writePluginConfig } from '../harness/kubelet-plugin.js';
import { startOperator, sumMetric, type OperatorProcess } from '../harness/operator.js';
import { createCertificateAuthority, issueServerCertificate } from '../harness/tls.js';
import { waitFor } from '../harness/wait.js';
import {
  cpuSecondsOf,
  fmt,
  log,
  memoryOf,
  percentile,
  pool,
  prepareControlPlane,
  saveResults,
  seconds,
} from './support.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const AUDIENCE = 'kubelet.regcred.io';
/** Never contacted: verification is off, and the endpoint only names it in its answers. */
const REGISTRY = 'registry.example.com';
const IMAGE = `${REGISTRY}/team/app:1`;

const quick = process.argv.includes('--quick');
const SIZES = quick
  ? { namespaces: 2, perNamespace: 25, steadySeconds: 3, concurrency: 8, pluginRuns: 10 }
  : { namespaces: 20, perNamespace: 100, steadySeconds: 30, concurrency: 16, pluginRuns: 200 };

interface Phase {
  name: string;
  requests: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  tokenReviews?: number;
  operatorCpuSeconds?: number;
  note?: string;
}

interface Caller {
  namespace: string;
  serviceAccount: string;
  token: string;
}

async function main(): Promise<void> {
  await buildOperator(ROOT);
  await pluginBinary();
  const cp = await startControlPlane({});
  let operator: OperatorProcess | undefined;
  try {
    const kc = await prepareControlPlane(cp, ROOT);
    const core = kc.makeApiClient(CoreV1Api);
    const auth = kc.makeApiClient(AuthenticationV1Api);

    // The endpoint's TLS, the operator, one RegistryCredential serving every ServiceAccount.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'regcred-bench-kubelet-'));
    const ca = await createCertificateAuthority(path.join(dir, 'ca'));
    const serving = await issueServerCertificate(ca, 'endpoint', ['127.0.0.1']);
    await writeFile(path.join(dir, 'tls.crt'), serving.cert);
    await writeFile(path.join(dir, 'tls.key'), serving.key);
    const [port] = await freePorts(1);
    const endpoint = `https://127.0.0.1:${port}`;
    const source = 'bench-kubelet-src';
    await core.createNamespace({ body: { metadata: { name: source } } });
    await core.createNamespacedSecret({
      namespace: source,
      body: {
        metadata: { name: 'pull' },
        type: 'kubernetes.io/basic-auth',
        stringData: { username: 'bench', password: randomBytes(12).toString('base64url') },
      },
    });
    operator = await startOperator({
      sourceNamespace: source,
      user: 'regcred-operator-bench-kubelet',
      args: [
        ...['--kubelet-bind-address', `127.0.0.1:${port}`],
        ...['--kubelet-tls-cert-file', path.join(dir, 'tls.crt'), '--kubelet-tls-key-file', path.join(dir, 'tls.key')],
        ...['--log-level', 'info'],
      ],
    });
    const custom = kc.makeApiClient(CustomObjectsApi);
    await custom.createClusterCustomObject({
      group: 'regcred.io',
      version: 'v1alpha1',
      plural: 'registrycredentials',
      body: {
        apiVersion: 'regcred.io/v1alpha1',
        kind: 'RegistryCredential',
        metadata: { name: 'bench-kubelet' },
        spec: {
          registries: [{ server: REGISTRY, basicAuth: { secretName: 'pull' }, verify: { enabled: false } }],
          namespaceSelector: { matchLabels: { bench: 'kubelet' } },
          serviceAccounts: ['*'],
          delivery: { secrets: false, kubelet: true },
        },
      },
    });

    // Distinct ServiceAccounts, each with a Pod (never scheduled: no node) and a token bound to it.
    const t0 = performance.now();
    const callers: Caller[] = [];
    const pairs: Array<{ namespace: string; serviceAccount: string }> = [];
    for (let n = 0; n < SIZES.namespaces; n++) {
      const namespace = `bench-kubelet-${n}`;
      await core.createNamespace({ body: { metadata: { name: namespace, labels: { bench: 'kubelet' } } } });
      for (let i = 0; i < SIZES.perNamespace; i++) pairs.push({ namespace, serviceAccount: `sa-${i}` });
    }
    await pool(pairs, 32, async ({ namespace, serviceAccount }) => {
      await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } });
      const pod = await core.createNamespacedPod({
        namespace,
        body: {
          metadata: { name: `pod-${serviceAccount}` },
          spec: { serviceAccountName: serviceAccount, containers: [{ name: 'c', image: IMAGE }] },
        },
      });
      const token = await core.createNamespacedServiceAccountToken({
        namespace,
        name: serviceAccount,
        body: {
          spec: {
            audiences: [AUDIENCE],
            expirationSeconds: 3600,
            boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata!.name!, uid: pod.metadata!.uid! },
          },
        },
      });
      callers.push({ namespace, serviceAccount, token: token.status!.token });
    });
    log(`${callers.length} ServiceAccounts with Pods and tokens in ${seconds(t0).toFixed(1)} s`);

    // The operator must see every namespace and ServiceAccount before the storm (its caches).
    const probe = callers.at(-1)!;
    await waitFor(async () => (await ask(endpoint, ca.caFile, probe)).served, {
      timeoutMs: 120_000,
      intervalMs: 250,
      what: 'the endpoint to serve the last ServiceAccount',
    });
    const ready = callers.slice(0, -1);

    const phases: Phase[] = [];
    const reviews = async () => sumMetric(await operator!.metrics(), 'regcred_kubelet_token_reviews_total');
    const measure = async (name: string, work: () => Promise<number[]>, note?: string): Promise<number[]> => {
      const reviewsBefore = await reviews();
      const cpuBefore = await cpuSecondsOf(operator!.pid);
      const started = performance.now();
      const latencies = await work();
      const elapsed = seconds(started);
      phases.push({
        name,
        requests: latencies.length,
        seconds: elapsed,
        perSecond: latencies.length / elapsed,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        tokenReviews: (await reviews()) - reviewsBefore,
        operatorCpuSeconds: (await cpuSecondsOf(operator!.pid)) - cpuBefore,
        ...(note ? { note } : {}),
      });
      return latencies;
    };

    // Floor: the TokenReviews alone, all at once, from this process.
    const floorStarted = performance.now();
    const floorLatencies = await Promise.all(
      ready.map(async (caller) => {
        const started = performance.now();
        const review = await auth.createTokenReview({ body: { spec: { token: caller.token, audiences: [AUDIENCE] } } });
        if (!review.status?.authenticated)
          throw new Error(`TokenReview refused ${caller.namespace}/${caller.serviceAccount}`);
        return performance.now() - started;
      }),
    );
    const floorSeconds = seconds(floorStarted);
    phases.push({
      name: 'floor: TokenReview alone, all at once',
      requests: floorLatencies.length,
      seconds: floorSeconds,
      perSecond: floorLatencies.length / floorSeconds,
      p50Ms: percentile(floorLatencies, 50),
      p99Ms: percentile(floorLatencies, 99),
    });

    await measure(
      'storm: one request per ServiceAccount, all at once',
      () => Promise.all(ready.map((caller) => timed(endpoint, ca.caFile, caller))),
      'a new TLS connection per request, as the plugin makes',
    );
    const steadyUntil = performance.now() + SIZES.steadySeconds * 1000;
    await measure(`steady: ${SIZES.concurrency} in flight for ${SIZES.steadySeconds} s`, async () => {
      const latencies: number[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: SIZES.concurrency }, async () => {
          while (performance.now() < steadyUntil)
            latencies.push(await timed(endpoint, ca.caFile, ready[next++ % ready.length]!));
        }),
      );
      return latencies;
    });
    const pluginConfig = await writePluginConfig(path.join(dir, 'node'), [endpoint], ca.caFile);
    await measure(`plugin: ${SIZES.pluginRuns} pulls through the plugin binary, one after another`, async () => {
      const latencies: number[] = [];
      for (let i = 0; i < SIZES.pluginRuns; i++) {
        const caller = ready[i % ready.length]!;
        const started = performance.now();
        const answer = await runPlugin(pluginConfig, providerRequest(IMAGE, caller.token));
        if (!answer.response?.auth[REGISTRY]) throw new Error(`the plugin got no credential: ${answer.stderr}`);
        latencies.push(performance.now() - started);
      }
      return latencies;
    });

    const memory = await memoryOf(operator.pid);
    const served = sumMetric(await operator.metrics(), 'regcred_kubelet_requests_total', { result: 'served' });
    print(phases, memory, callers.length);
    const results = {
      date: new Date().toISOString(),
      quick,
      serviceAccounts: callers.length,
      phases,
      operatorRssMiB: memory.rss,
      operatorPeakRssMiB: memory.peak,
      served,
    };
    await saveResults(ROOT, 'kubelet', results.date, quick, results);
  } finally {
    await operator?.stop().catch((err) => log(`stopping the operator: ${String(err)}`));
    await cp.stop();
  }
}

/** One request as the plugin sends it, on its own TLS connection; whether it was served. */
function ask(endpoint: string, caFile: string, caller: Caller): Promise<{ status: number; served: boolean }> {
  return readFile(caFile).then(
    (ca) =>
      new Promise((resolve, reject) => {
        const body = JSON.stringify(providerRequest(IMAGE, caller.token));
        const req = https.request(
          `${endpoint}/v1/credentials`,
          { method: 'POST', ca, agent: false, headers: { 'Content-Type': 'application/json', Connection: 'close' } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => {
              const answer =
                res.statusCode === 200 ? (JSON.parse(Buffer.concat(chunks).toString()) as { auth?: object }) : {};
              resolve({ status: res.statusCode ?? 0, served: Object.keys(answer.auth ?? {}).length > 0 });
            });
          },
        );
        req.on('error', reject);
        req.end(body);
      }),
  );
}

/** Milliseconds of one served request; anything else is a failure of the benchmark. */
async function timed(endpoint: string, caFile: string, caller: Caller): Promise<number> {
  const started = performance.now();
  const answer = await ask(endpoint, caFile, caller);
  if (!answer.served) throw new Error(`${caller.namespace}/${caller.serviceAccount} was not served (${answer.status})`);
  return performance.now() - started;
}

function print(phases: Phase[], memory: { rss: number; peak: number }, serviceAccounts: number): void {
  const rows = [['phase', 'requests', 'seconds', 'req/s', 'p50 ms', 'p99 ms', 'TokenReviews/req', 'operator CPU s']];
  for (const phase of phases)
    rows.push([
      phase.name,
      String(phase.requests),
      fmt(phase.seconds),
      phase.perSecond.toFixed(0),
      phase.p50Ms.toFixed(1),
      phase.p99Ms.toFixed(1),
      phase.tokenReviews === undefined ? '' : (phase.tokenReviews / phase.requests).toFixed(2),
      phase.operatorCpuSeconds === undefined ? '' : phase.operatorCpuSeconds.toFixed(2),
    ]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  process.stdout.write(
    `\nkubelet endpoint, ${serviceAccounts} ServiceAccounts (${os.cpus().length} CPUs)\n` +
      rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).join('\n') +
      `\noperator RSS ${memory.rss.toFixed(1)} MiB, peak ${memory.peak.toFixed(1)} MiB\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
