// The Helm chart (deploy/helm/regcred-operator): lint and template clean, every knob does what
// values.yaml says, the same RBAC as deploy/, and a real `helm install` into the local control
// plane. helm is built from the Go module proxy by hack/build-helm.sh (as hack/setup.sh does).
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
  spec?: any;
}

let helmBin: string;
let helmEnv: NodeJS.ProcessEnv;

async function helm(args: string[]) {
  return run(helmBin, args, { env: helmEnv, timeoutMs: 180_000 });
}

async function template(...set: string[]): Promise<Doc[]> {
  const res = await helm([
    'template',
    'regcred-operator',
    CHART,
    '--namespace',
    'regcred-system',
    ...set.flatMap((s) => ['--set', s]),
  ]);
  if (res.code !== 0) throw new Error(res.stderr);
  return loadAllYaml(res.stdout) as Doc[];
}

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
  for (const set of [[], ['metrics.serviceMonitor.enabled=true', 'replicas=1', 'leaderElection.enabled=false']]) {
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
    'leader election off (one replica): no flag, no Lease Role, no PDB',
    ['leaderElection.enabled=false', 'replicas=1'],
    (docs) => {
      expect(container(docs).args).not.toContain('--leader-elect');
      expect(docs.filter((d) => d.kind === 'Role').map((d) => d.metadata.name)).toEqual([]);
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

test('helm install into the local control plane, under restricted Pod Security; helm uninstall', async () => {
  const cluster = Cluster.admin();
  const ns = `helm-${uniqueSuffix()}`;
  await cluster.createNamespace(ns, { 'pod-security.kubernetes.io/enforce': 'restricted' });
  const release = `rc-${ns}`;
  try {
    const res = await helm([
      'install',
      release,
      CHART,
      '--namespace',
      ns,
      '--set',
      'serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::123456789012:role/regcred',
      '--wait=false',
    ]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('STATUS: deployed');
    const sa = await cluster.getServiceAccount(ns, `${release}-regcred-operator`);
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
      `rolebinding.rbac.authorization.k8s.io/${release}-regcred-operator-leader-election`,
      `service/${release}-regcred-operator-metrics`,
    ]);
    // The Deployment's Pod is admitted by restricted Pod Security (nothing runs Pods here: a dry run).
    const deployment = JSON.parse(
      (await kubectl(['-n', ns, 'get', 'deployment', `${release}-regcred-operator`, '-o', 'json'])).stdout,
    ) as { spec: { template: { spec: object } } };
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'admission-check', namespace: ns },
      spec: deployment.spec.template.spec,
    };
    const admitted = await kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(pod) });
    expect(admitted.stderr).toBe('');
    expect(admitted.code).toBe(0);
  } finally {
    const un = await helm(['uninstall', release, '--namespace', ns]);
    expect(un.code).toBe(0);
    await cluster.deleteNamespace(ns);
  }
  expect((await kubectl(['get', 'clusterrole', `${release}-regcred-operator`])).code).not.toBe(0);
});
