// Least privilege, checked: the operator runs the core scenario (materialize, inject into SAs,
// rotate, conflict with a foreign Secret, deselect, delete) as the ServiceAccount that deploy/
// ships, bound to exactly the ClusterRole/Roles of deploy/install.yaml, with a real token
// (TokenRequest), and with leader election on as deployed.
// - a missing verb fails: no request of the operator may be refused (403), and the scenario must converge;
// - a granted verb it does not use fails: every (verb, resource, scope) the rules grant must appear
//   among the requests the API server's audit log recorded for that identity (documented exceptions aside);
// - Secret reads outside the source namespace are only label-selected list/watch and gets of its own copies' name.
// The webhook's self-managed CA runs the same way with deploy/components/pod-injection's RBAC added.
// The same run scrapes /metrics over HTTP and scans everything the operator wrote (logs, Events,
// status, metrics) for the seeded secret values.
import { readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAllYaml } from '@kubernetes/client-node';
import { type AuditEvent, auditEvents, auditMark, describeRequests } from '../harness/audit.js';
import { basicAuthSecret, Cluster, type CredentialObject, uniqueSuffix } from '../harness/cluster.js';
import { freePorts, kubectl, testEnv } from '../../harness/controlplane.js';
import { type OperatorProcess, startOperator, sumMetric } from '../../harness/operator.js';
import { createStuckPod } from '../harness/pods.js';
import { passwordFor, waitForPullSecrets, waitForSecret, waitForSecretGone } from '../harness/scenario.js';
import { waitFor } from '../../harness/wait.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NS = 'regcred-system';
const SA = 'regcred-operator';
const IDENTITY = `system:serviceaccount:${NS}:${SA}`;
const MANAGED_SELECTOR = encodeURIComponent('app.kubernetes.io/managed-by=regcred-operator');

/**
 * Rules the operator may leave unused in this scenario, and why. Each is exercised elsewhere.
 * Key: `verb resource` (resource with its API group when not core).
 */
const MAY_BE_UNUSED: Record<string, string> = {
  'get serviceaccounts':
    're-read of a ServiceAccount after a write conflict with a concurrent editor (concurrent-editor.test.ts)',
  'create serviceaccounts/token':
    'a token of its own ServiceAccount for quay robot federation (quay.test.ts; here: the test after the audit one)',
};

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

interface Grant {
  /** '' for the ClusterRole (every namespace and cluster-scoped), else the Role's namespace. */
  namespace: string;
  group: string;
  resource: string;
  verb: string;
  resourceNames?: string[];
}

interface Request {
  verb: string;
  group: string;
  resource: string;
  namespace: string;
  name: string;
  uri: string;
  code: number;
}

interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Rule[];
}

const shipped = async () => loadAllYaml(await readFile(path.join(ROOT, 'deploy', 'install.yaml'), 'utf8')) as Doc[];

function grantsOf(docs: Doc[]): Grant[] {
  return docs
    .filter((d) => d.kind === 'ClusterRole' || d.kind === 'Role')
    .flatMap((d) =>
      (d.rules ?? []).flatMap((r) =>
        r.apiGroups.flatMap((group) =>
          r.resources.flatMap((resource) =>
            r.verbs.map((verb) => ({
              namespace: d.kind === 'Role' ? d.metadata.namespace! : '',
              group,
              resource,
              verb,
              resourceNames: r.resourceNames,
            })),
          ),
        ),
      ),
    );
}

function permits(g: Grant, r: Request): boolean {
  return (
    g.group === r.group &&
    g.resource === r.resource &&
    g.verb === r.verb &&
    (g.namespace === '' || g.namespace === r.namespace) &&
    (!g.resourceNames || g.resourceNames.includes(r.name))
  );
}

const key = (g: { verb: string; group: string; resource: string }) =>
  `${g.verb} ${g.group ? `${g.resource}.${g.group}` : g.resource}`;

/** An audit event as the request it recorded. */
function toRequest(e: AuditEvent): Request {
  const ref = (e.objectRef ?? {}) as {
    apiGroup?: string;
    resource?: string;
    subresource?: string;
    namespace?: string;
    name?: string;
  };
  return {
    verb: e.verb,
    group: ref.apiGroup ?? '',
    resource: ref.subresource ? `${ref.resource}/${ref.subresource}` : (ref.resource ?? ''),
    namespace: ref.namespace ?? '',
    name: ref.name ?? '',
    uri: e.requestURI,
    code: e.responseStatus?.code ?? 0,
  };
}

