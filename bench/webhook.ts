// `npm run bench:webhook`: the Pod-injection webhook (injection: Pods) on a real local control plane:
// Pods created per second and the admission latency, beside two floors measured in the same run by
// the same creation loop against the same API server:
// - no webhook: a namespace no webhook configuration selects;
// - no-op webhook: a namespace selected by a configuration that calls bench/noop-webhook.ts, a
//   Node.js HTTPS server that answers "allowed" and nothing else (the cost of any webhook);
// - operator: a namespace the operator's webhook and one RegistryCredential (injection: Pods)
//   select; every Pod must get the entry.
// The three run interleaved, round after round, so that load from elsewhere on the machine falls on
// each alike. Latency: the client's (create call), the API server's own
// (apiserver_admission_webhook_admission_duration_seconds, per webhook) and the operator's
// (regcred_pod_injection_duration_seconds), quantiles of histograms as Prometheus computes them.
// Prints a table and writes JSON to bench/results/ (`--quick`: small sizes, a smoke run of npm test).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdmissionregistrationV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { registerPodWebhook, webhookServing } from '../harness/admission.js';
import { buildOperator, type ControlPlane, startControlPlane } from '../harness/controlplane.js';
import { startOperator, sumMetric, type OperatorProcess } from '../harness/operator.js';
import { waitFor } from '../harness/wait.js';
import { cpuSecondsOf, fmt, log, memoryOf, percentile, prepareControlPlane, saveResults, seconds } from './support.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Never contacted: verification is off, and no node pulls (the Pods are never scheduled). */
const REGISTRY = 'registry.example.com';
const IMAGE = `${REGISTRY}/team/app:1`;
const SA = 'app';

const quick = process.argv.includes('--quick');
const SIZES = quick
  ? { rounds: 1, podsPerRound: 100, concurrency: 8 }
  : { rounds: 3, podsPerRound: 1000, concurrency: 16 };

type Mode = 'no webhook' | 'no-op webhook' | 'operator webhook';
const MODES: Array<{ mode: Mode; namespace: string; webhook?: string }> = [
  { mode: 'no webhook', namespace: 'bench-webhook-none' },
  { mode: 'no-op webhook', namespace: 'bench-webhook-noop', webhook: 'noop.bench.regcred.io' },
  { mode: 'operator webhook', namespace: 'bench-webhook-operator', webhook: 'pods.regcred.io' },
];

interface Row {
  mode: Mode;
  pods: number;
  seconds: number;
  podsPerSecond: number;
  createP50Ms: number;
  createP99Ms: number;
  /** The API server's time calling the webhook (apiserver_admission_webhook_admission_duration_seconds). */
  apiserverWebhookP50Ms?: number;
  apiserverWebhookP99Ms?: number;
  /** The operator's own answer time (regcred_pod_injection_duration_seconds). */
  operatorP50Ms?: number;
  operatorP99Ms?: number;
  injected?: number;
  operatorCpuSeconds?: number;
}

