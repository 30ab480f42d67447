// The monitoring artifacts against a real scrape: one operator on the real control plane, made to
// produce every series the alert rules (deploy/alerts/), their promtool tests (deploy/alerts/tests/)
// and the Grafana dashboard (deploy/dashboards/regcred.json) use — a credential per source kind
// (static, Google's token from its stand-in, a missing source), verification against a real registry that refuses,
// a stuck bare Pod, the kubelet endpoint serving and refusing the real node plugin, 429s and cut
// watches from a fault proxy — then its /metrics is read, and each metric name with its label names
// must be there. A metric or label renamed in src/metrics.ts fails here, not on a user's pager.
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import yaml from 'js-yaml';
import { type ApiProxy, startApiProxy } from '../../harness/api-proxy.js';
import { basicAuthSecret } from '../harness/cluster.js';
import { freePorts, runOk } from '../../harness/controlplane.js';
import {
  mintToken,
  pluginBinary,
  providerRequest,
  runPlugin,
  writePluginConfig,
} from '../../harness/kubelet-plugin.js';
import { GOOGLE_HOSTS, type GoogleStandIn, startGoogleStandIn } from '../harness/google.js';
import { createStuckPod } from '../harness/pods.js';
import { type Registry, startRegistry } from '../harness/registry.js';
import { type Scenario, startScenario, waitForCondition } from '../harness/scenario.js';
import { cloudEnvironment, type EgressProxy, startEgressProxy } from '../harness/stand-ins.js';
import { createCertificateAuthority, issueServerCertificate } from '../../harness/tls.js';
import { waitFor } from '../../harness/wait.js';
import {
  groupingLabelsOf,
  labelSet,
  parseSeries,
  scrapedSeries,
  type Selector,
  selectorsOf,
  TARGET_LABELS,
} from '../support/promql.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const RULES = path.join(ROOT, 'deploy', 'alerts', 'regcred-operator.rules.yaml');
const RULE_TESTS = path.join(ROOT, 'deploy', 'alerts', 'tests');
const DASHBOARD = path.join(ROOT, 'deploy', 'dashboards', 'regcred.json');
/** Series Prometheus makes itself, not the operator. */
const PROMETHEUS_SERIES = new Set(['up']);
const GOOGLE_SERVER = 'europe-west1-docker.pkg.dev';
const user = { username: 'puller', password: 'puller-Pa55-monitoring' };

interface RuleFile {
  groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }>;
}
interface RuleTestFile {
  tests: Array<{ input_series: Array<{ series: string }> }>;
}
interface Dashboard {
  panels: Array<{ title: string; targets?: Array<{ expr: string }>; panels?: Dashboard['panels'] }>;
}

function ruleExpressions(): Array<[string, string]> {
  const file = yaml.load(readFileSync(RULES, 'utf8')) as RuleFile;
  return file.groups.flatMap((group) =>
    group.rules.map((rule): [string, string] => [rule.alert ?? rule.record!, rule.expr]),
  );
}
function ruleTestSeries(): Array<[string, Selector]> {
  return readdirSync(RULE_TESTS)
    .filter((file) => file.endsWith('.yaml'))
    .flatMap((file) =>
      (yaml.load(readFileSync(path.join(RULE_TESTS, file), 'utf8')) as RuleTestFile).tests.flatMap((test) =>
        test.input_series.map((input): [string, Selector] => [file, parseSeries(input.series)]),
      ),
    );
}
function dashboardExpressions(): Array<[string, string]> {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
  const panels = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
  return panels.flatMap((panel) => (panel.targets ?? []).map((target): [string, string] => [panel.title, target.expr]));
}

let s: Scenario;
let egress: EgressProxy;
let google: GoogleStandIn;
let proxy: ApiProxy;
let registry: Registry;
let scrape: Map<string, Set<string>>;