/** A kubeconfig holding a TokenRequest token of the shipped ServiceAccount. */
async function serviceAccountKubeconfig(): Promise<string> {
  const res = await kubectl(['-n', NS, 'create', 'token', SA, '--duration=3h']);
  if (res.code !== 0) throw new Error(res.stderr);
  const token = res.stdout.trim();
  const admin = JSON.parse(await readFile(testEnv().adminKubeconfig, 'utf8')) as {
    clusters: Array<{ cluster: Record<string, string> }>;
  };
  const file = path.join(testEnv().dir, 'regcred-operator-sa.kubeconfig');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'regcred-test', cluster: admin.clusters[0]!.cluster }],
    users: [{ name: SA, user: { token } }],
    contexts: [{ name: 'sa', context: { cluster: 'regcred-test', user: SA, namespace: NS } }],
    'current-context': 'sa',
  };
  await writeFile(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}

const cluster = Cluster.admin();
const id = uniqueSuffix();
const label = { 'regcred-rbac': id };
const [nsA, nsB, nsC] = ['a', 'b', 'c'].map((p) => `rbac-${p}-${id}`) as [string, string, string];
const cred = `rbac-${id}`;
const source = `robot-${id}`;
// Seeded secret values: none of them may appear in anything the operator writes.
const username = `user-${uniqueSuffix()}${uniqueSuffix()}`;
const passwords = [`pw1-${uniqueSuffix()}${uniqueSuffix()}`, `pw2-${uniqueSuffix()}${uniqueSuffix()}`];
const seeded = [
  username,
  ...passwords,
  ...passwords.flatMap((p) => [Buffer.from(`${username}:${p}`).toString('base64'), Buffer.from(p).toString('base64')]),
];

let op: OperatorProcess;
let mark: number;
let requests: Request[];
let grants: Grant[];
const statusSeen: CredentialObject[] = [];
let metricsText = '';
let scenarioError: Error | undefined;

beforeAll(async () => {
  const docs = await shipped();
  grants = grantsOf(docs);
  const rbac = docs.filter((d) =>
    ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(d.kind),
  );
  const applied = await kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rbac }),
  });
  if (applied.code !== 0) throw new Error(applied.stderr);
  // a fresh election: create is used
  await kubectl(['-n', NS, 'delete', 'lease', 'regcred-operator', '--ignore-not-found']);
  const kubeconfig = await serviceAccountKubeconfig();

  await cluster.createSecret(NS, basicAuthSecret(source, username, passwords[0]!));
  for (const ns of [nsA, nsB, nsC]) await cluster.createNamespace(ns, label);
  await waitFor(async () => (await cluster.getServiceAccount(nsA, 'default')) !== undefined, {
    what: 'the default ServiceAccount',
  });
  await cluster.createServiceAccount(nsA, 'app', ['foreign']);
  // A Secret that is not ours, with the name the copies get: the operator must not touch it.
  await cluster.createSecret(nsC, { metadata: { name: cred }, type: 'Opaque', stringData: { mine: 'not yours' } });

  mark = await auditMark();
  try {
    await runScenario(kubeconfig);
  } catch (err) {
    scenarioError = err as Error; // reported by the first test, next to the requests that were refused
  }
  await op?.stop(); // releases the Lease (an update)
  requests = (
    await waitFor(
      async () => {
        const events = (await auditEvents()).slice(mark).filter((e) => e.user.username === IDENTITY);
        return scenarioError || events.some((e) => e.objectRef?.resource === 'leases' && e.verb === 'update')
          ? events
          : undefined;
      },
      { what: "the operator's requests in the audit log" },
    )
  ).map(toRequest);
}, 300_000);

