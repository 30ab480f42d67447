// The Helm chart (deploy/helm/regcred-operator): lint and template clean, every knob does what
// values.yaml says, the same RBAC as deploy/, and a real `helm install` into the local control
// plane. helm is built from the Go module proxy by hack/build-helm.sh (as hack/setup.sh does).
import { readFileSync } from 'node:fs';
import { readFile, mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAllYaml } from '@kubernetes/client-node';
import { kubectl, run, runOk, testEnv } from '../../harness/controlplane.js';
import { Cluster, uniqueSuffix } from '../harness/cluster.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHART = path.join(ROOT, 'deploy', 'helm', 'regcred-operator');
const NODE_AFFINITY_TERM = 'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]';

interface Doc {
  kind: string;
  apiVersion: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  rules?: Array<Record<string, unknown>>;
  subjects?: Array<Record<string, unknown>>;
  data?: Record<string, string>;
  spec?: any;
}

let helmBin: string;
let helmEnv: NodeJS.ProcessEnv;

async function helm(args: string[]) {
  return run(helmBin, args, { env: helmEnv, timeoutMs: 180_000 });
}

/** `helm template` of the chart as release regcred-operator in regcred-system, with `--set` values. */
async function template(...set: string[]): Promise<Doc[]> {
  return templateWith([], set);
}

async function templateWith(args: string[], set: string[]): Promise<Doc[]> {
  const res = await helm([
    'template',
    'regcred-operator',
    CHART,
    '--namespace',
    'regcred-system',
    ...args,
    ...set.flatMap((s) => ['--set', s]),
  ]);
  if (res.code !== 0) throw new Error(res.stderr);
  return loadAllYaml(res.stdout) as Doc[];
}

const dashboardJson = JSON.parse(
  readFileSync(path.join(ROOT, 'deploy', 'dashboards', 'regcred.json'), 'utf8'),
) as unknown;
const container = (docs: Doc[]) => docs.find((d) => d.kind === 'Deployment')!.spec.template.spec.containers[0];
const podSpec = (docs: Doc[]) => docs.find((d) => d.kind === 'Deployment')!.spec.template.spec;

beforeAll(async () => {
  helmBin = (await runOk('bash', [path.join(ROOT, 'hack', 'build-helm.sh')])).trim().split('\n').pop()!;
  const home = path.join(testEnv().dir, 'helm');
  await mkdir(home, { recursive: true });
  // helm's own state (repositories, cache) in the test's work dir, not the user's home
  helmEnv = {
    ...process.env,
    HELM_CACHE_HOME: path.join(home, 'cache'),
    HELM_CONFIG_HOME: path.join(home, 'config'),
    HELM_DATA_HOME: path.join(home, 'data'),
    KUBECONFIG: testEnv().adminKubeconfig,
  };
});