async function main(): Promise<void> {
  await buildOperator(ROOT);
  const cp = await startControlPlane({});
  let operator: OperatorProcess | undefined;
  let noop: ChildProcess | undefined;
  try {
    const kc = await prepareControlPlane(cp, ROOT);
    const core = kc.makeApiClient(CoreV1Api);
    const admission = kc.makeApiClient(AdmissionregistrationV1Api);

    for (const { mode, namespace } of MODES) {
      await core.createNamespace({ body: { metadata: { name: namespace, labels: { 'bench-webhook': slug(mode) } } } });
      await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: SA } } });
    }
    const source = 'bench-webhook-src';
    await core.createNamespace({ body: { metadata: { name: source } } });
    await core.createNamespacedSecret({
      namespace: source,
      body: {
        metadata: { name: 'pull' },
        type: 'kubernetes.io/basic-auth',
        stringData: { username: 'bench', password: randomBytes(12).toString('base64url') },
      },
    });

    // The floor's webhook: its own certificate and port, a process of the same runtime as the operator.
    const noopServing = await webhookServing();
    noop = spawn(
      process.execPath,
      [
        ...['--import', path.join(ROOT, 'hack', 'ts-loader.mjs')],
        ...[path.join(ROOT, 'bench', 'noop-webhook.ts'), noopServing.certFile, noopServing.keyFile],
        String(noopServing.port),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      noop!.stdout!.once('data', () => resolve());
      noop!.once('exit', (code) => reject(new Error(`the no-op webhook exited (${code})`)));
    });

    const serving = await webhookServing();
    operator = await startOperator({
      sourceNamespace: source,
      user: 'regcred-operator-bench-webhook',
      args: [...serving.operatorArgs, '--log-level', 'info'],
    });
    const custom = kc.makeApiClient(CustomObjectsApi);
    const cred = 'bench-webhook';
    await custom.createClusterCustomObject({
      group: 'regcred.io',
      version: 'v1alpha1',
      plural: 'registrycredentials',
      body: {
        apiVersion: 'regcred.io/v1alpha1',
        kind: 'RegistryCredential',
        metadata: { name: cred },
        spec: {
          registries: [{ server: REGISTRY, basicAuth: { secretName: 'pull' }, verify: { enabled: false } }],
          namespaceSelector: { matchLabels: { 'bench-webhook': slug('operator webhook') } },
          serviceAccounts: [SA],
          injection: 'Pods',
        },
      },
    });
    await registerPodWebhook(
      admission,
      'bench-webhook-noop',
      noopServing,
      { matchLabels: { 'bench-webhook': slug('no-op webhook') } },
      'noop.bench.regcred.io',
    );
    await registerPodWebhook(admission, 'bench-webhook-operator', serving, {
      matchLabels: { 'bench-webhook': slug('operator webhook') },
    });

    // Both webhooks are called before the first round: the operator's adds the entry, the no-op one is counted.
    const operatorNs = MODES[2]!.namespace;
    await waitFor(
      async () =>
        (
          await core.createNamespacedPod({ namespace: operatorNs, dryRun: 'All', body: podBody('probe') })
        ).spec?.imagePullSecrets?.some((r) => r.name === cred),
      { timeoutMs: 60_000, intervalMs: 250, what: 'the operator webhook to add the entry' },
    );
    await waitFor(
      async () => {
        await core.createNamespacedPod({ namespace: MODES[1]!.namespace, dryRun: 'All', body: podBody('probe') });
        return (await webhookHistogram(cp, 'noop.bench.regcred.io')).count > 0;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'the API server to call the no-op webhook' },
    );

    const latencies = new Map<Mode, number[]>(MODES.map(({ mode }) => [mode, []]));
    const elapsed = new Map<Mode, number>(MODES.map(({ mode }) => [mode, 0]));
    const apiserverBefore = new Map<string, Histogram>();
    for (const { webhook } of MODES) if (webhook) apiserverBefore.set(webhook, await webhookHistogram(cp, webhook));
    const operatorBefore = histogram(await operator.metrics(), 'regcred_pod_injection_duration_seconds');
    const injectedBefore = sumMetric(await operator.metrics(), 'regcred_pod_injection_requests_total', {
      result: 'injected',
    });
    const cpuBefore = await cpuSecondsOf(operator.pid);
    let serial = 0;
    for (let round = 0; round < SIZES.rounds; round++) {
      for (const { mode, namespace } of MODES) {
        const started = performance.now();
        const names = Array.from({ length: SIZES.podsPerRound }, () => `p${++serial}`);
        const times = latencies.get(mode)!;
        let next = 0;
        await Promise.all(
          Array.from({ length: SIZES.concurrency }, async () => {
            while (next < names.length) {
              const name = names[next++]!;
              const t0 = performance.now();
              const pod = await core.createNamespacedPod({ namespace, body: podBody(name) });
              times.push(performance.now() - t0);
              if (mode === 'operator webhook' && !pod.spec?.imagePullSecrets?.some((r) => r.name === cred))
                throw new Error(`Pod ${namespace}/${name} was created without the entry`);
            }
          }),
        );
        elapsed.set(mode, elapsed.get(mode)! + seconds(started));
        log(`round ${round + 1}, ${mode}: ${names.length} Pods in ${seconds(started).toFixed(1)} s`);
      }
    }
    const operatorCpuSeconds = (await cpuSecondsOf(operator.pid)) - cpuBefore;
    const operatorMetrics = await operator.metrics();
    const operatorHistogram = subtract(
      histogram(operatorMetrics, 'regcred_pod_injection_duration_seconds'),
      operatorBefore,
    );
    const injected =
      sumMetric(operatorMetrics, 'regcred_pod_injection_requests_total', { result: 'injected' }) - injectedBefore;

    const rows: Row[] = [];
    for (const { mode, webhook } of MODES) {
      const times = latencies.get(mode)!;
      const row: Row = {
        mode,
        pods: times.length,
        seconds: elapsed.get(mode)!,
        podsPerSecond: times.length / elapsed.get(mode)!,
        createP50Ms: percentile(times, 50),
        createP99Ms: percentile(times, 99),
      };
      if (webhook) {
        const calls = subtract(await webhookHistogram(cp, webhook), apiserverBefore.get(webhook)!);
        row.apiserverWebhookP50Ms = quantile(calls, 0.5) * 1000;
        row.apiserverWebhookP99Ms = quantile(calls, 0.99) * 1000;
      }
      if (mode === 'operator webhook') {
        row.operatorP50Ms = quantile(operatorHistogram, 0.5) * 1000;
        row.operatorP99Ms = quantile(operatorHistogram, 0.99) * 1000;
        row.injected = injected;
        row.operatorCpuSeconds = operatorCpuSeconds;
      }
      rows.push(row);
    }
    if (injected < SIZES.rounds * SIZES.podsPerRound)
      throw new Error(`the operator counted ${injected} injected Pods, fewer than it admitted`);

    const memory = await memoryOf(operator.pid);
    print(rows, memory);
    const results = {
      date: new Date().toISOString(),
      quick,
      sizes: SIZES,
      cpus: os.cpus().length,
      rows,
      operatorRssMiB: memory.rss,
      operatorPeakRssMiB: memory.peak,
    };
    await saveResults(ROOT, 'webhook', results.date, quick, results);
  } finally {
    noop?.kill('SIGTERM');
    await operator?.stop().catch((err) => log(`stopping the operator: ${String(err)}`));
    await cp.stop();
  }
}