/** The core scenario: materialize, inject, conflict, rotate, deselect, delete. */
async function runScenario(kubeconfig: string): Promise<void> {
  op = await startOperator({
    sourceNamespace: NS,
    user: IDENTITY,
    kubeconfig,
    args: ['--leader-elect', '--leader-election-namespace', NS],
  });
  await waitFor(async () => (await op.metric('regcred_leader')) === 1, { what: 'the operator to take the Lease' });

  // a Pod stuck on a pull since before the credential: stuck-pod recovery evicts it
  await createStuckPod({ namespace: nsA, name: 'stuck', images: ['rbac.example.com/app:1'], controller: 'ReplicaSet' });
  await cluster.createCredential(cred, {
    registries: [{ server: 'rbac.example.com', basicAuth: { secretName: source } }],
    namespaceSelector: { matchLabels: label },
    serviceAccounts: ['default', 'app'],
    podRecovery: { enabled: true },
  });
  // materialize and inject; the foreign Secret in c is a conflict
  for (const ns of [nsA, nsB])
    await waitForSecret(cluster, ns, cred, (s) => passwordFor(s, 'rbac.example.com') === passwords[0]);
  await waitForPullSecrets(cluster, nsA, 'app', ['foreign', cred]);
  await waitForPullSecrets(cluster, nsB, 'default', [cred]);
  await waitFor(
    async () =>
      !(await cluster.core.listNamespacedPod({ namespace: nsA })).items.some((p) => p.metadata?.name === 'stuck'),
    {
      what: 'the stuck Pod to be evicted',
    },
  );
  statusSeen.push(
    await waitFor(
      async () => {
        const c = await cluster.getCredential(cred);
        return c?.status?.namespaces?.selected === 3 &&
          c.status.namespaces.ready === 2 &&
          c.status.failures?.[0]?.reason === 'SecretConflict'
          ? c
          : undefined;
      },
      { what: 'status: 3 selected, 2 ready, a SecretConflict' },
    ),
  );
  // rotate
  const src = (await cluster.getSecret(NS, source))!;
  await cluster.replaceSecret({ ...src, data: undefined, stringData: { username, password: passwords[1]! } });
  for (const ns of [nsA, nsB])
    await waitForSecret(cluster, ns, cred, (s) => passwordFor(s, 'rbac.example.com') === passwords[1]);
  // deselect b
  await cluster.labelNamespace(nsB, { 'regcred-rbac': null });
  await waitForSecretGone(cluster, nsB, cred);
  await waitForPullSecrets(cluster, nsB, 'default', []);
  statusSeen.push(
    await waitFor(
      async () => {
        const c = await cluster.getCredential(cred);
        return c?.status?.namespaces?.selected === 2 ? c : undefined;
      },
      { what: 'status: 2 selected' },
    ),
  );
  // the per-credential gauges follow the status (recounted after a short debounce)
  metricsText = await waitFor(
    async () => {
      const text = await op.metrics();
      const renewed = sumMetric(text, 'regcred_writes_total', { resource: 'leases', verb: 'UPDATE' }) > 0; // every 2 s
      return sumMetric(text, 'regcred_namespaces', { credential: cred, state: 'selected' }) === 2 && renewed
        ? text
        : undefined;
    },
    { what: 'regcred_namespaces to follow the deselection, and a Lease renewal' },
  );
  // delete: cleanup behind the finalizer
  await cluster.deleteCredential(cred);
  await waitFor(async () => !(await cluster.getCredential(cred)), { what: `${cred} to be gone` });
  await waitForSecretGone(cluster, nsA, cred);
  await waitForPullSecrets(cluster, nsA, 'app', ['foreign']);
  const foreign = await cluster.getSecret(nsC, cred);
  if (foreign?.data?.mine !== Buffer.from('not yours').toString('base64'))
    throw new Error('the foreign Secret was modified');
}

afterAll(async () => {
  await op?.stop();
  await cluster.deleteCredential(cred);
  for (const ns of [nsA, nsB, nsC]) await cluster.deleteNamespace(ns);
  await cluster.deleteSecret(NS, source);
});

test('the operator ran as the shipped ServiceAccount, nothing it asked for was refused, and the scenario converged', () => {
  expect(requests.length).toBeGreaterThan(0);
  const refused = requests.filter((r) => r.code === 401 || r.code === 403);
  expect(refused.map((r) => `${r.verb} ${r.uri} -> ${r.code}`)).toEqual([]);
  expect(scenarioError?.message).toBeUndefined();
  // every request is covered by a shipped rule (no permission came from elsewhere)
  const uncovered = requests.filter((r) => !grants.some((g) => permits(g, r)));
  expect(uncovered.map((r) => `${r.verb} ${r.uri}`)).toEqual([]);
});

test('every granted rule is used (or a documented exception)', () => {
  const unused = grants.filter((g) => !requests.some((r) => permits(g, r)));
  const unexplained = unused.filter((g) => !(key(g) in MAY_BE_UNUSED));
  expect(
    unexplained.map(
      (g) =>
        `${key(g)}${g.namespace ? ` in ${g.namespace}` : ''}${g.resourceNames ? ` ${g.resourceNames.join(',')}` : ''}`,
    ),
  ).toEqual([]);
  // the exception list holds only rules that exist
  for (const k of Object.keys(MAY_BE_UNUSED)) expect(grants.map(key)).toContain(k);
  process.stderr.write(
    `[shipped-rbac] ${grants.length} granted (verb, resource, scope) rules; used: ${grants.length - unused.length}; ` +
      `unused by this scenario: ${unused.map(key).join(', ') || 'none'}\n`,
  );
});

