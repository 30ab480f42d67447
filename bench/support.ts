// What the benchmark reads and how it reports: figures, the API server's audit log (requests by
// user per phase), its /metrics (apiserver_request_total and API Priority and Fairness), an
// operator process's memory, and the settings deploy/ and the Helm chart ship.
import { createReadStream } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { type Config, parseConfig } from '../src/config.js';
import type { ControlPlane } from '../harness/controlplane.js';

// ---- a control plane to measure on -----------------------------------------------------------

/**
 * Makes a started control plane the harness's test environment (REGCRED_TEST_ENV, read by the
 * operator and cluster helpers), installs the CRD from `root`/crds and returns an admin KubeConfig.
 */
export async function prepareControlPlane(cp: ControlPlane, root: string): Promise<KubeConfig> {
  const envFile = path.join(cp.dir, 'test-env.json');
  await writeFile(envFile, JSON.stringify(cp.env));
  process.env.REGCRED_TEST_ENV = envFile;
  for (const args of [
    ['apply', '-f', path.join(root, 'crds')],
    ['wait', '--for=condition=Established', '--timeout=60s', 'crd/registrycredentials.regcred.io'],
  ]) {
    const res = await cp.kubectl(args);
    if (res.code !== 0) throw new Error(res.stderr);
  }
  const kc = new KubeConfig();
  kc.loadFromFile(cp.adminKubeconfig);
  return kc;
}

/** Writes a run's results to bench/results/<name>-<date>[-quick].json under `root`; returns the path. */
export async function saveResults(root: string, name: string, date: string, quick: boolean, results: unknown) {
  const out = path.join(root, 'bench', 'results', `${name}-${date.replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`);
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
  log(`results in ${path.relative(root, out)}`);
  return out;
}

// ---- figures ----------------------------------------------------------------------------------

export interface Figure {
  size: number;
  mode: string;
  figure: string;
  unit: string;
  operator: number;
  floor?: number;
  ratio?: number;
  target?: string;
  note?: string;
}

export const figures: Figure[] = [];
export const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
export const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(n < 10 ? 3 : 1));

export function record(f: Omit<Figure, 'ratio'>): void {
  const ratio = f.floor ? f.operator / f.floor : undefined;
  figures.push({ ...f, ratio });
  const r = ratio === undefined ? '' : ` (floor ${fmt(f.floor!)} ${f.unit}, ${ratio.toFixed(2)}x)`;
  const target = f.target ? ` [target ${f.target}]` : '';
  log(`N=${f.size} ${f.mode}: ${f.figure}: ${fmt(f.operator)} ${f.unit}${r}${target}${f.note ? ` — ${f.note}` : ''}`);
}

