// The picture of the Grafana dashboard in docs/operations/dashboard.md, drawn from real data: a real
// control plane (harness/controlplane.ts), the operator as a process, a real registry, and a
// real Prometheus (hack/build-promtool.sh builds it) scraping the operator every 2 s while a scripted
// few minutes of work run: a fan-out to namespaces created in waves, a Google token (stand-in), a
// credential the registry refuses, a source Secret that is missing, a stuck bare Pod, a minute of
// 429s and cut watches from the fault proxy (harness/api-proxy.ts), a source Secret deleted and
// created again. Then every panel's queries of deploy/dashboards/regcred.json go to Prometheus'
// query_range API and each panel is drawn where its gridPos puts it, as SVG. Not a test and not run
// by npm test: run it after changing the dashboard and commit the picture.
//
//   node --import ./hack/ts-loader.mjs hack/dashboard-picture.ts   (npm run build first)
//   writes docs/operations/dashboard.svg; DASHBOARD_PICTURE_MINUTES (default 6) sets the length
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startApiProxy } from '../harness/api-proxy.js';
import { basicAuthSecret } from '../test/harness/cluster.js';
import { freePorts, httpGet, runOk, startControlPlane, stopPid } from '../harness/controlplane.js';
import { createStuckPod } from '../test/harness/pods.js';
import { startRegistry } from '../test/harness/registry.js';
import { GOOGLE_HOSTS, startGoogleStandIn } from '../test/harness/google.js';
import { cloudEnvironment, startEgressProxy } from '../test/harness/stand-ins.js';
import { startScenario } from '../test/harness/scenario.js';
import { waitFor } from '../harness/wait.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'docs', 'operations', 'dashboard.svg');
const MINUTES = Number(process.env.DASHBOARD_PICTURE_MINUTES ?? 6);
const JOB = 'regcred-operator-metrics';
const STEP_SECONDS = 5;

interface Target {
  expr: string;
  legendFormat?: string;
}
interface Panel {
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: Target[];
}
interface Series {
  name: string;
  points: Array<[number, number]>;
}

const log = (message: string) => process.stderr.write(`[dashboard-picture] ${message}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const promBin = (await runOk('bash', [path.join(ROOT, 'hack', 'build-promtool.sh')])).trim().split('\n').pop()!;
  const cp = await startControlPlane({ withControllerManager: true });
  const envFile = path.join(cp.dir, 'test-env.json');
  await writeFile(envFile, JSON.stringify(cp.env));
  process.env.REGCRED_TEST_ENV = envFile;
  await runOk(path.join(cp.binDir, 'kubectl'), ['--kubeconfig', cp.adminKubeconfig, 'apply', '-f', 'crds'], {
    cwd: ROOT,
  });
  const proxy = await startApiProxy(7);
  const user = { username: 'robot', password: 'picture-Pa55' };
  const registry = await startRegistry({ users: [user] });
  // Google's token endpoints as stand-ins behind an egress proxy, as in test/integration/gcp.test.ts:
  // a short-lived token with an expiry for the credential row.
  const egress = await startEgressProxy(GOOGLE_HOSTS);
  const google = await startGoogleStandIn(egress);
  const s = await startScenario('picture', {
    wrapKubeconfig: (kubeconfig) => proxy.kubeconfigFor(kubeconfig),
    operatorArgs: ['--verify-registries', '--log-level', 'info'],
    operatorEnv: cloudEnvironment(egress, { gce: google.metadataHost }),
  });
  const [promPort] = await freePorts(1);
  const promDir = await mkdtemp(path.join(os.tmpdir(), 'regcred-prometheus-'));
  const target = new URL(s.operator.metricsUrl).host;
  await writeFile(
    path.join(promDir, 'prometheus.yml'),
    `global: {scrape_interval: 2s, evaluation_interval: 2s}\n` +
      `scrape_configs:\n  - job_name: ${JOB}\n    static_configs: [{targets: ['${target}']}]\n`,
  );
  const prometheus = spawn(
    promBin + '/prometheus',
    [
      `--config.file=${path.join(promDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ],
    { stdio: 'ignore' },
  );
  const api = `http://127.0.0.1:${promPort}/api/v1`;
  try {
    await waitFor(async () => (await httpGet(`http://127.0.0.1:${promPort}/-/ready`)).status === 200, {
      what: 'Prometheus ready',
    });
    const started = Date.now() / 1000;
    await work(s, registry, proxy, user);
    log('rendering');
    const end = Date.now() / 1000;
    const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'deploy', 'dashboards', 'regcred.json'), 'utf8')) as {
      title: string;
      panels: Panel[];
    };
    const drawn: string[] = [];
    for (const panel of dashboard.panels) {
      const series: Series[] = [];
      for (const query of panel.targets ?? []) series.push(...(await queryRange(api, query, started, end)));
      drawn.push(drawPanel(panel, series, started, end));
    }
    await writeFile(OUT, svg(dashboard.title, drawn, dashboard.panels, MINUTES));
    log(`wrote ${path.relative(ROOT, OUT)}`);
  } finally {
    prometheus.kill('SIGTERM');
    proxy.setFaults({});
    await s.cleanup().catch((error: Error) => log(`cleanup: ${error.message}`));
    await registry.stop();
    await google.stop();
    await egress.stop();
    await proxy.stop();
    await cp.stop();
    if (prometheus.pid) await stopPid(prometheus.pid, promBin + '/prometheus', 10_000).catch(() => undefined);
  }
}