test('serviceaccounts/token: the shipped identity may request a token of its own ServiceAccount (quay), of no other', async () => {
  const kubeconfig = await serviceAccountKubeconfig();
  const own = await kubectl(['-n', NS, 'create', 'token', SA, '--audience=quay.example.com', '--duration=10m'], {
    kubeconfig,
  });
  expect(own.stderr).toBe('');
  expect(own.stdout.trim().split('.')).toHaveLength(3);
  await kubectl(['-n', NS, 'create', 'serviceaccount', 'someone-else']);
  try {
    const other = await kubectl(['-n', NS, 'create', 'token', 'someone-else'], { kubeconfig });
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain('forbidden');
  } finally {
    await kubectl(['-n', NS, 'delete', 'serviceaccount', 'someone-else', '--ignore-not-found']);
  }
});

test('Secret reads outside the source namespace: label-selected list/watch, and gets of its own copies only', () => {
  const secretReads = requests.filter(
    (r) => r.resource === 'secrets' && ['get', 'list', 'watch'].includes(r.verb) && r.namespace !== NS,
  );
  expect(secretReads.length).toBeGreaterThan(0);
  const stray = secretReads.filter((r) =>
    r.verb === 'get' ? r.name !== cred : !r.uri.includes(`labelSelector=${MANAGED_SELECTOR}`),
  );
  expect(
    describeRequests(
      stray.map((r) => ({ verb: r.verb, requestURI: r.uri, responseStatus: { code: r.code } }) as never),
    ),
  ).toEqual([]);
  expect(secretReads.some((r) => r.verb === 'get' && r.namespace === nsC)).toBe(true); // the conflict check
});

test('/metrics over HTTP has the expected series after the scenario, and no target namespace in any label', () => {
  const has = (name: string, labels: Record<string, string> = {}) => sumMetric(metricsText, name, labels) > 0;
  expect(has('regcred_reconcile_total', { kind: 'credential', result: 'success' })).toBe(true);
  expect(has('regcred_reconcile_total', { kind: 'namespace', result: 'success' })).toBe(true);
  expect(has('regcred_reconcile_duration_seconds_count', { kind: 'credential' })).toBe(true);
  expect(metricsText).toMatch(/^regcred_reconcile_duration_seconds_bucket\{le="0\.1",kind="credential"\} \d+$/m);
  expect(metricsText).toMatch(/^regcred_workqueue_depth \d+$/m);
  expect(has('regcred_managed_secrets')).toBe(true);
  expect(sumMetric(metricsText, 'regcred_namespaces', { credential: cred, state: 'selected' })).toBe(2);
  expect(sumMetric(metricsText, 'regcred_namespaces', { credential: cred, state: 'ready' })).toBe(1);
  for (const [resource, verb] of [
    ['secrets', 'CREATE'],
    ['secrets', 'UPDATE'],
    ['secrets', 'DELETE'],
    ['serviceaccounts', 'PATCH'],
    ['registrycredentials', 'PATCH'],
    ['events', 'CREATE'],
    ['leases', 'CREATE'],
    ['leases', 'UPDATE'],
  ]) {
    expect([resource, verb, has('regcred_writes_total', { resource: resource!, verb: verb! })]).toEqual([
      resource,
      verb,
      true,
    ]);
  }
  expect(has('regcred_api_requests_total', { verb: 'LIST', resource: 'secrets', code: '200' })).toBe(true);
  expect(sumMetric(metricsText, 'regcred_leader')).toBe(1);
  expect(sumMetric(metricsText, 'regcred_ready')).toBe(1);
  expect(has('regcred_process_resident_memory_bytes')).toBe(true);
  // declared even before their first sample (ECR only, or only after a watch restart)
  for (const name of [
    'regcred_token_renewals_total',
    'regcred_credentials_expiry_seconds',
    'regcred_watch_restarts_total',
    'regcred_source_failures_total',
  ])
    expect(metricsText).toContain(`# TYPE ${name} `);
  for (const ns of [nsA, nsB, nsC]) expect(metricsText).not.toContain(ns);
});

