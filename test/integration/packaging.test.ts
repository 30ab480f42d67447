// What ships: the image (as far as it can be checked without a Docker engine), the kustomize base,
// the generated install.yaml, and the optional ServiceMonitor component, applied to the real API
// server with a server-side dry run (nothing can run Pods here: there is no kubelet).
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dumpYaml, loadAllYaml } from '@kubernetes/client-node';
import { FLAGS } from '../../src/config.js';
import { imageNodeFlags, startOperator } from '../../harness/operator.js';
import { Cluster, uniqueSuffix } from '../harness/cluster.js';
import { freePorts, kubectl, run, runOk } from '../../harness/controlplane.js';
import {
  mintToken,
  pluginBinary,
  providerRequest,
  runPlugin,
  writePluginConfig,
} from '../../harness/kubelet-plugin.js';
import { createCertificateAuthority, issueServerCertificate } from '../../harness/tls.js';
import { waitFor } from '../../harness/wait.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const repo = (...p: string[]) => path.join(ROOT, ...p);

interface KubeDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

// ---- the image -----------------------------------------------------------------------------------

interface DockerStage {
  from: string;
  name?: string;
  lines: string[];
}

async function dockerfileStages(): Promise<DockerStage[]> {
  const text = (await readFile(repo('Dockerfile'), 'utf8')).replace(/\\\n/g, ' ');
  const args = new Map<string, string>();
  const stages: DockerStage[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const arg = /^ARG (\w+)=(\S+)$/.exec(line);
    if (arg && stages.length === 0) args.set(arg[1]!, arg[2]!);
    const from = /^FROM (\S+)(?: AS (\S+))?$/i.exec(line);
    if (from) {
      stages.push({
        from: from[1]!.replace(/\$\{(\w+)\}/g, (_, n: string) => args.get(n) ?? ''),
        name: from[2],
        lines: [],
      });
      continue;
    }
    stages.at(-1)?.lines.push(line);
  }
  return stages;
}

/** COPY sources from the build context (no --from), relative to the repo. */
function contextCopies(stages: DockerStage[]): string[] {
  return stages.flatMap((st) =>
    st.lines.filter((l) => l.startsWith('COPY ') && !l.includes('--from=')).flatMap((l) => l.split(/\s+/).slice(1, -1)),
  );
}

/** The .dockerignore is an allowlist: `*`, then `!path` entries. */
async function dockerContextAllowlist(): Promise<string[]> {
  const lines = (await readFile(repo('.dockerignore'), 'utf8'))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  expect(lines[0]).toBe('*');
  return lines.slice(1).map((l) => {
    expect(l.startsWith('!')).toBe(true);
    return l.slice(1).replace(/\/$/, '');
  });
}

describe('the image', () => {
  test('a supported Node LTS, non-root, node dist/main.js as PID 1', async () => {
    const stages = await dockerfileStages();
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const st of stages) expect(st.from).toMatch(/^node:(22|24)-/); // the maintained LTS lines
    const runtime = stages.at(-1)!;
    expect(runtime.lines).toContain('USER 65532:65532');
    // node, V8's heap flags (the memory figures of the benchmark are measured with them), the script
    const flags = await imageNodeFlags(); // what the harness runs every operator with
    expect(flags.length).toBeGreaterThan(0);
    for (const flag of flags) expect(flag).toMatch(/^--[a-z-]+(=\d+)?$/);
    expect(runtime.lines).toContain(
      `ENTRYPOINT ${JSON.stringify(['node', ...flags, 'dist/main.js']).replaceAll(',', ', ')}`,
    );
    // production dependencies only: the runtime's node_modules come from an --omit=dev install
    const depsStage = /^COPY --from=(\S+) \/app\/node_modules/.exec(
      runtime.lines.find((l) => l.includes('node_modules'))!,
    )![1];
    expect(stages.find((st) => st.name === depsStage)!.lines.join('\n')).toContain('npm install --omit=dev');
    expect(runtime.lines.some((l) => /^RUN /.test(l))).toBe(false); // nothing runs in the final stage
  });

  test('every path copied from the build context exists and is in the .dockerignore allowlist', async () => {
    const allow = await dockerContextAllowlist();
    const sources = contextCopies(await dockerfileStages());
    for (const src of sources) {
      expect(await exists(repo(src))).toBe(true);
      expect(allow).toContain(src.replace(/\/$/, ''));
    }
    // and nothing else is sent as context
    expect([...allow].sort()).toEqual([...new Set(sources.map((s) => s.replace(/\/$/, '')))].sort());
  });

  test('the runtime copies what `npm run build` produces (dist/, entry point dist/main.js)', async () => {
    const stages = await dockerfileStages();
    const build = stages.find((st) => st.name === 'build')!;
    expect(build.lines).toContain('RUN npm run build');
    expect(stages.at(-1)!.lines).toContain('COPY --from=build /src/dist ./dist');
    const tsconfig = JSON.parse(await readFile(repo('tsconfig.build.json'), 'utf8')) as {
      compilerOptions: { outDir: string };
    };
    expect(tsconfig.compilerOptions.outDir).toBe('dist');
    expect(await exists(repo('dist', 'main.js'))).toBe(true);
    // the ESM entry point needs package.json ("type": "module") next to dist/
    expect(stages.at(-1)!.lines).toContain('COPY package.json ./');
  });

  test('a production-only install of the runtime layout runs: --help, and against the API server', async () => {
    const app = await mkdtemp(path.join(os.tmpdir(), 'regcred-image-'));
    try {
      for (const f of ['package.json', 'package-lock.json']) await cp(repo(f), path.join(app, f));
      await runOk('npm', ['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'], {
        cwd: app,
        timeoutMs: 300_000,
      });
      // (@types/node stays: @kubernetes/client-node depends on it)
      for (const dev of ['jest', 'typescript', 'ts-jest', '@types/jest'])
        expect(await exists(path.join(app, 'node_modules', dev))).toBe(false);
      await cp(repo('dist'), path.join(app, 'dist'), { recursive: true });
      const help = await run(process.execPath, ['dist/main.js', '--help'], { cwd: app });
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('Usage: regcred-operator');
      expect(help.stdout).toContain('--leader-elect');

      // The same layout runs against the API server until ready, then stops cleanly on SIGTERM.
      // It stays a standby (a Lease someone else holds for an hour), so it writes nothing here.
      const cluster = Cluster.admin();
      const ns = `image-${uniqueSuffix()}`;
      await cluster.createNamespace(ns);
      const lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'held', namespace: ns },
        spec: { holderIdentity: 'someone-else', leaseDurationSeconds: 3600 },
      };
      expect((await kubectl(['apply', '-f', '-'], { input: JSON.stringify(lease) })).code).toBe(0);
      const op = await startOperator({
        sourceNamespace: ns,
        user: `image-${ns}`,
        main: path.join(app, 'dist', 'main.js'),
        args: ['--leader-elect', '--leader-election-namespace', ns, '--leader-election-id', 'held'],
      });
      expect(await op.metric('regcred_leader')).toBe(0);
      await op.stop();
      expect(await op.logs()).toContain('"msg":"shutting down"');
      await cluster.deleteNamespace(ns);
    } finally {
      await rm(app, { recursive: true, force: true });
    }
  });
});