/** The scripted minutes of work the picture shows. */
async function work(
  s: Awaited<ReturnType<typeof startScenario>>,
  registry: Awaited<ReturnType<typeof startRegistry>>,
  proxy: Awaited<ReturnType<typeof startApiProxy>>,
  user: { username: string; password: string },
): Promise<void> {
  const slice = (MINUTES * 60_000) / 6;
  const source = s.sourceNamespace;
  await s.cluster.createSecret(source, basicAuthSecret('robot', user.username, user.password));
  await s.cluster.createSecret(source, basicAuthSecret('wrong', user.username, 'wrong-Pa55'));
  await s.cluster.createSecret(source, {
    metadata: { name: 'registry-ca' },
    stringData: { 'ca.crt': await readFile(registry.caFile, 'utf8') },
  });
  const verify = { caSecretName: 'registry-ca' };
  const stuckNs = await s.namespace('stuck', { wave: '0' });
  await waitFor(() => s.cluster.getServiceAccount(stuckNs, 'default'), { what: 'a default ServiceAccount' });
  await createStuckPod({ namespace: stuckNs, name: 'bare', images: [registry.image] });
  log('a credential for every namespace of the waves, with stuck-pod recovery');
  await s.credential('team', {
    registries: [{ server: registry.host, basicAuth: { secretName: 'robot' }, verify }],
    namespaceSelector: { matchLabels: { 'regcred-test': s.id } },
    podRecovery: { enabled: true },
  });
  for (let wave = 1; wave <= 3; wave++) {
    log(`wave ${wave}: 40 namespaces`);
    await Promise.all(Array.from({ length: 40 }, (_, i) => s.namespace(`w${wave}-${i}`, { wave: String(wave) })));
    await sleep(slice / 2);
  }
  log("a credential with Google's short-lived token");
  await s.credential('google', {
    registries: [{ server: 'europe-west1-docker.pkg.dev', gcp: {}, verify: { enabled: false } }],
    namespaceSelector: { matchLabels: { 'regcred-test': s.id, wave: '3' } },
  });
  log('a credential the registry refuses, one whose source Secret is missing');
  await s.credential('refused', {
    registries: [{ server: registry.host, basicAuth: { secretName: 'wrong' }, verify }],
    namespaceSelector: { matchLabels: { 'regcred-test': s.id, wave: '1' } },
  });
  await s.credential('missing', {
    registries: [{ server: registry.host, basicAuth: { secretName: 'no-such-secret' }, verify }],
    namespaceSelector: { matchLabels: { 'regcred-test': s.id, wave: '2' } },
  });
  await sleep(slice);
  log('the API server throttles (429 to 30% of requests) and watches are cut, while namespaces come');
  proxy.setFaults({ tooManyRequests: 0.3 }, { retryAfterSeconds: 1 });
  proxy.cutWatches();
  await Promise.all(Array.from({ length: 40 }, (_, i) => s.namespace(`w4-${i}`, { wave: '4' })));
  await sleep(slice);
  proxy.setFaults({});
  log('the source Secret is deleted and created again');
  await s.cluster.deleteSecret(source, 'robot');
  await s.cluster.createSecret(source, basicAuthSecret('robot', user.username, user.password));
  await sleep(slice);
}

async function queryRange(api: string, target: Target, start: number, end: number): Promise<Series[]> {
  const expr = target.expr
    .replaceAll('$__rate_interval', '30s')
    .replaceAll('${datasource}', '')
    .replaceAll('$job', JOB);
  const url = `${api}/query_range?${new URLSearchParams({
    query: expr,
    start: String(start),
    end: String(end),
    step: String(STEP_SECONDS),
  })}`;
  const answer = JSON.parse((await httpGet(url)).body) as {
    status: string;
    error?: string;
    data?: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> };
  };
  if (answer.status !== 'success') throw new Error(`${expr}: ${answer.error}`);
  return answer.data!.result.map((result) => ({
    name: (target.legendFormat ?? '').replace(/\{\{\s*(\w+)\s*\}\}/g, (_, label: string) => result.metric[label] ?? ''),
    points: result.values.map(([time, value]) => [time, Number(value)] as [number, number]),
  }));
}