test('helm lint --strict is clean', async () => {
  for (const set of [
    [],
    ['metrics.serviceMonitor.enabled=true', 'replicas=1', 'leaderElection.enabled=false'],
    ['alerts.enabled=true', 'dashboard.enabled=true'],
  ]) {
    const res = await helm(['lint', '--strict', CHART, ...set.flatMap((s) => ['--set', s])]);
    expect(res.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    expect(res.code).toBe(0);
  }
});

test('helm template with the defaults: what deploy/ installs, minus the Namespace', async () => {
  const res = await helm(['template', 'regcred-operator', CHART, '--namespace', 'regcred-system']);
  expect(res.stderr).toBe('');
  const kinds = (loadAllYaml(res.stdout) as Doc[]).map((d) => d.kind).sort();
  expect(kinds).toEqual([
    'ClusterRole',
    'ClusterRoleBinding',
    'Deployment',
    'PodDisruptionBudget',
    'Role',
    'Role',
    'RoleBinding',
    'RoleBinding',
    'Service',
    'ServiceAccount',
  ]);
  const c = container(await template());
  expect(c.args).toEqual(
    expect.arrayContaining([
      '--leader-elect',
      '--source-namespace=regcred-system',
      '--leader-election-namespace=regcred-system',
    ]),
  );
  expect(c.image).toBe('ghcr.io/regcred-operator/regcred-operator:0.1.0');
});

test('the chart grants exactly the rules deploy/ grants', async () => {
  const rulesOf = (docs: Doc[], kind: string) =>
    docs
      .filter((d) => d.kind === kind)
      .map((d) => ({ namespace: d.metadata.namespace ?? '', rules: d.rules }))
      .sort(
        (a, b) =>
          a.namespace.localeCompare(b.namespace) || JSON.stringify(a.rules).localeCompare(JSON.stringify(b.rules)),
      );
  const shipped = loadAllYaml(await readFile(path.join(ROOT, 'deploy', 'install.yaml'), 'utf8')) as Doc[];
  const chart = await template();
  for (const kind of ['ClusterRole', 'Role']) expect(rulesOf(chart, kind)).toEqual(rulesOf(shipped, kind));
});

// [what, --set values, check of the rendered documents]
test.each<[string, string[], (docs: Doc[]) => void]>([
  [
    'image',
    ['image.repository=registry.example.com/ops/regcred', 'image.tag=1.2.3', 'image.pullPolicy=Always'],
    (docs) => {
      expect(container(docs)).toMatchObject({
        image: 'registry.example.com/ops/regcred:1.2.3',
        imagePullPolicy: 'Always',
      });
    },
  ],
  [
    'replicas',
    ['replicas=3'],
    (docs) => {
      expect(docs.find((d) => d.kind === 'Deployment')!.spec.replicas).toBe(3);
    },
  ],
  [
    'resources',
    ['resources.requests.cpu=200m', 'resources.limits.memory=1Gi'],
    (docs) => {
      expect(container(docs).resources).toMatchObject({ requests: { cpu: '200m' }, limits: { memory: '1Gi' } });
    },
  ],
  [
    'sourceNamespace',
    ['sourceNamespace=creds'],
    (docs) => {
      expect(container(docs).args).toContain('--source-namespace=creds');
    },
  ],
  [
    'logLevel',
    ['logLevel=debug'],
    (docs) => {
      expect(container(docs).args).toContain('--log-level=debug');
    },
  ],
  [
    'metrics off: no Service, no listener',
    ['metrics.enabled=false'],
    (docs) => {
      expect(docs.some((d) => d.kind === 'Service')).toBe(false);
      expect(container(docs).args).toContain('--metrics-bind-address=0');
    },
  ],
  [
    'ServiceMonitor',
    ['metrics.serviceMonitor.enabled=true', 'metrics.serviceMonitor.labels.release=prom'],
    (docs) => {
      const sm = docs.find((d) => d.kind === 'ServiceMonitor')!;
      const svc = docs.find((d) => d.kind === 'Service')!;
      expect(sm.metadata.labels).toMatchObject({ release: 'prom' });
      expect(svc.metadata.labels).toMatchObject(sm.spec.selector.matchLabels);
    },
  ],
  [
    "alerts: a PrometheusRule selecting the metrics Service's job, with the thresholds and labels given",
    [
      'alerts.enabled=true',
      'alerts.labels.release=prom',
      'alerts.additionalLabels.team=platform',
      'alerts.credentialExpiring.withinSeconds=600',
      'alerts.reconcileErrors.ratio=0.25',
      'alerts.notReady.for=1h',
    ],
    (docs) => {
      const rule = docs.find((d) => d.kind === 'PrometheusRule')!;
      const svc = docs.find((d) => d.kind === 'Service')!;
      expect(rule.metadata.labels).toMatchObject({ release: 'prom' });
      const alerts = Object.fromEntries(
        rule.spec.groups.flatMap((g: any) => g.rules).map((r: any) => [r.alert, r] as [string, any]),
      );
      for (const alert of Object.values(alerts)) {
        expect(alert.expr).toContain(`job="${svc.metadata.name}"`);
        expect(alert.labels.team).toBe('platform');
      }
      expect(alerts.RegcredCredentialExpiring.expr).toContain('< 600');
      expect(alerts.RegcredReconcileErrors.expr).toContain('> 0.25');
      expect(alerts.RegcredCredentialNotReady.for).toBe('1h');
    },
  ],
  [
    'alerts.selector replaces the job matcher',
    ['alerts.enabled=true', 'alerts.selector=namespace="ops"\\, service="m"'],
    (docs) => {
      const rule = docs.find((d) => d.kind === 'PrometheusRule')!;
      for (const alert of rule.spec.groups[0].rules) {
        expect(alert.expr).not.toContain('job=');
        expect(alert.expr).toContain('namespace="ops", service="m"');
      }
    },
  ],
  [
    "dashboard: a ConfigMap for Grafana's sidecar holding deploy/dashboards/regcred.json",
    ['dashboard.enabled=true', 'dashboard.labels.grafana_folder=ops'],
    (docs) => {
      const map = docs.find((d) => d.kind === 'ConfigMap')!;
      expect(map.metadata.labels).toMatchObject({ grafana_dashboard: '1', grafana_folder: 'ops' });
      expect(JSON.parse(map.data!['regcred-operator.json']!)).toEqual(dashboardJson);
    },
  ],
  [
    'leader election off (one replica): no flag, no Lease Role (the own-token Role stays), no PDB',
    ['leaderElection.enabled=false', 'replicas=1'],
    (docs) => {
      expect(container(docs).args).not.toContain('--leader-elect');
      expect(docs.filter((d) => d.kind === 'Role').map((d) => d.metadata.name)).toEqual(['regcred-operator-own-token']);
      expect(docs.some((d) => d.kind === 'PodDisruptionBudget')).toBe(false);
    },
  ],
  [
    'API Priority and Fairness: off by default, kubeApiMaxInflight and kubeApiAdaptive as flags',
    ['kubeApiMaxInflight=8', 'kubeApiAdaptive=false'],
    (docs) => {
      expect(docs.some((d) => d.kind === 'FlowSchema' || d.kind === 'PriorityLevelConfiguration')).toBe(false);
      expect(container(docs).args).toEqual(
        expect.arrayContaining(['--kube-api-max-inflight=8', '--kube-api-adaptive=false']),
      );
    },
  ],
  [
    'flowSchema: a priority level of its own for the operator, its Leases in leader-election',
    ['flowSchema.enabled=true', 'flowSchema.matchingPrecedence=2000', 'flowSchema.queueLengthLimit=10'],
    (docs) => {
      const level = docs.find((d) => d.kind === 'PriorityLevelConfiguration')!;
      const schemas = docs.filter((d) => d.kind === 'FlowSchema');
      const serviceAccount = { name: podSpec(docs).serviceAccountName, namespace: 'regcred-system' };
      expect(level.spec.limited.limitResponse.queuing.queueLengthLimit).toBe(10);
      expect(schemas.map((d) => [d.spec.priorityLevelConfiguration.name, d.spec.matchingPrecedence])).toEqual([
        [level.metadata.name, 2000],
        ['leader-election', 1900],
      ]);
      for (const schema of schemas)
        expect(schema.spec.rules[0].subjects).toEqual([{ kind: 'ServiceAccount', serviceAccount }]);
    },
  ],
  [
    'leaseName',
    ['leaderElection.leaseName=my-lease'],
    (docs) => {
      expect(container(docs).args).toContain('--leader-election-id=my-lease');
      const role = docs.find((d) => d.kind === 'Role' && d.metadata.name.endsWith('leader-election'))!;
      expect(role.rules).toContainEqual(expect.objectContaining({ resourceNames: ['my-lease'] }));
    },
  ],
  [
    'extraEnv (AWS)',
    ['extraEnv[0].name=AWS_REGION', 'extraEnv[0].value=eu-west-1'],
    (docs) => {
      expect(container(docs).env).toContainEqual({ name: 'AWS_REGION', value: 'eu-west-1' });
    },
  ],
  [
    'IRSA annotation on the ServiceAccount',
    ['serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::123456789012:role/regcred'],
    (docs) => {
      expect(docs.find((d) => d.kind === 'ServiceAccount')!.metadata.annotations).toEqual({
        'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/regcred',
      });
    },
  ],
  [
    'nodeSelector, tolerations, affinity',
    [
      'nodeSelector.pool=system',
      'tolerations[0].key=dedicated',
      'tolerations[0].operator=Exists',
      `${NODE_AFFINITY_TERM}.matchExpressions[0].key=zone`,
      `${NODE_AFFINITY_TERM}.matchExpressions[0].operator=Exists`,
    ],
    (docs) => {
      const spec = podSpec(docs);
      expect(spec.nodeSelector).toEqual({ pool: 'system' });
      expect(spec.tolerations).toEqual([{ key: 'dedicated', operator: 'Exists' }]);
      expect(
        spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]
          .matchExpressions[0],
      ).toEqual({ key: 'zone', operator: 'Exists' });
    },
  ],
  [
    'podSecurityContext',
    ['podSecurityContext.fsGroup=2000'],
    (docs) => {
      expect(podSpec(docs).securityContext).toMatchObject({
        fsGroup: 2000,
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
      });
    },
  ],
  [
    'an existing ServiceAccount',
    ['serviceAccount.create=false', 'serviceAccount.name=mine'],
    (docs) => {
      expect(docs.some((d) => d.kind === 'ServiceAccount')).toBe(false);
      expect(podSpec(docs).serviceAccountName).toBe('mine');
      expect(docs.find((d) => d.kind === 'ClusterRoleBinding')!.subjects).toEqual([
        { kind: 'ServiceAccount', name: 'mine', namespace: 'regcred-system' },
      ]);
      // its own token (quay robot federation): of that ServiceAccount only
      const ownToken = docs.find((d) => d.kind === 'Role' && d.metadata.name.endsWith('own-token'))!;
      expect(ownToken.rules).toEqual([
        { apiGroups: [''], resources: ['serviceaccounts/token'], resourceNames: ['mine'], verbs: ['create'] },
      ]);
    },
  ],
])('knob: %s', async (_name, set, check) => {
  check(await template(...set));
});