// ---- manifests -----------------------------------------------------------------------------------

describe('deploy/', () => {
  beforeAll(async () => {
    // Server-side dry runs of namespaced objects need their namespace, and Pods their ServiceAccount.
    for (const f of ['deploy/namespace.yaml', 'deploy/rbac/service_account.yaml']) {
      const res = await kubectl(['apply', '-f', repo(f)]);
      expect(res.stderr).toBe('');
    }
  });

  test('install.yaml and the CRD copies are generated from crds/ and deploy/ (hack/gen-install.sh --check)', async () => {
    const res = await run('bash', [repo('hack', 'gen-install.sh'), '--check']);
    expect(res.stderr).toContain('up to date');
    expect(res.code).toBe(0);
  });

  test.each<[string, string[]]>([
    ['kubectl apply -k deploy/', ['apply', '-k', repo('deploy'), '--dry-run=server']],
    [
      'kubectl apply --server-side -f deploy/install.yaml',
      [
        'apply',
        '--server-side',
        '--field-manager=regcred-install-test',
        '-f',
        repo('deploy', 'install.yaml'),
        '--dry-run=server',
      ],
    ],
  ])('%s is accepted by the API server (server-side dry run), without Pod Security warnings', async (_name, args) => {
    const res = await kubectl(args);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    for (const kind of [
      'namespace',
      'customresourcedefinition',
      'serviceaccount',
      'clusterrole',
      'clusterrolebinding',
      'role',
      'rolebinding',
      'deployment',
      'service',
      'poddisruptionbudget',
    ]) {
      expect(res.stdout).toMatch(new RegExp(`^${kind}[./]`, 'm'));
    }
  });

  test("the Deployment's Pod is admitted under restricted Pod Security in regcred-system", async () => {
    const docs = loadAllYaml(await readFile(repo('deploy', 'install.yaml'), 'utf8')) as KubeDoc[];
    const ns = docs.find((d) => d.kind === 'Namespace')!;
    expect(ns.metadata).toMatchObject({
      name: 'regcred-system',
      labels: { 'pod-security.kubernetes.io/enforce': 'restricted' },
    });
    const deployment = docs.find((d) => d.kind === 'Deployment')! as KubeDoc & {
      spec: { template: { metadata: object; spec: Record<string, unknown> } };
    };
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'regcred-operator-admission-check', namespace: 'regcred-system' },
      spec: deployment.spec.template.spec,
    };
    const res = await kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(pod) });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    // and a Pod that is not restricted is rejected there (the check above is not vacuous)
    const root = structuredClone(pod) as typeof pod & { spec: { securityContext: Record<string, unknown> } };
    root.spec.securityContext = { ...root.spec.securityContext, runAsNonRoot: false, runAsUser: 0 };
    const rejected = await kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(root) });
    expect(rejected.code).not.toBe(0);
    expect(rejected.stderr).toContain('violates PodSecurity "restricted');
  });

  test('the Deployment: probes, resources, leader election, read-only root filesystem', async () => {
    const docs = loadAllYaml(await readFile(repo('deploy', 'install.yaml'), 'utf8')) as KubeDoc[];
    const deployment = docs.find((d) => d.kind === 'Deployment') as unknown as {
      spec: { replicas: number; template: { spec: { containers: Array<Record<string, any>> } } };
    };
    const c = deployment.spec.template.spec.containers[0]!;
    expect(c.args).toContain('--leader-elect');
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(Object.keys(c.resources.requests).sort()).toEqual(['cpu', 'memory']);
    expect(c.resources.limits.memory).toBeDefined();
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.image).toMatch(/^[^:]+\/regcred-operator:\d+\.\d+\.\d+$/);
    expect(deployment.spec.replicas).toBeGreaterThan(1);
    const pdb = docs.find((d) => d.kind === 'PodDisruptionBudget')!;
    expect(pdb.spec).toMatchObject({ minAvailable: 1 });
  });

  /** deploy/ with some of its components, through an overlay as a user writes it, rendered by kustomize. */
  async function withComponent(...components: string[]): Promise<KubeDoc[]> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'regcred-overlay-'));
    try {
      // kustomize takes bases and components by relative path
      const rel = (p: string) => path.relative(dir, repo(p));
      await writeFile(
        path.join(dir, 'kustomization.yaml'),
        dumpYaml({
          apiVersion: 'kustomize.config.k8s.io/v1beta1',
          kind: 'Kustomization',
          resources: [rel('deploy')],
          components: components.map((c) => rel(`deploy/components/${c}`)),
        }),
      );
      const res = await kubectl(['kustomize', dir]);
      expect(res.stderr).toBe('');
      return loadAllYaml(res.stdout) as KubeDoc[];
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  test('the ServiceMonitor component adds a ServiceMonitor that selects the metrics Service', async () => {
    const docs = await withComponent('servicemonitor');
    const sm = docs.find((d) => d.kind === 'ServiceMonitor')! as KubeDoc & {
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: Array<{ port: string }> };
    };
    const svc = docs.find((d) => d.kind === 'Service')! as KubeDoc & {
      metadata: { labels: Record<string, string> };
      spec: { ports: Array<{ name: string }> };
    };
    expect(sm.metadata.namespace).toBe(svc.metadata.namespace);
    expect(svc.metadata.labels).toMatchObject(sm.spec.selector.matchLabels);
    expect(svc.spec.ports.map((p) => p.name)).toContain(sm.spec.endpoints[0]!.port);
  });

  test("the alerts component adds a PrometheusRule whose rules select the metrics Service's job", async () => {
    const docs = await withComponent('alerts');
    const rule = docs.find((d) => d.kind === 'PrometheusRule')! as KubeDoc & {
      spec: { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
    };
    const svc = docs.find((d) => d.kind === 'Service')!;
    expect(rule.metadata.namespace).toBe(svc.metadata.namespace);
    // a ServiceMonitor names the job after the Service
    const exprs = rule.spec.groups.flatMap((group) => group.rules.map((r) => r.expr));
    expect(exprs.length).toBeGreaterThan(0);
    for (const expr of exprs) expect(expr).toContain(`job="${svc.metadata.name}"`);
  });

  test('the FlowSchema component: accepted by the API server, naming the ServiceAccount deploy/ runs as', async () => {
    const docs = await withComponent('flowschema');
    const deployment = docs.find((d) => d.kind === 'Deployment')! as KubeDoc & {
      spec: { template: { spec: { serviceAccountName: string } } };
    };
    const serviceAccount = {
      name: deployment.spec.template.spec.serviceAccountName,
      namespace: deployment.metadata.namespace,
    };
    const schemas = docs.filter((d) => d.kind === 'FlowSchema') as Array<
      KubeDoc & { spec: { priorityLevelConfiguration: { name: string }; rules: Array<{ subjects: unknown[] }> } }
    >;
    expect(schemas.map((d) => d.spec.priorityLevelConfiguration.name).sort()).toEqual([
      'leader-election',
      'regcred-operator',
    ]);
    for (const schema of schemas)
      expect(schema.spec.rules[0]!.subjects).toEqual([{ kind: 'ServiceAccount', serviceAccount }]);
    const flowcontrol = docs.filter((d) => d.kind === 'FlowSchema' || d.kind === 'PriorityLevelConfiguration');
    const applied = await kubectl(['apply', '--dry-run=server', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: flowcontrol }),
    });
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toMatch(/^flowschema\.\S*\/regcred-operator created/m);
    expect(applied.stdout).toMatch(/^prioritylevelconfiguration\.\S*\/regcred-operator created/m);
  });

  describe('components/kubelet-delivery', () => {
    type Container = {
      args: string[];
      ports?: Array<{ name: string; containerPort: number }>;
      volumeMounts?: Array<{ name: string; mountPath: string }>;
    };
    type PodTemplate = {
      metadata: { labels: Record<string, string> };
      spec: { containers: Container[]; volumes?: Array<Record<string, any>> };
    };
    type Rules = Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>;
    let docs: KubeDoc[];
    const find = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name)!;
    const template = (kind: string, name: string) => (find(kind, name).spec as { template: PodTemplate }).template;
    const installer = () => template('DaemonSet', 'regcred-kubelet-installer').spec.containers[0]!;
    /** The value of `--flag=value` in args. */
    const flag = (args: string[], name: string) => args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
    const operatorAudience = FLAGS.find((f) => f.flag === '--kubelet-token-audience')!.fallback!;

    beforeAll(async () => {
      docs = await withComponent('kubelet-delivery');
    });

    test('the endpoint: flags on, the port the Service targets, the TLS Secret mounted where the flags point', () => {
      const pod = template('Deployment', 'regcred-operator');
      const operator = pod.spec.containers[0]!;
      expect(flag(operator.args, '--kubelet-bind-address')).toBe(':8444');
      expect(operator.ports).toContainEqual({ name: 'kubelet', containerPort: 8444, protocol: 'TCP' });
      const service = find('Service', 'regcred-operator-kubelet') as KubeDoc & {
        spec: { selector: Record<string, string>; ports: Array<{ port: number; targetPort: string }> };
      };
      expect(service.spec.ports).toEqual([expect.objectContaining({ port: 8444, targetPort: 'kubelet' })]);
      expect(pod.metadata.labels).toMatchObject(service.spec.selector);
      const mount = operator.volumeMounts!.find((m) => m.name === 'kubelet-tls')!;
      for (const file of ['--kubelet-tls-cert-file', '--kubelet-tls-key-file'])
        expect(path.dirname(flag(operator.args, file)!)).toBe(mount.mountPath);
      expect(pod.spec.volumes).toContainEqual({
        name: 'kubelet-tls',
        secret: { secretName: 'regcred-operator-kubelet-tls' },
      });
      // the ServiceAccount of the Deployment gets TokenReviews, and only that, from the component
      const binding = find('ClusterRoleBinding', 'regcred-operator-kubelet-delivery') as KubeDoc & {
        subjects: unknown[];
        roleRef: { name: string };
      };
      expect(binding.subjects).toEqual([
        { kind: 'ServiceAccount', name: 'regcred-operator', namespace: 'regcred-system' },
      ]);
      expect((find('ClusterRole', binding.roleRef.name) as KubeDoc & { rules: Rules }).rules).toEqual([
        { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
      ]);
    });

    test("one audience: the operator's default, the node RBAC's and the installer's", () => {
      const role = find('ClusterRole', 'regcred-kubelet-token-audience') as KubeDoc & { rules: Rules };
      expect(role.rules).toEqual([
        { apiGroups: [''], resources: [operatorAudience], verbs: ['request-serviceaccounts-token-audience'] },
      ]);
      expect(flag(installer().args, '--audience')).toBe(operatorAudience);
    });

    test('the installer asks the Service by the variables the kubelet sets for it, for the name on its certificate', () => {
      const service = find('Service', 'regcred-operator-kubelet');
      // the kubelet's rule: the Service name upper-cased, "-" as "_"; named ports get _SERVICE_PORT_<NAME>
      const prefix = service.metadata.name.toUpperCase().replaceAll('-', '_');
      expect(flag(installer().args, '--endpoint')).toBe(
        `https://$(${prefix}_SERVICE_HOST):$(${prefix}_SERVICE_PORT_KUBELET)`,
      );
      expect(flag(installer().args, '--server-name')).toBe(
        `${service.metadata.name}.${service.metadata.namespace}.svc`,
      );
      // the kubelet reads the files at the paths the installer writes: the host paths are mounted as they are
      const volumes = template('DaemonSet', 'regcred-kubelet-installer').spec.volumes!;
      const hostPath = (dir: string) =>
        installer().volumeMounts!.some(
          (m) => dir.startsWith(m.mountPath) && volumes.find((v) => v.name === m.name)?.hostPath?.path === m.mountPath,
        );
      expect(hostPath(flag(installer().args, '--config-dir')!)).toBe(true);
      expect(hostPath(flag(installer().args, '--bin-dir')!)).toBe(true);
      // only the CA certificate, from a ConfigMap (never the Secret with the endpoint's key)
      expect(volumes.find((v) => v.name === 'ca')).toEqual({
        name: 'ca',
        configMap: { name: 'regcred-kubelet-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] },
      });
    });

    test("the installer's arguments are the plugin's: install writes the kubelet's configuration for that audience", async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'regcred-install-'));
      try {
        const ca = await createCertificateAuthority(path.join(dir, 'ca'));
        const host = path.join(dir, 'host');
        // the DaemonSet's arguments, once, with the host paths under `host` and the Service's variables set
        const env: Record<string, string> = {
          REGCRED_OPERATOR_KUBELET_SERVICE_HOST: '10.0.0.44',
          REGCRED_OPERATOR_KUBELET_SERVICE_PORT_KUBELET: '8444',
        };
        const args = installer()
          .args.filter((a) => !a.startsWith('--watch='))
          .map((a) => a.replace(/\$\((\w+)\)/g, (_, name: string) => env[name]!))
          .map((a) =>
            a.startsWith('--config-dir=/') || a.startsWith('--bin-dir=/') ? a.replace('=/', `=${host}/`) : a,
          )
          .map((a) => (a.startsWith('--ca-file=') ? `--ca-file=${ca.caFile}` : a));
        expect(args[0]).toBe('install');
        const res = await run(await pluginBinary(), args);
        expect(res.stderr).toContain('regcred: installed');
        expect(res.code).toBe(0);
        const configDir = host + flag(installer().args, '--config-dir')!;
        const binDir = host + flag(installer().args, '--bin-dir')!;
        expect((await stat(path.join(binDir, 'regcred-kubelet-plugin'))).mode & 0o111).toBe(0o111);
        expect(await readFile(path.join(configDir, 'ca.crt'), 'utf8')).toBe(await readFile(ca.caFile, 'utf8'));
        expect(JSON.parse(await readFile(path.join(configDir, 'plugin.json'), 'utf8'))).toEqual({
          endpoints: ['https://10.0.0.44:8444'],
          caFile: 'ca.crt',
          serverName: 'regcred-operator-kubelet.regcred-system.svc',
        });
        const [config] = loadAllYaml(
          await readFile(path.join(configDir, 'credential-provider-config.yaml'), 'utf8'),
        ) as Array<{ apiVersion: string; providers: Array<Record<string, any>> }>;
        expect(config!.apiVersion).toBe('kubelet.config.k8s.io/v1');
        expect(config!.providers).toHaveLength(1);
        expect(config!.providers[0]).toMatchObject({
          name: 'regcred-kubelet-plugin', // the binary's name in the bin dir
          args: ['--config', path.join(configDir, 'plugin.json')],
          tokenAttributes: {
            serviceAccountTokenAudience: operatorAudience,
            cacheType: 'ServiceAccount',
            requireServiceAccount: true,
          },
        });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    test('accepted by the API server (server-side dry run); the installer Pod needs the privileged level it sets', async () => {
      const cluster = Cluster.admin();
      const ns = `kubelet-deploy-${uniqueSuffix()}`;
      // The component's Namespace (its Pod Security labels), created for real under a fresh name, and
      // every object moved into it: the dry runs are admitted against those labels. (Not the CRD: the
      // base's dry runs above cover it, and loadAllYaml's typed objects do not round-trip its schema.)
      const namespace = docs.find((d) => d.kind === 'Namespace')! as KubeDoc & {
        metadata: { labels: Record<string, string> };
      };
      expect(namespace.metadata.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'privileged' });
      await cluster.createNamespace(ns, namespace.metadata.labels);
      try {
        const moved = JSON.parse(
          JSON.stringify(
            docs.filter((d) => d.kind !== 'Namespace' && d.kind !== 'CustomResourceDefinition'),
          ).replaceAll('regcred-system', ns),
        );
        // --force-conflicts: cluster-scoped objects keep their names, and another test may have
        // applied them for real (client-side); a dry run only asks whether they are admitted.
        const res = await kubectl(
          [
            ...['apply', '--server-side', '--force-conflicts', '--field-manager=regcred-install-test'],
            ...['--dry-run=server', '-f', '-'],
          ],
          { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: moved }) },
        );
        expect(res.stderr).toBe('');
        expect(res.code).toBe(0);
        for (const object of [
          'daemonset.apps/regcred-kubelet-installer',
          'service/regcred-operator-kubelet',
          'clusterrole.rbac.authorization.k8s.io/regcred-kubelet-token-audience',
          'clusterrolebinding.rbac.authorization.k8s.io/regcred-operator-kubelet-delivery',
        ])
          expect(res.stdout).toContain(`${object} serverside-applied`);
        // The installer's Pod is admitted there, and the operator's still is under restricted; the
        // installer's is not (hostPath), so the component's label is what makes it run.
        const pod = (kind: string, name: string, namespace: string) => ({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'admission-check', namespace },
          spec: template(kind, name).spec,
        });
        const installerPod = pod('DaemonSet', 'regcred-kubelet-installer', ns);
        const admitted = await kubectl(['create', '--dry-run=server', '-f', '-'], {
          input: JSON.stringify(installerPod),
        });
        expect(admitted.stderr).toBe('');
        expect(admitted.code).toBe(0);
        const restricted = `${ns}-restricted`;
        await cluster.createNamespace(restricted, { 'pod-security.kubernetes.io/enforce': 'restricted' });
        try {
          const operatorPod = pod('Deployment', 'regcred-operator', restricted);
          (operatorPod.spec as { serviceAccountName?: string }).serviceAccountName = 'default';
          const operator = await kubectl(['create', '--dry-run=server', '-f', '-'], {
            input: JSON.stringify(operatorPod),
          });
          expect(operator.stderr).toBe('');
          const refused = await kubectl(['create', '--dry-run=server', '-f', '-'], {
            input: JSON.stringify({ ...installerPod, metadata: { ...installerPod.metadata, namespace: restricted } }),
          });
          expect(refused.code).not.toBe(0);
          expect(refused.stderr).toMatch(
            /violates PodSecurity "restricted:latest": .*restricted volume type "hostPath"/,
          );
        } finally {
          await cluster.deleteNamespace(restricted);
        }
      } finally {
        await cluster.deleteNamespace(ns);
      }
    });

    test("the component's operator RBAC is what the endpoint needs: without it no TokenReview, with it the answer", async () => {
      const cluster = Cluster.admin();
      const id = uniqueSuffix();
      const user = `kubelet-rbac-${id}`;
      const ns = `kubelet-rbac-${id}`;
      await cluster.createNamespace(ns);
      await cluster.createServiceAccount(ns, 'web');
      // deploy/'s ClusterRole and the component's, as they are, under names of this test's own, for `user`
      const base = loadAllYaml(await readFile(repo('deploy', 'rbac', 'cluster_role.yaml'), 'utf8'))[0] as KubeDoc;
      const kubeletRole = find('ClusterRole', 'regcred-operator-kubelet-delivery');
      const bound = (role: KubeDoc) => {
        const name = `${role.metadata.name}-${id}`;
        return [
          { ...role, metadata: { ...role.metadata, name } },
          {
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'ClusterRoleBinding',
            metadata: { name },
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
            subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
          },
        ];
      };
      const list = (items: unknown[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
      expect((await kubectl(['apply', '-f', '-'], { input: list(bound(base)) })).stderr).toBe('');
      const dir = await mkdtemp(path.join(os.tmpdir(), 'regcred-kubelet-rbac-'));
      const ca = await createCertificateAuthority(path.join(dir, 'ca'));
      const serving = await issueServerCertificate(ca, 'endpoint', ['127.0.0.1']);
      await writeFile(path.join(dir, 'tls.crt'), serving.cert);
      await writeFile(path.join(dir, 'tls.key'), serving.key);
      const [port] = await freePorts(1);
      const plugin = await writePluginConfig(path.join(dir, 'node'), [`https://127.0.0.1:${port}`], ca.caFile);
      const op = await startOperator({
        sourceNamespace: ns,
        user,
        bindClusterAdmin: false,
        args: [
          ...['--kubelet-bind-address', `127.0.0.1:${port}`],
          ...[
            '--kubelet-tls-cert-file',
            path.join(dir, 'tls.crt'),
            '--kubelet-tls-key-file',
            path.join(dir, 'tls.key'),
          ],
        ],
      });
      try {
        // a Pod-bound token for a ServiceAccount nothing selects: a verified token gets an empty answer
        const token = async () => {
          const pod = `p-${uniqueSuffix()}`;
          await cluster.createPod(ns, {
            metadata: { name: pod },
            spec: { serviceAccountName: 'web', containers: [{ name: 'c', image: 'registry.example.com/app:1' }] },
          });
          return mintToken(ns, 'web', { pod });
        };
        const refused = await runPlugin(plugin, providerRequest('registry.example.com/app:1', await token()));
        expect(refused.code).toBe(1);
        expect(refused.stderr).toContain('TokenReviewFailed');
        expect((await kubectl(['apply', '-f', '-'], { input: list(bound(kubeletRole)) })).stderr).toBe('');
        const request = providerRequest('registry.example.com/app:1', await token());
        // RBAC reaches the API server's authorizer through its watch: ask until it has
        const answered = await waitFor(
          async () => {
            const answer = await runPlugin(plugin, request);
            return answer.code === 0 ? answer : undefined;
          },
          { timeoutMs: 30_000, what: 'an answer once the TokenReview is allowed' },
        );
        expect(answered.response?.auth).toEqual({});
        expect(await op.metric('regcred_kubelet_requests_total', { result: 'none' })).toBe(1);
      } finally {
        await op.stop();
        await kubectl(['delete', '-f', '-'], { input: list([...bound(base), ...bound(kubeletRole)]) });
        await cluster.deleteNamespace(ns);
        await rm(dir, { recursive: true, force: true });
      }
    });

    test('the node RBAC: a node may request tokens for the audience, for any ServiceAccount, and nothing else', async () => {
      // node-rbac.yaml as it is, under names of this test's own (the rules and subjects unchanged)
      const suffix = uniqueSuffix();
      const file = loadAllYaml(
        await readFile(repo('deploy', 'components', 'kubelet-delivery', 'node-rbac.yaml'), 'utf8'),
      ) as Array<KubeDoc & { roleRef?: { name: string } }>;
      const objects = file.map((d) => ({
        ...d,
        metadata: { ...d.metadata, name: `${d.metadata.name}-${suffix}` },
        ...(d.roleRef ? { roleRef: { ...d.roleRef, name: `${d.roleRef.name}-${suffix}` } } : {}),
      }));
      const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects });
      const applied = await kubectl(['apply', '-f', '-'], { input: list });
      expect(applied.stderr).toBe('');
      try {
        const node = { user: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] };
        const workload = {
          user: 'system:serviceaccount:team-a:web',
          groups: ['system:serviceaccounts', 'system:serviceaccounts:team-a', 'system:authenticated'],
        };
        const allowed = async (who: typeof node, attributes: Record<string, string>) => {
          const review = {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SubjectAccessReview',
            spec: { ...who, resourceAttributes: attributes },
          };
          const res = await kubectl(['create', '-o', 'json', '-f', '-'], { input: JSON.stringify(review) });
          expect(res.stderr).toBe('');
          return (JSON.parse(res.stdout) as { status: { allowed: boolean } }).status.allowed;
        };
        // what NodeRestriction asks for a node's TokenRequest with an audience no Pod names
        const audience = (resource: string, namespace = 'team-a', name = 'web') => ({
          verb: 'request-serviceaccounts-token-audience',
          group: '',
          version: 'v1',
          resource,
          namespace,
          name,
        });
        expect(await allowed(node, audience(operatorAudience))).toBe(true);
        expect(await allowed(node, audience(operatorAudience, 'team-b', 'builder'))).toBe(true);
        expect(await allowed(node, audience('sts.amazonaws.com'))).toBe(false);
        expect(await allowed(node, audience('https://kubernetes.default.svc'))).toBe(false);
        expect(await allowed(workload, audience(operatorAudience))).toBe(false);
        // the tokens themselves still come from the Node authorizer (Pods on the node only), not from here
        const createToken = {
          verb: 'create',
          group: '',
          resource: 'serviceaccounts',
          subresource: 'token',
          namespace: 'team-a',
          name: 'web',
        };
        expect(await allowed(node, createToken)).toBe(false);
      } finally {
        await kubectl(['delete', '-f', '-'], { input: list });
      }
    });
  });

  describe('components/pod-injection', () => {
    type Container = {
      args: string[];
      ports: Array<{ name: string; containerPort: number }>;
      volumeMounts?: Array<{ name: string; mountPath: string }>;
    };
    type PodTemplate = {
      metadata: { labels: Record<string, string> };
      spec: { containers: Container[]; volumes?: Array<Record<string, any>> };
    };
    type Webhook = {
      name: string;
      clientConfig: { service: { name: string; namespace: string; path: string; port: number }; caBundle?: string };
      namespaceSelector: { matchExpressions: Array<{ key: string; operator: string; values: string[] }> };
      [field: string]: unknown;
    };
    const find = (docs: KubeDoc[], kind: string, name: string) =>
      docs.find((d) => d.kind === kind && d.metadata.name === name)!;
    const deployment = (docs: KubeDoc[]) =>
      (find(docs, 'Deployment', 'regcred-operator').spec as { template: PodTemplate }).template;
    const webhooks = (docs: KubeDoc[]) =>
      (find(docs, 'MutatingWebhookConfiguration', 'regcred-operator') as KubeDoc & { webhooks: Webhook[] }).webhooks;
    const flag = (args: string[], name: string) => args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
    const known = new Set(FLAGS.map((f) => f.flag));
    /** The objects the component adds to the base. */
    const added = (docs: KubeDoc[]) =>
      docs.filter((d) => d.metadata.labels?.['app.kubernetes.io/component'] === 'webhook');

    /** The component's ClusterRole: get and patch on the one configuration (caBundle and scope), nothing else. */
    function expectConfigurationRights(docs: KubeDoc[]): KubeDoc {
      const role = find(docs, 'ClusterRole', 'regcred-operator-webhook') as KubeDoc & { rules: unknown[] };
      expect(role.rules).toEqual([
        {
          apiGroups: ['admissionregistration.k8s.io'],
          resources: ['mutatingwebhookconfigurations'],
          resourceNames: ['regcred-operator'],
          verbs: ['get', 'patch'],
        },
      ]);
      return role;
    }

    /** Where the webhook is and what it is called for agree with the operator's flags and the Deployment. */
    function expectWired(docs: KubeDoc[]): Webhook {
      const pod = deployment(docs);
      const c = pod.spec.containers[0]!;
      for (const arg of c.args) expect(known).toContain(arg.split('=')[0]);
      const port = Number(flag(c.args, '--webhook-bind-address')!.replace(/^:/, ''));
      expect(c.ports).toContainEqual({ name: 'webhook', containerPort: port, protocol: 'TCP' });
      const service = find(docs, 'Service', 'regcred-operator-webhook') as KubeDoc & {
        spec: { selector: Record<string, string>; ports: Array<Record<string, unknown>> };
      };
      // every replica serves: the Service selects all of the Deployment's Pods
      expect(pod.metadata.labels).toMatchObject(service.spec.selector);
      expect(service.spec.ports).toEqual([{ name: 'webhook', port: 443, targetPort: 'webhook', protocol: 'TCP' }]);
      const hooks = webhooks(docs);
      expect(hooks).toHaveLength(1);
      const [hook] = hooks as [Webhook];
      expect(hook).toMatchObject({
        admissionReviewVersions: ['v1'],
        clientConfig: { service: { name: service.metadata.name, namespace: 'regcred-system', path: '/mutate/pods' } },
        rules: [
          { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' },
        ],
        failurePolicy: 'Ignore',
        sideEffects: 'None',
        timeoutSeconds: 2,
      });
      expect(hook.clientConfig.caBundle).toBeUndefined();
      expect(hook.namespaceSelector.matchExpressions).toEqual([
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'regcred-system'] },
      ]);
      return hook;
    }

    test('the self-managed CA: flags naming the configuration and the Service, and get/patch on that configuration', async () => {
      const docs = await withComponent('pod-injection');
      expectWired(docs);
      const args = deployment(docs).spec.containers[0]!.args;
      expect(args).toContain('--webhook-self-managed-ca');
      expect(flag(args, '--webhook-configuration-name')).toBe('regcred-operator');
      expect(flag(args, '--webhook-dns-names')).toBe('regcred-operator-webhook.regcred-system.svc');
      const role = expectConfigurationRights(docs);
      // its Secret (get, create, update in regcred-system): within the base ClusterRole's Secret rule
      const base = find(docs, 'ClusterRole', 'regcred-operator') as KubeDoc & {
        rules: Array<{ resources: string[]; verbs: string[] }>;
      };
      const secrets = base.rules.find((r) => r.resources.includes('secrets'))!;
      expect(secrets.verbs).toEqual(expect.arrayContaining(['get', 'create', 'update']));
      expect(find(docs, 'ClusterRoleBinding', 'regcred-operator-webhook')).toMatchObject({
        roleRef: { kind: 'ClusterRole', name: role.metadata.name },
        subjects: [{ kind: 'ServiceAccount', name: 'regcred-operator', namespace: 'regcred-system' }],
      });
      expect(
        added(docs)
          .map((d) => d.kind)
          .sort(),
      ).toEqual(['ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'Service']);
    });

    test('applied server-side to the API server: stored as rendered, and an unreachable webhook blocks no Pod', async () => {
      const cluster = Cluster.admin();
      const docs = await withComponent('pod-injection');
      const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: added(docs) });
      const ns = `pod-injection-deploy-${uniqueSuffix()}`;
      await cluster.createNamespace(ns);
      // The configuration exists only within this test: its Service has no endpoints (no Pods run
      // here), so every call fails, and failurePolicy Ignore admits the Pods of other tests meanwhile.
      try {
        const res = await kubectl(
          ['apply', '--server-side', '--force-conflicts', '--field-manager=regcred-install-test', '-f', '-'],
          { input: list },
        );
        expect(res.stderr).toBe('');
        expect(res.code).toBe(0);
        for (const object of [
          'mutatingwebhookconfiguration.admissionregistration.k8s.io/regcred-operator',
          'service/regcred-operator-webhook',
          'clusterrole.rbac.authorization.k8s.io/regcred-operator-webhook',
          'clusterrolebinding.rbac.authorization.k8s.io/regcred-operator-webhook',
        ])
          expect(res.stdout).toContain(`${object} serverside-applied`);
        const stored = JSON.parse(
          (await kubectl(['get', 'mutatingwebhookconfiguration', 'regcred-operator', '-o', 'json'])).stdout,
        ) as { webhooks: Webhook[] };
        expect(stored.webhooks[0]).toMatchObject(webhooks(docs)[0]!);
        // the Deployment with its new port and flags is accepted too
        const dry = await kubectl(
          ['apply', '--server-side', '--field-manager=regcred-install-test', '--dry-run=server', '-f', '-'],
          {
            input: JSON.stringify(find(docs, 'Deployment', 'regcred-operator')),
          },
        );
        expect(dry.stderr).toBe('');
        // a Pod in a namespace the webhook is called for is created although nothing answers
        await waitFor(async () => (await cluster.getServiceAccount(ns, 'default')) !== undefined, {
          what: 'the default ServiceAccount',
        });
        const pod = {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'admitted', namespace: ns },
          spec: { containers: [{ name: 'c', image: 'registry.example.com/app:1' }] },
        };
        const created = await kubectl(['create', '-f', '-'], { input: JSON.stringify(pod) });
        expect(created.stderr).toBe('');
        expect(created.code).toBe(0);
      } finally {
        await kubectl(['delete', '-f', '-', '--ignore-not-found'], { input: list });
        await cluster.deleteNamespace(ns);
      }
    });

    test('with cert-manager: a Certificate for the Service into the mounted Secret, the CA injector annotation', async () => {
      // with kubelet delivery too: both serving certificates are mounted, in either order
      for (const components of [
        ['pod-injection-cert-manager', 'kubelet-delivery'],
        ['kubelet-delivery', 'pod-injection-cert-manager'],
      ]) {
        const docs = await withComponent(...components);
        expectWired(docs);
        const pod = deployment(docs);
        const args = pod.spec.containers[0]!.args;
        expect(args).not.toContain('--webhook-self-managed-ca');
        const certFile = flag(args, '--webhook-tls-cert-file')!;
        expect(flag(args, '--webhook-tls-key-file')).toBe(path.join(path.dirname(certFile), 'tls.key'));
        const mount = pod.spec.containers[0]!.volumeMounts!.find((m) => m.mountPath === path.dirname(certFile))!;
        const volume = pod.spec.volumes!.find((v) => v.name === mount.name)!;
        expect(pod.spec.volumes!.map((v) => v.name).sort()).toEqual(['kubelet-tls', 'webhook-tls']);
        const serving = find(docs, 'Certificate', 'regcred-operator-webhook') as KubeDoc & { spec: any };
        expect(serving.spec).toMatchObject({
          secretName: volume.secret.secretName,
          dnsNames: [
            'regcred-operator-webhook.regcred-system.svc',
            'regcred-operator-webhook.regcred-system.svc.cluster.local',
          ],
          usages: ['server auth'],
        });
        const issuer = find(docs, 'Issuer', serving.spec.issuerRef.name) as KubeDoc & { spec: any };
        const ca = find(docs, 'Certificate', 'regcred-operator-webhook-ca') as KubeDoc & { spec: any };
        expect(ca.spec).toMatchObject({ isCA: true, secretName: issuer.spec.ca.secretName });
        expect(find(docs, 'Issuer', ca.spec.issuerRef.name).spec).toEqual({ selfSigned: {} });
        const configuration = find(docs, 'MutatingWebhookConfiguration', 'regcred-operator') as KubeDoc & {
          metadata: { annotations: Record<string, string> };
        };
        expect(configuration.metadata.annotations).toEqual({
          'cert-manager.io/inject-ca-from': `regcred-system/${serving.metadata.name}`,
        });
        // cert-manager writes the caBundle; the operator narrows the namespaceSelector (get/patch on it)
        expectConfigurationRights(docs);
      }
    });
  });
});
