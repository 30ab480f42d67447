// What ships: the image (as far as it can be checked without a Docker engine), the kustomize base,
// the generated install.yaml, and the optional ServiceMonitor component, applied to the real API
// server with a server-side dry run (nothing can run Pods here: there is no kubelet).
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dumpYaml, loadAllYaml } from '@kubernetes/client-node';
import { kubectl, run, runOk } from '../../harness/controlplane.js';
import { imageNodeFlags, startOperator } from '../../harness/operator.js';
import { Cluster, uniqueSuffix } from '../harness/cluster.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const repo = (...p: string[]) => path.join(ROOT, ...p);

interface KubeDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
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

  /** deploy/ with one of its components, through an overlay as a user writes it, rendered by kustomize. */
  async function withComponent(component: string): Promise<KubeDoc[]> {
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
          components: [rel(`deploy/components/${component}`)],
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
});