test.each<[string, string, string]>([
  ['log level', 'logLevel=verbose', "at '/logLevel'"],
  ['replicas', 'replicas=two', "at '/replicas'"],
  ['Lease name', 'leaderElection.leaseName=Not_A_Name', "at '/leaderElection/leaseName'"],
])('values.schema.json rejects a bad %s', async (_name, set, message) => {
  const res = await helm(['template', 'r', CHART, '--set', set]);
  expect(res.code).not.toBe(0);
  expect(res.stderr).toContain(message);
});

test('two replicas without leader election are refused (both would write)', async () => {
  const res = await helm(['template', 'r', CHART, '--set', 'leaderElection.enabled=false', '--set', 'replicas=2']);
  expect(res.code).not.toBe(0);
  expect(res.stderr).toContain('replicas > 1 needs leaderElection.enabled');
});

/** A Pod of the installed workload's template is admitted in its namespace (a server-side dry run). */
async function expectPodAdmitted(ns: string, kind: 'deployment' | 'daemonset', name: string): Promise<void> {
  const workload = JSON.parse((await kubectl(['-n', ns, 'get', kind, name, '-o', 'json'])).stdout) as {
    spec: { template: { spec: object } };
  };
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `admission-check-${kind}`, namespace: ns },
    spec: workload.spec.template.spec,
  };
  const admitted = await kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(pod) });
  expect(admitted.stderr).toBe('');
  expect(admitted.code).toBe(0);
}

/**
 * `helm install` of the chart with `args` into a new namespace enforcing Pod Security `level`, then
 * `check(namespace, release)`; uninstalled and the namespace deleted whatever happens.
 */