test('no seeded secret value in anything the operator wrote: logs, Events, status, metrics', async () => {
  const logs = await op.logs();
  expect(logs).toContain('"msg":"caches synced; reconciling"');
  const events = await cluster.eventsFor(cred);
  expect(events.length).toBeGreaterThan(0);
  const written: Record<string, string> = {
    logs,
    events: JSON.stringify(events),
    status: JSON.stringify(statusSeen.map((c) => c.status)),
    metrics: metricsText,
  };
  const found = Object.entries(written).flatMap(([where, text]) =>
    seeded.filter((v) => text.includes(v)).map((v) => `${where} contains ${v}`),
  );
  expect(found).toEqual([]); // (the copies did carry them: the waits above checked the passwords)
});

// ---- the Pod-injection webhook's self-managed CA, with deploy/components/pod-injection ------------

test('the self-managed webhook CA as the shipped identity with the pod-injection RBAC: nothing refused, its rules used', async () => {
  const component = path.join(ROOT, 'deploy', 'components', 'pod-injection');
  const rbac = loadAllYaml(await readFile(path.join(component, 'rbac.yaml'), 'utf8')) as Doc[];
  const configuration = (
    loadAllYaml(await readFile(path.join(component, 'webhook.yaml'), 'utf8')) as Doc[]
  )[0]! as Doc & {
    webhooks: Array<{ namespaceSelector: Record<string, unknown> }>;
  };
  const webhookGrants = grantsOf(rbac);
  const allGrants = [...grants, ...webhookGrants];
  const secretName = 'regcred-operator-webhook-ca';
  // As shipped, but called for no namespace at all: no other test's Pod is sent to it meanwhile.
  for (const webhook of configuration.webhooks) webhook.namespaceSelector = { matchLabels: { 'regcred-rbac': 'none' } };
  const input = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...rbac, configuration] });
  const applied = await kubectl(['apply', '-f', '-'], { input });
  expect(applied.stderr).toBe('');
  await cluster.deleteSecret(NS, secretName);
  const [port] = await freePorts(1);
  const start = await auditMark();
  let webhookOp: OperatorProcess | undefined;
  try {
    webhookOp = await startOperator({
      sourceNamespace: NS,
      user: IDENTITY,
      kubeconfig: await serviceAccountKubeconfig(),
      args: [
        ...['--leader-elect', '--leader-election-namespace', NS],
        ...['--webhook-bind-address', `127.0.0.1:${port}`, '--webhook-self-managed-ca'],
        ...['--webhook-secret-namespace', NS, '--webhook-configuration-name', configuration.metadata.name],
        ...['--webhook-dns-names', '127.0.0.1'],
      ],
    });
    // the leader creates the Secret and patches its CA into the caBundle
    await waitFor(
      async () => {
        const res = await kubectl([
          ...['get', 'mutatingwebhookconfiguration', configuration.metadata.name],
          ...['-o', 'jsonpath={.webhooks[0].clientConfig.caBundle}'],
        ]);
        return res.stdout.length > 0 && (await cluster.getSecret(NS, secretName)) !== undefined ? true : undefined;
      },
      { what: 'the CA Secret and the caBundle' },
    );
  } finally {
    await webhookOp?.stop();
    await kubectl(['delete', '-f', '-', '--ignore-not-found'], { input });
    await cluster.deleteSecret(NS, secretName);
  }
  // the audit log is written a moment after the requests: wait for the last ones the scenario made
  const seen = await waitFor(
    async () => {
      const requests = (await auditEvents())
        .slice(start)
        .filter((e) => e.user.username === IDENTITY)
        .map(toRequest);
      const made = (verb: string, resource: string) => requests.some((r) => r.verb === verb && r.resource === resource);
      return made('patch', 'mutatingwebhookconfigurations') && made('create', 'secrets') ? requests : undefined;
    },
    { what: "the webhook CA's requests in the audit log" },
  );
  expect(seen.filter((r) => r.code === 401 || r.code === 403).map((r) => `${r.verb} ${r.uri} -> ${r.code}`)).toEqual(
    [],
  );
  expect(seen.filter((r) => !allGrants.some((g) => permits(g, r))).map((r) => `${r.verb} ${r.uri}`)).toEqual([]);
  // the component's rules are all used: get and patch of that one configuration
  expect(webhookGrants.filter((g) => !seen.some((r) => permits(g, r))).map(key)).toEqual([]);
  // and the CA Secret: read and created in the operator's namespace, by the base's Secret rule
  const secretCalls = seen.filter((r) => r.resource === 'secrets' && r.name === secretName).map((r) => r.verb);
  expect(secretCalls).toEqual(expect.arrayContaining(['get', 'create']));
  expect(seen.filter((r) => r.resource === 'secrets' && r.name === secretName && r.namespace !== NS)).toEqual([]);
});