beforeAll(async () => {
  await pluginBinary();
  [registry, egress, proxy] = await Promise.all([
    startRegistry({ users: [user] }),
    startEgressProxy(GOOGLE_HOSTS),
    startApiProxy(27),
  ]);
  google = await startGoogleStandIn(egress);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'regcred-monitoring-'));
  const ca = await createCertificateAuthority(path.join(dir, 'ca'));
  const serving = await issueServerCertificate(ca, 'endpoint', ['127.0.0.1']);
  await writeFile(path.join(dir, 'tls.crt'), serving.cert);
  await writeFile(path.join(dir, 'tls.key'), serving.key);
  const [port] = await freePorts(1);
  s = await startScenario('monitoring', {
    wrapKubeconfig: (kubeconfig) => proxy.kubeconfigFor(kubeconfig),
    operatorArgs: [
      '--verify-registries',
      ...['--kubelet-bind-address', `127.0.0.1:${port}`],
      ...['--kubelet-tls-cert-file', path.join(dir, 'tls.crt'), '--kubelet-tls-key-file', path.join(dir, 'tls.key')],
    ],
    // Google's endpoints are stand-ins behind an egress proxy (test/harness/google.ts, stand-ins.ts).
    operatorEnv: cloudEnvironment(egress, { gce: google.metadataHost }),
  });
  const source = s.sourceNamespace;
  await s.cluster.createSecret(source, basicAuthSecret('good', user.username, user.password));
  await s.cluster.createSecret(source, basicAuthSecret('wrong', user.username, 'wrong-Pa55'));
  await s.cluster.createSecret(source, {
    metadata: { name: 'registry-ca' },
    stringData: { 'ca.crt': await readFile(registry.caFile, 'utf8') },
  });
  const ns = await s.namespace('mon', { group: 'mon' });
  await waitFor(() => s.cluster.getServiceAccount(ns, 'default'), { what: 'the default ServiceAccount' });
  // A bare Pod stuck pulling from the registry since before its credential existed (so it has no
  // pull secret): recovery can only warn (regcred_pods_recovered_total{result="warned"}).
  await createStuckPod({ namespace: ns, name: 'bare', images: [registry.image] });

  // Served by the kubelet endpoint, copied into the namespace, and its Pods recovered.
  const served = await s.credential('served', {
    registries: [{ server: registry.host, basicAuth: { secretName: 'good' }, verify: { caSecretName: 'registry-ca' } }],
    namespaceSelector: s.selectorWith({ group: 'mon' }),
    delivery: { secrets: true, kubelet: true },
    podRecovery: { enabled: true },
  });
  // Refused by the registry: regcred_registry_verified 0.
  const refused = await s.credential('refused', {
    registries: [
      { server: registry.host, basicAuth: { secretName: 'wrong' }, verify: { caSecretName: 'registry-ca' } },
    ],
    namespaceSelector: s.selectorWith({ group: 'none' }),
  });
  // A short-lived token (Google's, with its expiry): regcred_credentials_expiry_seconds, regcred_token_renewals_total.
  const token = await s.credential('token', {
    registries: [{ server: GOOGLE_SERVER, gcp: {}, verify: { enabled: false } }],
    namespaceSelector: s.selectorWith({ group: 'none' }),
  });
  // A source Secret that does not exist: regcred_source_failures_total.
  const missing = await s.credential('missing', {
    registries: [{ server: registry.host, basicAuth: { secretName: 'no-such-secret' }, verify: { enabled: false } }],
    namespaceSelector: s.selectorWith({ group: 'none' }),
  });
  await waitForCondition(s.cluster, served, 'Ready', { status: 'True' });
  await waitForCondition(s.cluster, refused, 'CredentialsVerified', { status: 'False' });
  await waitForCondition(s.cluster, token, 'SourcesReady', { status: 'True' });
  await waitForCondition(s.cluster, missing, 'SourcesReady', { status: 'False' });

  // The node plugin: a token of a selected Pod is served, a token that is no token is refused.
  const pluginConfig = await writePluginConfig(path.join(dir, 'node'), [`https://127.0.0.1:${port}`], ca.caFile);
  await s.cluster.createPod(ns, {
    metadata: { name: 'puller' },
    spec: { containers: [{ name: 'c', image: registry.image }] },
  });
  const podToken = await mintToken(ns, 'default', { pod: 'puller' });
  expect((await runPlugin(pluginConfig, providerRequest(registry.image, podToken))).code).toBe(0);
  await runPlugin(pluginConfig, providerRequest(registry.image, 'not-a-token'));

  // The API server's pressure and dropped watches, from the fault proxy.
  proxy.setFaults({ tooManyRequests: 0.5 }, { retryAfterSeconds: 0 });
  await s.cluster.createNamespace(`mon-poke-${s.id}`.slice(0, 63), { 'regcred-test': s.id, group: 'mon' });
  await waitFor(async () => (await s.operator.metric('regcred_api_requests_total', { code: '429' })) > 0, {
    what: 'a 429 counted',
  });
  proxy.setFaults({});
  proxy.cutWatches();

  const wanted = [
    'regcred_pods_recovered_total',
    'regcred_watch_restarts_total',
    'regcred_kubelet_requests_total',
    'regcred_credentials_expiry_seconds',
    'regcred_cache_objects', // sampled every 2 s
  ];
  scrape = await waitFor(
    async () => {
      const now = scrapedSeries(await s.operator.metrics());
      return wanted.every((name) => now.has(name)) &&
        (await s.operator.metric('regcred_kubelet_requests_total', { result: 'refused' })) > 0
        ? now
        : undefined;
    },
    { timeoutMs: 120_000, what: `the operator to report ${wanted.join(', ')}` },
  );
}, 300_000);
afterAll(async () => {
  proxy?.setFaults({});
  await s?.cleanup();
  await Promise.all([registry?.stop(), google?.stop(), proxy?.stop()]);
  await egress?.stop();
}, 180_000);