export const seconds = (t0: number) => (performance.now() - t0) / 1000;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` over `items` with at most `n` in flight. */
export async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

// ---- the API server's audit log: requests by user per phase -----------------------------------

interface Audit {
  verb: string;
  stage: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string };
}

export async function auditOffset(cp: ControlPlane): Promise<number> {
  return (await stat(cp.auditLogPath)).size;
}

/** The requests `user` made since `offset`, keyed "verb resource[/subresource]". */
export async function requestsSince(cp: ControlPlane, offset: number, user: string): Promise<Record<string, number>> {
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

export const WRITES = ['create', 'update', 'patch', 'delete'];
export const total = (c: Record<string, number>, verbs?: string[]) =>
  Object.entries(c)
    .filter(([k]) => !verbs || verbs.includes(k.split(' ')[0]!))
    .reduce((a, [, v]) => a + v, 0);
export const show = (c: Record<string, number>) =>
  Object.entries(c)
    .sort()
    .map(([k, v]) => `${k}=${v}`)
    .join(', ') || 'none';

// ---- the API server's own /metrics --------------------------------------------------------------

export type Samples = Array<{ name: string; labels: Record<string, string>; value: number }>;

export async function apiserverMetrics(cp: ControlPlane): Promise<Samples> {
  const r = await cp.kubectl(['get', '--raw', '/metrics']);
  if (r.code !== 0) throw new Error(`kubectl get --raw /metrics: ${r.stderr}`);
  const out: Samples = [];
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('apiserver_request_total{') && !line.startsWith('apiserver_flowcontrol_')) continue;
    const brace = line.indexOf('{');
    const name = brace < 0 ? line.slice(0, line.indexOf(' ')) : line.slice(0, brace);
    const labels: Record<string, string> = {};
    for (const m of line.slice(brace + 1, line.lastIndexOf('}')).matchAll(/(\w+)="([^"]*)"/g)) labels[m[1]!] = m[2]!;
    out.push({ name, labels, value: Number(line.slice(line.lastIndexOf(' ') + 1)) });
  }
  return out;
}

const sum = (samples: Samples, name: string, match: (labels: Record<string, string>) => boolean) =>
  samples.filter((s) => s.name === name && match(s.labels)).reduce((a, s) => a + s.value, 0);

const WATCHED = new Set(['secrets', 'serviceaccounts', 'registrycredentials', 'events']);
/** apiserver_request_total for the resources the operator touches, keyed "VERB resource[/sub]". */
export function apiserverRequests(samples: Samples): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== 'apiserver_request_total' || !WATCHED.has(s.labels.resource ?? '')) continue;
    const sub = s.labels.subresource ? `/${s.labels.subresource}` : '';
    const key = `${s.labels.verb} ${s.labels.resource}${sub}`;
    counts[key] = (counts[key] ?? 0) + s.value;
  }
  return counts;
}
export const delta = (after: Record<string, number>, before: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(after)
      .map(([k, v]) => [k, v - (before[k] ?? 0)])
      .filter(([, v]) => (v as number) > 0),
  ) as Record<string, number>;
export const API_WRITES = ['POST', 'PUT', 'PATCH', 'DELETE', 'APPLY'];

/**
 * API Priority and Fairness between two readings, for one FlowSchema: requests dispatched (by
 * priority level), rejected (429), and how long they waited in a queue.
 */
export function apfView(before: Samples, after: Samples, flowSchema: string) {
  const of = (fs: Record<string, string>) => fs.flow_schema === flowSchema;
  const d = (name: string, match: (l: Record<string, string>) => boolean = of) =>
    sum(after, name, match) - sum(before, name, match);
  const levels = new Set(
    after
      .filter((s) => s.name === 'apiserver_flowcontrol_dispatched_requests_total' && of(s.labels))
      .map((s) => s.labels.priority_level!),
  );
  const waitCount = d('apiserver_flowcontrol_request_wait_duration_seconds_count');
  const waitSum = d('apiserver_flowcontrol_request_wait_duration_seconds_sum');
  // the requests that waited longer than the histogram's first bucket
  const BUCKET = 'apiserver_flowcontrol_request_wait_duration_seconds_bucket';
  const bounds = [...new Set(after.filter((x) => x.name === BUCKET).map((x) => Number(x.labels.le)))]
    .filter((le) => le > 0 && Number.isFinite(le))
    .sort((a, b) => a - b);
  const first = bounds[0];
  const withinFirst = first === undefined ? waitCount : d(BUCKET, (l) => of(l) && Number(l.le) === first);
  return {
    flowSchema,
    priorityLevels: [...levels],
    dispatched: d('apiserver_flowcontrol_dispatched_requests_total'),
    rejected: d('apiserver_flowcontrol_rejected_requests_total'),
    meanWaitMs: waitCount > 0 ? (waitSum / waitCount) * 1000 : 0,
    waitedLonger: { thanSeconds: first, requests: waitCount - withinFirst },
  };
}

// ---- an operator process's memory ------------------------------------------------------------------

/** VmRSS and VmHWM (the kernel's high-water mark of the resident set: the true peak) in MiB. */
export async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/** CPU time (user + system) a process has used so far, in seconds (/proc/<pid>/stat, 100 ticks a second). */
export async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at state (3rd); utime and stime are 14th and 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The pids of the control plane's etcd and kube-apiserver (as its harness recorded them). */
export async function controlPlanePids(cp: ControlPlane): Promise<Record<'etcd' | 'apiserver', number>> {
  const { etcd, apiserver } = await cp.pids();
  if (etcd === undefined || apiserver === undefined) throw new Error(`no etcd or kube-apiserver pid in ${cp.dir}`);
  return { etcd, apiserver };
}

/** CPU seconds used by each of `pids` between start() and the returned function's call. */
export async function cpuMeter(pids: Record<string, number>): Promise<() => Promise<Record<string, number>>> {
  const read = async () =>
    Object.fromEntries(
      await Promise.all(Object.entries(pids).map(async ([k, pid]) => [k, await cpuSecondsOf(pid)] as const)),
    );
  const before = await read();
  return async () => {
    const after = await read();
    return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
  };
}

/** "operator 1.23 s, apiserver 2.34 s, etcd 0.45 s". */
export const showCpu = (cpu: Record<string, number>) =>
  Object.entries(cpu)
    .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
    .join(', ');

/** Samples RSS every 250 ms, per named phase, beside the kernel's high-water mark. */
export class RssSampler {
  private timer?: NodeJS.Timeout;
  private phase = 'start';
  readonly peakByPhase = new Map<string, number>();

  constructor(private readonly pid: number) {}

  start(): this {
    this.timer = setInterval(() => {
      memoryOf(this.pid).then(
        ({ rss }) => this.peakByPhase.set(this.phase, Math.max(this.peakByPhase.get(this.phase) ?? 0, rss)),
        () => undefined,
      );
    }, 250);
    return this;
  }

  enter(phase: string): void {
    this.phase = phase;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The phase with the highest sample, and that sample. */
  highest(): { phase: string; rss: number } {
    let best = { phase: '', rss: 0 };
    for (const [phase, rss] of this.peakByPhase) if (rss > best.rss) best = { phase, rss };
    return best;
  }
}

// ---- the settings users run: deploy/ and the chart -------------------------------------------------

/** Settings that change how the operator performs (addresses, names and namespaces aside). */
const TUNING: Array<keyof Config> = [
  'logLevel',
  'concurrency',
  'kubeApiQps',
  'kubeApiBurst',
  'kubeApiMaxInflight',
  'kubeApiAdaptive',
  'kubeApiTimeoutSeconds',
  'watchIdleTimeoutSeconds',
  'leaderElect',
  'verifyRegistries',
];

interface Container {
  args?: string[];
  env?: Array<{ name: string; value?: string }>;
}

function operatorContainer(documents: unknown[]): Container {
  const deployment = documents.find((d) => (d as { kind?: string })?.kind === 'Deployment') as
    { spec: { template: { spec: { containers: Container[] } } } } | undefined;
  const container = deployment?.spec.template.spec.containers[0];
  if (!container) throw new Error('no operator Deployment in the manifests');
  return container;
}

/**
 * The flags and environment deploy/ ships, checked against what the Helm chart renders (`helmBin`
 * template with its defaults): both must give the same tuning, or the benchmark stops. Returns the
 * deploy/ container's args without the listen addresses (the harness binds loopback ports) and its
 * plain environment variables, and the parsed tuning.
 */
export async function shippedSettings(
  root: string,
  renderChart: () => Promise<string>,
  namespace: string,
): Promise<{ args: string[]; env: Record<string, string>; tuning: Partial<Config> }> {
  const deploy = operatorContainer(yaml.loadAll(await readFile(path.join(root, 'deploy', 'deployment.yaml'), 'utf8')));
  const chart = operatorContainer(yaml.loadAll(await renderChart()));
  const envOf = (c: Container) =>
    Object.fromEntries(
      (c.env ?? []).map((e) => [e.name, e.value ?? (e.name === 'POD_NAMESPACE' ? namespace : '')]),
    ) as Record<string, string>;
  const tuningOf = (c: Container) => {
    const config = parseConfig(c.args ?? [], envOf(c));
    return Object.fromEntries(TUNING.map((key) => [key, config[key]])) as Partial<Config>;
  };
  const fromDeploy = tuningOf(deploy);
  const fromChart = tuningOf(chart);
  if (JSON.stringify(fromDeploy) !== JSON.stringify(fromChart))
    throw new Error(
      `deploy/ and the chart ship different settings: ${JSON.stringify(fromDeploy)} vs ${JSON.stringify(fromChart)}`,
    );
  const address = /^--(metrics-bind-address|health-probe-bind-address)(=|$)/;
  return {
    args: (deploy.args ?? []).filter((arg) => !address.test(arg)),
    env: Object.fromEntries(Object.entries(envOf(deploy)).filter(([, v]) => v !== '')),
    tuning: fromDeploy,
  };
}