async function withRelease(
  level: 'restricted' | 'privileged',
  args: string[],
  check: (ns: string, release: string) => Promise<void>,
): Promise<void> {
  const cluster = Cluster.admin();
  const ns = `helm-${uniqueSuffix()}`;
  await cluster.createNamespace(ns, { 'pod-security.kubernetes.io/enforce': level });
  const release = `rc-${ns}`;
  try {
    const res = await helm(['install', release, CHART, '--namespace', ns, ...args, '--wait=false']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('STATUS: deployed');
    await check(ns, release);
  } finally {
    const un = await helm(['uninstall', release, '--namespace', ns]);
    expect(un.code).toBe(0);
    await cluster.deleteNamespace(ns);
  }
}

test('helm install into the local control plane, under restricted Pod Security; helm uninstall', async () => {
  let release = '';
  await withRelease(
    'restricted',
    ['--set', 'serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::123456789012:role/regcred'],
    async (ns, name) => {
      release = name;
      const sa = await Cluster.admin().getServiceAccount(ns, `${release}-regcred-operator`);
      expect(sa?.metadata?.annotations).toMatchObject({
        'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/regcred',
      });
      const get = await kubectl([
        '-n',
        ns,
        'get',
        'deployment,service,poddisruptionbudget,role,rolebinding',
        '-o',
        'name',
      ]);
      expect(get.stdout.split('\n').filter(Boolean).sort()).toEqual([
        `deployment.apps/${release}-regcred-operator`,
        `poddisruptionbudget.policy/${release}-regcred-operator`,
        `role.rbac.authorization.k8s.io/${release}-regcred-operator-leader-election`,
        `role.rbac.authorization.k8s.io/${release}-regcred-operator-own-token`,
        `rolebinding.rbac.authorization.k8s.io/${release}-regcred-operator-leader-election`,
        `rolebinding.rbac.authorization.k8s.io/${release}-regcred-operator-own-token`,
        `service/${release}-regcred-operator-metrics`,
      ]);
      // The Deployment's Pod is admitted by restricted Pod Security (nothing runs Pods here: a dry run).
      await expectPodAdmitted(ns, 'deployment', `${release}-regcred-operator`);
    },
  );
  expect((await kubectl(['get', 'clusterrole', `${release}-regcred-operator`])).code).not.toBe(0);
});

// ---- kubelet delivery --------------------------------------------------------------------------

const CA_BUNDLE = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KUBELET_ON = ['kubeletDelivery.enabled=true'];
const INSTALLER_ON = [...KUBELET_ON, 'kubeletDelivery.installer.enabled=true'];
/** `--set-string` for the CA bundle (its newlines and "=" pass through unchanged). */
const WITH_CA = ['--set-string', `kubeletDelivery.tls.caBundle=${CA_BUNDLE}`];
const templateWithCa = (...set: string[]) => templateWith(WITH_CA, set);
const installerOf = (docs: Doc[]) => docs.find((d) => d.kind === 'DaemonSet')!.spec.template.spec;
const argOf = (args: string[], name: string) => args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);