/** Why `selector` is not in the scrape ('' when it is): its name is missing, or a label it matches on. */
function missingFrom(selector: Selector): string {
  if (PROMETHEUS_SERIES.has(selector.name)) return '';
  const sets = scrape.get(selector.name);
  if (!sets) return `${selector.name} is not in the scrape`;
  const labels = new Set([...sets].flatMap((set) => set.split(',')).concat(TARGET_LABELS));
  const unknown = selector.labels.filter((label) => !labels.has(label));
  return unknown.length ? `${selector.name} has no label ${unknown.join(', ')} (it has ${[...sets].join(' | ')})` : '';
}

/** The problems of one expression: selectors not in the scrape, grouping labels none of its metrics has. */
function problemsOf(expr: string): string[] {
  const selectors = selectorsOf(expr);
  const problems = selectors.map(missingFrom).filter(Boolean);
  const labels = new Set(
    selectors
      .flatMap((selector) => [...(scrape.get(selector.name) ?? [])].flatMap((set) => set.split(',')))
      .concat(TARGET_LABELS, ['le']),
  );
  for (const label of groupingLabelsOf(expr))
    if (!labels.has(label)) problems.push(`no metric of the expression has label ${label}`);
  if (!selectors.length) problems.push('no metric selector');
  return problems;
}

test.each(ruleExpressions())(
  'alert %s: every metric and label of its expression is in the real scrape',
  (_alert, expr) => {
    expect(problemsOf(expr)).toEqual([]);
  },
);

test.each(dashboardExpressions())(
  'dashboard panel %s: every metric and label of its query is in the real scrape',
  (_panel, expr) => {
    expect(problemsOf(expr)).toEqual([]);
  },
);

test('the rule tests feed series exactly as the operator exports them: the same name and label names', () => {
  const problems: string[] = [];
  for (const [file, series] of ruleTestSeries()) {
    if (PROMETHEUS_SERIES.has(series.name)) continue;
    const own = series.labels.filter((label) => !TARGET_LABELS.includes(label));
    const sets = scrape.get(series.name);
    if (!sets) problems.push(`${file}: ${series.name} is not in the scrape`);
    else if (!sets.has(labelSet(own)))
      problems.push(
        `${file}: ${series.name}{${labelSet(own)}} is not a label set of the scrape (${[...sets].join(' | ')})`,
      );
  }
  expect(problems).toEqual([]);
  expect(ruleTestSeries().length).toBeGreaterThan(0);
});

test('the generated monitoring files are up to date with the chart and deploy/dashboards (hack/gen-monitoring.ts --check)', async () => {
  await runOk(process.execPath, ['--import', './hack/ts-loader.mjs', 'hack/gen-monitoring.ts', '--check'], {
    cwd: ROOT,
  });
});