const UNIT_WIDTH = 60;
const ROW_HEIGHT = 34;
const COLORS = ['#73bf69', '#f2cc0c', '#5794f2', '#ff780a', '#f2495c', '#b877d9', '#8ab8ff', '#fade2a'];
const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function formatValue(value: number, unit: string | undefined): string {
  if (!Number.isFinite(value)) return '-';
  if (unit === 'percentunit') return `${(value * 100).toFixed(0)}%`;
  if (unit === 'bytes') return `${(value / 1048576).toFixed(0)} MiB`;
  if (unit === 's')
    return value >= 3600
      ? `${(value / 3600).toFixed(1)} h`
      : value >= 1
        ? `${value.toFixed(1)} s`
        : `${(value * 1000).toFixed(1)} ms`;
  const suffix = unit === 'reqps' ? ' req/s' : unit === 'ops' ? ' /s' : '';
  return `${Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(2).replace(/\.?0+$/, '')}${suffix}`;
}

function drawPanel(panel: Panel, series: Series[], start: number, end: number): string {
  const { x, y, w, h } = panel.gridPos;
  const left = x * UNIT_WIDTH + 4;
  const top = y * ROW_HEIGHT + 44;
  const width = w * UNIT_WIDTH - 8;
  const height = h * ROW_HEIGHT - 8;
  if (panel.type === 'row') return `<text x="${left}" y="${top + 22}" class="row">${escape(panel.title)}</text>`;
  const unit = panel.fieldConfig?.defaults?.unit;
  const parts = [
    `<rect x="${left}" y="${top}" width="${width}" height="${height}" rx="3" class="panel"/>`,
    `<text x="${left + 8}" y="${top + 18}" class="title">${escape(panel.title)}</text>`,
  ];
  if (panel.type === 'stat') {
    const last = series[0]?.points.at(-1)?.[1] ?? NaN;
    parts.push(
      `<text x="${left + width / 2}" y="${top + height / 2 + 20}" class="stat">` +
        `${escape(formatValue(last, unit))}</text>`,
    );
    return parts.join('');
  }
  const plot = { left: left + 56, top: top + 30, width: width - 66, height: height - 80 };
  const values = series.flatMap((one) => one.points.map(([, value]) => value)).filter(Number.isFinite);
  const max = Math.max(...values, 0);
  const min = Math.min(...values, 0);
  const span = max - min || 1;
  const sx = (time: number) => plot.left + ((time - start) / (end - start || 1)) * plot.width;
  const sy = (value: number) => plot.top + plot.height - ((value - min) / span) * plot.height;
  parts.push(
    `<line x1="${plot.left}" y1="${plot.top + plot.height}" x2="${plot.left + plot.width}" ` +
      `y2="${plot.top + plot.height}" class="axis"/>`,
    `<text x="${plot.left - 4}" y="${plot.top + 8}" class="tick">${escape(formatValue(max, unit))}</text>`,
    `<text x="${plot.left - 4}" y="${plot.top + plot.height}" class="tick">${escape(formatValue(min, unit))}</text>`,
  );
  if (!series.length)
    parts.push(
      `<text x="${plot.left + plot.width / 2}" y="${plot.top + plot.height / 2}" class="nodata">No data</text>`,
    );
  series.slice(0, 8).forEach((one, i) => {
    const color = COLORS[i % COLORS.length];
    const path = one.points
      .filter(([, value]) => Number.isFinite(value))
      .map(([time, value], j) => `${j ? 'L' : 'M'}${sx(time).toFixed(1)},${sy(value).toFixed(1)}`)
      .join('');
    if (path) parts.push(`<path d="${path}" stroke="${color}" class="line"/>`);
    const legendX = left + 8 + (i % 2) * (width / 2);
    const legendY = top + height - 34 + Math.floor(i / 2) * 12;
    if (i < 6)
      parts.push(
        `<rect x="${legendX}" y="${legendY - 7}" width="10" height="3" fill="${color}"/>` +
          `<text x="${legendX + 14}" y="${legendY}" class="legend">${escape(one.name.slice(0, 48))}</text>`,
      );
  });
  return parts.join('');
}

function svg(title: string, panels: string[], layout: Panel[], minutes: number): string {
  const bottom = Math.max(...layout.map((panel) => panel.gridPos.y + panel.gridPos.h));
  const width = 24 * UNIT_WIDTH;
  const height = bottom * ROW_HEIGHT + 52;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">
<style>
.bg{fill:#111217}.panel{fill:#181b1f;stroke:#2c3235}.title{fill:#ccccdc;font-size:13px;font-weight:600}
.row{fill:#ccccdc;font-size:15px;font-weight:600}.stat{fill:#73bf69;font-size:34px;text-anchor:middle;font-weight:600}
.axis{stroke:#2c3235}.tick{fill:#8e8e8e;font-size:10px;text-anchor:end}.legend{fill:#ccccdc;font-size:10px}
.line{fill:none;stroke-width:1.5}.nodata{fill:#8e8e8e;font-size:12px;text-anchor:middle}
.head{fill:#ccccdc;font-size:18px}
</style>
<rect width="100%" height="100%" class="bg"/>
<text x="8" y="28" class="head">${escape(title)}: ${minutes} minutes of a real operator, \
scraped by Prometheus every 2 s (hack/dashboard-picture.ts)</text>
${panels.join('\n')}
</svg>
`;
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    log(error.stack ?? error.message);
    process.exit(1);
  },
);