test.each<[string, string[], (docs: Doc[]) => void]>([
  [
    'kubeletDelivery.enabled: the endpoint, its Service, TokenReview rights and the node RBAC; no installer',
    KUBELET_ON,
    (docs) => {
      expect(container(docs).args).toEqual(
        expect.arrayContaining([
          '--kubelet-bind-address=:8444',
          '--kubelet-tls-cert-file=/var/run/regcred/kubelet-tls/tls.crt',
          '--kubelet-tls-key-file=/var/run/regcred/kubelet-tls/tls.key',
          '--kubelet-token-audience=kubelet.regcred.io',
          '--kubelet-cache-seconds=300',
        ]),
      );
      expect(container(docs).ports).toContainEqual({ name: 'kubelet', containerPort: 8444, protocol: 'TCP' });
      expect(podSpec(docs).volumes).toEqual([
        { name: 'kubelet-tls', secret: { secretName: 'regcred-operator-kubelet-tls' } },
      ]);
      const service = docs.find((d) => d.kind === 'Service' && d.metadata.name === 'regcred-operator-kubelet')!;
      expect(service.spec.ports).toEqual([{ name: 'kubelet', port: 8444, targetPort: 'kubelet', protocol: 'TCP' }]);
      const nodeRole = docs.find((d) => d.metadata.name === 'regcred-operator-kubelet-token-audience')!;
      expect(nodeRole.rules).toEqual([
        { apiGroups: [''], resources: ['kubelet.regcred.io'], verbs: ['request-serviceaccounts-token-audience'] },
      ]);
      expect(
        docs.find((d) => d.kind === 'ClusterRoleBinding' && d.metadata.name === nodeRole.metadata.name)!.subjects,
      ).toEqual([{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:nodes' }]);
      expect(docs.some((d) => d.kind === 'DaemonSet' || d.kind === 'Certificate' || d.kind === 'ConfigMap')).toBe(
        false,
      );
    },
  ],
  [
    'kubeletDelivery: audience, port and cache seconds reach the operator, the node RBAC and the installer',
    [
      ...INSTALLER_ON,
      'kubeletDelivery.audience=pulls.internal',
      'kubeletDelivery.port=9444',
      'kubeletDelivery.cacheSeconds=60',
    ],
    (docs) => {
      expect(container(docs).args).toEqual(
        expect.arrayContaining([
          '--kubelet-bind-address=:9444',
          '--kubelet-token-audience=pulls.internal',
          '--kubelet-cache-seconds=60',
        ]),
      );
      expect(
        docs.find((d) => d.metadata.name === 'regcred-operator-kubelet-token-audience')!.rules![0]!.resources,
      ).toEqual(['pulls.internal']);
      expect(argOf(installerOf(docs).containers[0].args, '--audience')).toBe('pulls.internal');
    },
  ],
  [
    'kubeletDelivery.installer: the DaemonSet asks the Service for the name on its certificate, with only the CA',
    INSTALLER_ON,
    (docs) => {
      const spec = installerOf(docs);
      const args: string[] = spec.containers[0].args;
      expect(args[0]).toBe('install');
      expect(argOf(args, '--endpoint')).toBe(
        'https://$(REGCRED_OPERATOR_KUBELET_SERVICE_HOST):$(REGCRED_OPERATOR_KUBELET_SERVICE_PORT_KUBELET)',
      );
      expect(argOf(args, '--server-name')).toBe('regcred-operator-kubelet.regcred-system.svc');
      expect(spec.automountServiceAccountToken).toBe(false);
      expect(spec.containers[0].securityContext).toMatchObject({ capabilities: { drop: ['ALL'] } });
      expect(spec.volumes).toEqual([
        { name: 'host-config', hostPath: { path: '/etc/kubernetes/regcred', type: 'DirectoryOrCreate' } },
        { name: 'ca', configMap: { name: 'regcred-operator-kubelet-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      ]);
      const ca = docs.find((d) => d.kind === 'ConfigMap')!;
      expect(ca.metadata.name).toBe('regcred-operator-kubelet-ca');
      expect((ca as Doc & { data: Record<string, string> }).data).toEqual({ 'ca.crt': CA_BUNDLE });
      expect(spec.tolerations).toEqual([{ operator: 'Exists' }]);
    },
  ],
  [
    'kubeletDelivery.installer: endpoints, a bin dir outside the config dir, matchImages, an existing CA ConfigMap',
    [
      ...INSTALLER_ON,
      'kubeletDelivery.installer.endpoints[0]=https://10.1.2.3:8444',
      'kubeletDelivery.installer.binDir=/var/lib/rancher/credentialprovider/bin',
      'kubeletDelivery.installer.matchImages[0]=registry.corp.internal',
      'kubeletDelivery.tls.caConfigMap=corp-ca',
    ],
    (docs) => {
      const spec = installerOf(docs);
      const args: string[] = spec.containers[0].args;
      expect(args.filter((a) => a.startsWith('--endpoint='))).toEqual(['--endpoint=https://10.1.2.3:8444']);
      expect(args).toContain('--match-image=registry.corp.internal');
      expect(spec.volumes).toContainEqual({
        name: 'host-bin',
        hostPath: { path: '/var/lib/rancher/credentialprovider/bin', type: 'DirectoryOrCreate' },
      });
      expect(spec.containers[0].volumeMounts).toContainEqual({
        name: 'host-bin',
        mountPath: '/var/lib/rancher/credentialprovider/bin',
      });
      // the ConfigMap named is used, none is made
      expect(spec.volumes).toContainEqual(
        expect.objectContaining({ configMap: expect.objectContaining({ name: 'corp-ca' }) }),
      );
      expect(docs.some((d) => d.kind === 'ConfigMap')).toBe(false);
    },
  ],
  [
    'kubeletDelivery.tls.certManager: a Certificate for the Service name, into the Secret the operator mounts',
    [
      ...KUBELET_ON,
      'kubeletDelivery.tls.certManager.enabled=true',
      'kubeletDelivery.tls.certManager.issuerRef.name=corp-ca',
      'kubeletDelivery.tls.certManager.issuerRef.kind=ClusterIssuer',
    ],
    (docs) => {
      const certificate = docs.find((d) => d.kind === 'Certificate')!;
      expect(certificate.apiVersion).toBe('cert-manager.io/v1');
      expect(certificate.spec).toMatchObject({
        secretName: 'regcred-operator-kubelet-tls',
        dnsNames: [
          'regcred-operator-kubelet.regcred-system.svc',
          'regcred-operator-kubelet.regcred-system.svc.cluster.local',
        ],
        issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' },
        usages: ['server auth'],
      });
      expect(podSpec(docs).volumes[0].secret.secretName).toBe(certificate.spec.secretName);
    },
  ],
])('knob: %s', async (_name, set, check) => {
  check(await templateWithCa(...set));
});

test.each<[string, string[], string]>([
  [
    'an installer without the CA the nodes trust',
    INSTALLER_ON,
    'kubeletDelivery.installer.enabled needs the CA the nodes trust',
  ],
  ['an installer without the endpoint', ['kubeletDelivery.installer.enabled=true'], 'needs kubeletDelivery.enabled'],
  [
    'cert-manager without an issuer',
    [...KUBELET_ON, 'kubeletDelivery.tls.certManager.enabled=true'],
    'needs kubeletDelivery.tls.certManager.issuerRef.name',
  ],
  [
    'an endpoint that is not https',
    [...KUBELET_ON, 'kubeletDelivery.installer.endpoints[0]=http://10.1.2.3:8444'],
    "at '/kubeletDelivery/installer/endpoints/0'",
  ],
])('kubeletDelivery: refuses %s', async (_name, set, message) => {
  const res = await helm(['template', 'r', CHART, ...set.flatMap((s) => ['--set', s])]);
  expect(res.code).not.toBe(0);
  expect(res.stderr).toContain(message);
});

test('kubeletDelivery: the chart grants exactly the rules of deploy/components/kubelet-delivery', async () => {
  const component = path.join(ROOT, 'deploy', 'components', 'kubelet-delivery');
  const shipped = [
    ...(loadAllYaml(await readFile(path.join(component, 'operator-rbac.yaml'), 'utf8')) as Doc[]),
    ...(loadAllYaml(await readFile(path.join(component, 'node-rbac.yaml'), 'utf8')) as Doc[]),
  ];
  const kubeletRules = (docs: Doc[]) =>
    docs
      .filter(
        (d) => d.kind === 'ClusterRole' && d.metadata.labels?.['app.kubernetes.io/component'] === 'kubelet-delivery',
      )
      .map((d) => JSON.stringify(d.rules))
      .sort();
  const chart = await templateWithCa(...INSTALLER_ON);
  expect(kubeletRules(chart)).toEqual(kubeletRules(shipped));
  expect(kubeletRules(chart)).toHaveLength(2);
  // and nothing kubelet-related without the value
  expect(kubeletRules(await template())).toEqual([]);
});

test('helm lint --strict is clean with kubelet delivery and the installer', async () => {
  const res = await helm(['lint', '--strict', CHART, ...WITH_CA, ...INSTALLER_ON.flatMap((s) => ['--set', s])]);
  expect(res.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
  expect(res.code).toBe(0);
});

test('helm install with kubelet delivery and the installer, in a namespace that allows privileged Pods', async () => {
  let fullname = '';
  await withRelease('privileged', [...WITH_CA, ...INSTALLER_ON.flatMap((s) => ['--set', s])], async (ns, release) => {
    fullname = `${release}-regcred-operator`;
    const get = await kubectl(['-n', ns, 'get', 'daemonset,service,configmap', '-o', 'name']);
    expect(
      get.stdout
        .split('\n')
        .filter((l) => l && !l.endsWith('kube-root-ca.crt'))
        .sort(),
    ).toEqual([
      `configmap/${fullname}-kubelet-ca`,
      `daemonset.apps/${fullname}-kubelet-installer`,
      `service/${fullname}-kubelet`,
      `service/${fullname}-metrics`,
    ]);
    const installed = JSON.parse(
      (await kubectl(['-n', ns, 'get', 'daemonset', `${fullname}-kubelet-installer`, '-o', 'json'])).stdout,
    ) as { spec: { template: { spec: { containers: Array<{ args: string[] }> } } } };
    // the variables the kubelet will set for this release's Service
    const prefix = `${fullname}-kubelet`.toUpperCase().replaceAll('-', '_');
    expect(argOf(installed.spec.template.spec.containers[0]!.args, '--endpoint')).toBe(
      `https://$(${prefix}_SERVICE_HOST):$(${prefix}_SERVICE_PORT_KUBELET)`,
    );
    // the installer's Pod and the operator's are admitted there (nothing runs Pods here: dry runs)
    await expectPodAdmitted(ns, 'daemonset', `${fullname}-kubelet-installer`);
    await expectPodAdmitted(ns, 'deployment', fullname);
  });
  expect((await kubectl(['get', 'clusterrole', `${fullname}-kubelet-token-audience`])).code).not.toBe(0);
});

// ---- Pod injection (the webhook) ---------------------------------------------------------------

const WEBHOOK_ON = ['webhook.enabled=true'];
const CERT_MANAGER = [...WEBHOOK_ON, 'webhook.certificate=certManager'];
const configurationOf = (docs: Doc[]) =>
  docs.find((d) => d.kind === 'MutatingWebhookConfiguration') as Doc & {
    webhooks: Array<Record<string, any>>;
  };
const webhookRoles = (docs: Doc[]) =>
  docs.filter((d) => d.kind === 'ClusterRole' && d.metadata.labels?.['app.kubernetes.io/component'] === 'webhook');

test.each<[string, string[], (docs: Doc[]) => void]>([
  [
    'webhook off (the default): no listener, no Service, no configuration, no rights',
    [],
    (docs) => {
      expect(container(docs).args.filter((a: string) => a.startsWith('--webhook-'))).toEqual([]);
      expect(container(docs).ports.map((p: { name: string }) => p.name)).not.toContain('webhook');
      expect(docs.filter((d) => d.metadata.labels?.['app.kubernetes.io/component'] === 'webhook')).toEqual([]);
    },
  ],
  [
    'webhook.enabled (self-managed CA): flags, port, Service, a fail-open configuration, get/patch on it',
    WEBHOOK_ON,
    (docs) => {
      expect(container(docs).args.filter((a: string) => a.startsWith('--webhook-'))).toEqual([
        '--webhook-bind-address=:9443',
        '--webhook-configuration-name=regcred-operator',
        '--webhook-scope=selected',
        '--webhook-self-managed-ca',
        '--webhook-secret-namespace=regcred-system',
        '--webhook-secret-name=regcred-operator-webhook-ca',
        '--webhook-dns-names=regcred-operator-webhook.regcred-system.svc',
      ]);
      expect(container(docs).ports).toContainEqual({ name: 'webhook', containerPort: 9443, protocol: 'TCP' });
      expect(podSpec(docs).volumes).toBeUndefined();
      const service = docs.find((d) => d.kind === 'Service' && d.metadata.name === 'regcred-operator-webhook')!;
      expect(service.spec.ports).toEqual([{ name: 'webhook', port: 443, targetPort: 'webhook', protocol: 'TCP' }]);
      // every replica serves: the Service selects the Deployment's Pods, not the leader
      const deployment = docs.find((d) => d.kind === 'Deployment')!;
      expect(deployment.spec.template.metadata.labels).toMatchObject(service.spec.selector);
      const configuration = configurationOf(docs);
      expect(configuration.metadata.name).toBe('regcred-operator');
      expect(configuration.metadata.annotations).toBeUndefined();
      expect(configuration.webhooks).toEqual([
        {
          name: 'pods.regcred.io',
          admissionReviewVersions: ['v1'],
          clientConfig: {
            service: { name: service.metadata.name, namespace: 'regcred-system', path: '/mutate/pods', port: 443 },
          },
          rules: [
            { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' },
          ],
          namespaceSelector: {
            matchExpressions: [
              { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'regcred-system'] },
            ],
          },
          failurePolicy: 'Ignore',
          sideEffects: 'None',
          timeoutSeconds: 2,
          reinvocationPolicy: 'IfNeeded',
        },
      ]);
      const roles = webhookRoles(docs);
      expect(roles.map((d) => d.rules)).toEqual([
        [
          {
            apiGroups: ['admissionregistration.k8s.io'],
            resources: ['mutatingwebhookconfigurations'],
            resourceNames: ['regcred-operator'],
            verbs: ['get', 'patch'],
          },
        ],
      ]);
      expect(
        docs.find((d) => d.kind === 'ClusterRoleBinding' && d.metadata.name === roles[0]!.metadata.name)!.subjects,
      ).toEqual([{ kind: 'ServiceAccount', name: 'regcred-operator', namespace: 'regcred-system' }]);
      // its Secret (get/create/update in the release namespace) is within the ClusterRole's Secret rule
      const main = docs.find((d) => d.kind === 'ClusterRole' && d.metadata.name === 'regcred-operator')!;
      expect(main.rules).toContainEqual(
        expect.objectContaining({ resources: ['secrets'], verbs: expect.arrayContaining(['get', 'create', 'update']) }),
      );
      expect(docs.some((d) => d.apiVersion.startsWith('cert-manager.io/'))).toBe(false);
    },
  ],
  [
    'webhook: port, timeoutSeconds and excludeNamespaces',
    [...WEBHOOK_ON, 'webhook.port=10443', 'webhook.timeoutSeconds=5', 'webhook.excludeNamespaces[0]=batch'],
    (docs) => {
      expect(container(docs).args).toContain('--webhook-bind-address=:10443');
      expect(container(docs).ports).toContainEqual({ name: 'webhook', containerPort: 10443, protocol: 'TCP' });
      const [webhook] = configurationOf(docs).webhooks;
      expect(webhook!.timeoutSeconds).toBe(5);
      expect(webhook!.namespaceSelector.matchExpressions[0].values).toEqual(['kube-system', 'regcred-system', 'batch']);
    },
  ],
  [
    'webhook: namespaceSelector and objectSelector narrow the Pods the API server sends, ANDed with the exclusions',
    [
      ...WEBHOOK_ON,
      'webhook.namespaceSelector.matchLabels.team=payments',
      'webhook.namespaceSelector.matchExpressions[0].key=tier',
      'webhook.namespaceSelector.matchExpressions[0].operator=In',
      'webhook.namespaceSelector.matchExpressions[0].values[0]=apps',
      'webhook.objectSelector.matchLabels.inject=enabled',
    ],
    (docs) => {
      const [webhook] = configurationOf(docs).webhooks;
      expect(webhook!.namespaceSelector).toEqual({
        matchLabels: { team: 'payments' },
        matchExpressions: [
          { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'regcred-system'] },
          { key: 'tier', operator: 'In', values: ['apps'] },
        ],
      });
      expect(webhook!.objectSelector).toEqual({ matchLabels: { inject: 'enabled' } });
    },
  ],
  [
    'webhook.certificate=certManager with an issuer: a Certificate into the mounted Secret, the CA injector',
    [...CERT_MANAGER, 'webhook.certManager.issuerRef.name=corp-ca', 'webhook.certManager.issuerRef.kind=ClusterIssuer'],
    (docs) => {
      expect(container(docs).args.filter((a: string) => a.startsWith('--webhook-'))).toEqual([
        '--webhook-bind-address=:9443',
        '--webhook-configuration-name=regcred-operator',
        '--webhook-scope=selected',
        '--webhook-tls-cert-file=/var/run/regcred/webhook-tls/tls.crt',
        '--webhook-tls-key-file=/var/run/regcred/webhook-tls/tls.key',
      ]);
      const certificates = docs.filter((d) => d.kind === 'Certificate');
      expect(certificates).toHaveLength(1);
      expect(docs.some((d) => d.kind === 'Issuer')).toBe(false);
      const certificate = certificates[0]!;
      expect(certificate.spec).toMatchObject({
        secretName: 'regcred-operator-webhook-tls',
        dnsNames: [
          'regcred-operator-webhook.regcred-system.svc',
          'regcred-operator-webhook.regcred-system.svc.cluster.local',
        ],
        issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' },
        usages: ['server auth'],
      });
      expect(podSpec(docs).volumes).toEqual([
        { name: 'webhook-tls', secret: { secretName: certificate.spec.secretName } },
      ]);
      expect(container(docs).volumeMounts).toEqual([
        { name: 'webhook-tls', mountPath: '/var/run/regcred/webhook-tls', readOnly: true },
      ]);
      const configuration = configurationOf(docs);
      expect(configuration.metadata.annotations).toEqual({
        'cert-manager.io/inject-ca-from': `regcred-system/${certificate.metadata.name}`,
      });
      expect(configuration.webhooks[0]!.clientConfig.caBundle).toBeUndefined();
      // cert-manager writes the caBundle; the operator still narrows the namespaceSelector (get/patch)
      expect(webhookRoles(docs).map((d) => d.rules)).toEqual([
        [
          {
            apiGroups: ['admissionregistration.k8s.io'],
            resources: ['mutatingwebhookconfigurations'],
            resourceNames: ['regcred-operator'],
            verbs: ['get', 'patch'],
          },
        ],
      ]);
    },
  ],
  [
    'webhook.certificate=certManager without an issuer: a self-signed CA of its own signs the serving certificate',
    CERT_MANAGER,
    (docs) => {
      const byName = (kind: string, name: string) =>
        docs.find((d) => d.kind === kind && d.metadata.name === name) as Doc;
      const serving = byName('Certificate', 'regcred-operator-webhook');
      expect(serving.spec.issuerRef).toEqual({ name: 'regcred-operator-webhook-ca', kind: 'Issuer' });
      const caIssuer = byName('Issuer', 'regcred-operator-webhook-ca');
      const ca = byName('Certificate', 'regcred-operator-webhook-ca');
      expect(ca.spec).toMatchObject({ isCA: true, secretName: caIssuer.spec.ca.secretName });
      expect(byName('Issuer', ca.spec.issuerRef.name).spec).toEqual({ selfSigned: {} });
    },
  ],
  [
    'webhook with kubelet delivery (cert-manager for both): both certificates mounted',
    [...CERT_MANAGER, ...KUBELET_ON],
    (docs) => {
      expect(podSpec(docs).volumes.map((v: { name: string }) => v.name)).toEqual(['kubelet-tls', 'webhook-tls']);
      expect(container(docs).volumeMounts.map((v: { name: string }) => v.name)).toEqual(['kubelet-tls', 'webhook-tls']);
      expect(container(docs).ports.map((p: { name: string }) => p.name)).toEqual([
        'metrics',
        'health',
        'kubelet',
        'webhook',
      ]);
    },
  ],
])('knob: %s', async (_name, set, check) => {
  check(await template(...set));
});

test('webhook: values.schema.json rejects an unknown certificate mode', async () => {
  const res = await helm(['template', 'r', CHART, '--set', 'webhook.certificate=vault']);
  expect(res.code).not.toBe(0);
  expect(res.stderr).toContain("at '/webhook/certificate'");
});

test('webhook: the chart renders what deploy/components/pod-injection ships (configuration, rules)', async () => {
  const component = path.join(ROOT, 'deploy', 'components', 'pod-injection');
  const shipped = [
    ...(loadAllYaml(await readFile(path.join(component, 'rbac.yaml'), 'utf8')) as Doc[]),
    ...(loadAllYaml(await readFile(path.join(component, 'webhook.yaml'), 'utf8')) as Doc[]),
  ];
  const chart = await template(...WEBHOOK_ON);
  expect(webhookRoles(chart).map((d) => d.rules)).toEqual(webhookRoles(shipped).map((d) => d.rules));
  expect(configurationOf(chart).webhooks).toEqual(configurationOf(shipped).webhooks);
});

test('helm lint --strict is clean with the webhook, in both certificate modes', async () => {
  for (const set of [WEBHOOK_ON, CERT_MANAGER]) {
    const res = await helm(['lint', '--strict', CHART, ...set.flatMap((s) => ['--set', s])]);
    expect(res.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    expect(res.code).toBe(0);
  }
});

test('helm install with the webhook (self-managed CA): accepted by the API server, gone with helm uninstall', async () => {
  // The configuration exists only during this test; its Service has no ready endpoints (no Pods run
  // here), and with failurePolicy Ignore the API server admits other Pods without it meanwhile.
  let fullname = '';
  await withRelease(
    'restricted',
    WEBHOOK_ON.flatMap((s) => ['--set', s]),
    async (ns, release) => {
      fullname = `${release}-regcred-operator`;
      const stored = JSON.parse(
        (await kubectl(['get', 'mutatingwebhookconfiguration', fullname, '-o', 'json'])).stdout,
      ) as { webhooks: Array<Record<string, any>> };
      expect(stored.webhooks[0]).toMatchObject({
        clientConfig: { service: { name: `${fullname}-webhook`, namespace: ns, path: '/mutate/pods', port: 443 } },
        failurePolicy: 'Ignore',
        sideEffects: 'None',
        timeoutSeconds: 2,
      });
      expect(stored.webhooks[0]!.clientConfig.caBundle).toBeUndefined();
      const role = await kubectl([
        'get',
        'clusterrole',
        `${fullname}-webhook`,
        '-o',
        'jsonpath={.rules[0].resourceNames}',
      ]);
      expect(JSON.parse(role.stdout)).toEqual([fullname]);
      await expectPodAdmitted(ns, 'deployment', fullname);
    },
  );
  expect((await kubectl(['get', 'mutatingwebhookconfiguration', fullname])).code).not.toBe(0);
});