function podBody(name: string) {
  return {
    metadata: { name },
    spec: { serviceAccountName: SA, automountServiceAccountToken: false, containers: [{ name: 'c', image: IMAGE }] },
  };
}

const slug = (mode: Mode) => mode.replace(/[^a-z]+/g, '-');

/** Cumulative bucket counts of a histogram (upper bound → count), summed over label sets matching `labels`. */
interface Histogram {
  buckets: Map<number, number>;
  count: number;
}

function histogram(text: string, name: string, labels: Record<string, string> = {}): Histogram {
  const buckets = new Map<number, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}_bucket{`)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return { buckets, count: buckets.get(Infinity) ?? 0 };
}

function subtract(after: Histogram, before: Histogram): Histogram {
  const buckets = new Map<number, number>();
  for (const [bound, count] of after.buckets) buckets.set(bound, count - (before.buckets.get(bound) ?? 0));
  return { buckets, count: after.count - before.count };
}

/** histogram_quantile: linear interpolation inside the bucket holding the q-th observation (seconds). */
function quantile(h: Histogram, q: number): number {
  if (h.count === 0) return 0;
  const bounds = [...h.buckets.keys()].sort((a, b) => a - b);
  const rank = q * h.count;
  let lower = 0;
  let below = 0;
  for (const bound of bounds) {
    const count = h.buckets.get(bound)!;
    if (count >= rank) {
      if (bound === Infinity) return lower;
      return lower + ((bound - lower) * (rank - below)) / Math.max(1, count - below);
    }
    lower = bound;
    below = count;
  }
  return lower;
}

/** The API server's own histogram of its calls to one mutating webhook (admit, CREATE). */
async function webhookHistogram(cp: ControlPlane, webhook: string): Promise<Histogram> {
  const r = await cp.kubectl(['get', '--raw', '/metrics']);
  if (r.code !== 0) throw new Error(`kubectl get --raw /metrics: ${r.stderr}`);
  return histogram(r.stdout, 'apiserver_admission_webhook_admission_duration_seconds', {
    name: webhook,
    operation: 'CREATE',
    type: 'admit',
  });
}

function print(rows: Row[], memory: { rss: number; peak: number }): void {
  const ms = (n: number | undefined) => (n === undefined ? '' : n.toFixed(1));
  const table = [
    [
      'mode',
      'Pods',
      'Pods/s',
      'create p50 ms',
      'create p99 ms',
      'API server→webhook p50 ms',
      'p99 ms',
      'operator p50 ms',
      'p99 ms',
    ],
  ];
  for (const row of rows)
    table.push([
      row.mode,
      String(row.pods),
      row.podsPerSecond.toFixed(0),
      ms(row.createP50Ms),
      ms(row.createP99Ms),
      ms(row.apiserverWebhookP50Ms),
      ms(row.apiserverWebhookP99Ms),
      row.operatorP50Ms === undefined ? '' : row.operatorP50Ms.toFixed(2),
      row.operatorP99Ms === undefined ? '' : row.operatorP99Ms.toFixed(2),
    ]);
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  const operatorRow = rows.find((r) => r.mode === 'operator webhook')!;
  process.stdout.write(
    `\nPod-injection webhook, ${SIZES.rounds} rounds of ${SIZES.podsPerRound} Pods per mode, ` +
      `${SIZES.concurrency} creates in flight (${os.cpus().length} CPUs)\n` +
      table.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).join('\n') +
      `\noperator: ${operatorRow.injected} Pods injected, CPU ${fmt(operatorRow.operatorCpuSeconds ?? 0)} s, ` +
      `RSS ${memory.rss.toFixed(1)} MiB, peak ${memory.peak.toFixed(1)} MiB\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
