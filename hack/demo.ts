// `npm run demo` (hack/demo.sh): the operator end to end on a real cluster, in about half a minute.
//
// With KUBECONFIG set, the demo uses that cluster (its current context); otherwise it starts the
// throwaway local control plane of the integration tests (etcd, kube-apiserver,
// kube-controller-manager; see harness/controlplane.ts). Then it installs the CRD, creates a
// source namespace with a (fake) Harbor robot account and some namespaces, applies
// examples/demo-credential.yaml, runs the operator (`node dist/main.js`) as a child process and
// shows, with kubectl, the pull Secrets and ServiceAccounts it manages, including in a namespace
// created while it runs. Finally it deletes the RegistryCredential (the operator's finalizer removes
// the Secrets), stops the operator, deletes what it created and stops the local control plane.
//
// Cleanup runs on failure and on Ctrl-C too. Only objects the demo created are deleted (on a real
// cluster the CRD stays installed). Secret values are never printed.
//
// Run by hack/demo.sh as `node --import ./hack/ts-loader.mjs hack/demo.ts`.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ControlPlane,
  ensureControlPlaneBinaries,
  findOnPath,
  freePorts,
  httpGet,
  isAlive,
  type KubectlResult,
  run,
  spawnLogged,
  startControlPlane,
  stopPid,
  tailFile,
  waitForProcess,
} from '../harness/controlplane.js';
import { StopWaiting, waitFor } from '../harness/wait.js';
import { NODE_NAME, nodePreflight, type RealNode, startNode, trustRegistry } from '../test/harness/node.js';
import { type Registry, startRegistry } from '../test/harness/registry.js';
import { appImageLayout } from '../test/harness/workloads.js';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
// Relative to REPO_ROOT, where kubectl runs (so the commands shown can be copied).
const CRD_DIR = 'crds/';
const CRD_NAME = 'registrycredentials.regcred.io';
const EXAMPLE = 'examples/demo-credential.yaml';
const OPERATOR_MAIN = path.join(REPO_ROOT, 'dist', 'main.js');
/** Kept after the demo (the local control plane's dir is removed): .tmp/ is git-ignored. */
const LOG_DIR = path.join(REPO_ROOT, '.tmp', 'demo');

// What examples/demo-credential.yaml declares (checked after applying it).
const CREDENTIAL = 'demo-harbor';
const PULL_SECRET = 'harbor-pull';
const SOURCE_SECRET = 'harbor-robot';
const SOURCE_NAMESPACE = 'regcred-demo-system';
const DEMO_LABEL = { 'regcred-demo': 'true' };
const SELECTED = ['regcred-demo-team-a', 'regcred-demo-team-b'];
const UNSELECTED = 'regcred-demo-other';
const LATE = 'regcred-demo-team-c';
const ALL_NAMESPACES = [SOURCE_NAMESPACE, ...SELECTED, UNSELECTED, LATE, 'regcred-demo-pods'];
const MANAGED = 'app.kubernetes.io/managed-by=regcred-operator';

const WAIT_MS = 60_000;

// The Pod part (local cluster with a real node only): a private registry on this machine, a
// RegistryCredential for it made here, and a Pod that fails before it and runs after it.
const NODE_NAMESPACE = 'regcred-demo-pods';
const NODE_LABEL = { 'regcred-demo-node': 'true' };
const NODE_CREDENTIAL = 'demo-local-registry';
const NODE_SOURCE_SECRET = 'local-registry-robot';
const NODE_PULL_SECRET = 'local-registry-pull';
const NODE_CA_SECRET = 'local-registry-ca';

class DemoError extends Error {
  override name = 'DemoError';
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

const started = Date.now();
const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const say = (line = ''): void => void process.stdout.write(`${line}\n`);
const indent = (text: string): string =>
  text
    .replace(/\n+$/, '')
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
function step(title: string): void {
  interruption.throwIfAborted();
  say(`\n==> ${title}  [${elapsed()}]`);
}

// ---------------------------------------------------------------------------------------------
// Interruption: the first SIGINT/SIGTERM aborts the demo and runs the cleanup, a second one exits.
// ---------------------------------------------------------------------------------------------

const interrupt = new AbortController();
const interruption = interrupt.signal;
const interrupted = new Promise<never>((_, reject) => {
  interruption.addEventListener('abort', () => reject(interruption.reason as Error), { once: true });
});
interrupted.catch(() => undefined); // only raced against
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interruption.aborted) {
      process.stderr.write(`\n[demo] ${sig} again: exiting without finishing the cleanup\n`);
      process.exit(130); // the harness's exit handler SIGKILLs the processes it started
    }
    process.stderr.write(`\n[demo] ${sig}: stopping, cleaning up (${sig} again to exit at once)\n`);
    interrupt.abort(new DemoError(`interrupted by ${sig}`));
  });
}

// ---------------------------------------------------------------------------------------------
// kubectl
// ---------------------------------------------------------------------------------------------

interface Kube {
  bin: string;
  kubeconfig: string;
  env: NodeJS.ProcessEnv;
}

let kube: Kube | undefined;

async function kubectl(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<KubectlResult> {
  if (!kube) throw new DemoError('no cluster');
  return run(kube.bin, [`--kubeconfig=${kube.kubeconfig}`, ...args], {
    input: opts.input,
    env: kube.env,
    cwd: REPO_ROOT,
    timeoutMs: opts.timeoutMs ?? 60_000,
  });
}

async function kubectlOk(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const res = await kubectl(args, opts);
  if (res.code !== 0)
    throw new DemoError(`kubectl ${args.join(' ')} failed (exit ${res.code}): ${(res.stderr || res.stdout).trim()}`);
  return res.stdout;
}

/** Print `$ kubectl ARGS` and what it prints (stdout and stderr, e.g. "No resources found"). */
async function show(args: string[], empty = '(nothing)'): Promise<string> {
  interruption.throwIfAborted();
  const res = await kubectl(args);
  say(`  $ kubectl ${args.map((a) => (/[^\w@%+=:,./-]/.test(a) ? `'${a}'` : a)).join(' ')}`);
  const out = [res.stdout.trimEnd(), res.stderr.trimEnd()].filter(Boolean).join('\n');
  say(indent(out || empty));
  if (res.code !== 0) throw new DemoError(`kubectl ${args.join(' ')} failed (exit ${res.code})`);
  return res.stdout;
}

// ---------------------------------------------------------------------------------------------
// The demo
// ---------------------------------------------------------------------------------------------

interface State {
  cp?: ControlPlane;
  /** The real node, when the local cluster could run one. */
  node?: RealNode;
  /** Why there is no node (printed where the Pod part would be). */
  noNode?: string;
  registry?: Registry;
  nodeCredentialCreated?: boolean;
  workDir?: string;
  /** Namespaces this run created (only those are deleted). */
  namespaces: string[];
  credentialCreated: boolean;
  operator?: { pid: number; logPath: string };
}

async function connect(state: State): Promise<void> {
  const external = process.env.KUBECONFIG;
  if (external) {
    step('Cluster: KUBECONFIG is set, using its current context');
    state.workDir = await mkdtemp(path.join(os.tmpdir(), 'regcred-demo-'));
    const bin = await findOnPath('kubectl');
    if (!bin) throw new DemoError('kubectl is not on PATH (needed to talk to the KUBECONFIG cluster)');
    // One self-contained file for the current context (KUBECONFIG may list several files, which
    // the operator's --kubeconfig does not take). It holds credentials: private work dir, 0600.
    const flat = await run(bin, ['config', 'view', '--flatten', '--minify', '--raw'], { timeoutMs: 30_000 });
    if (flat.code !== 0 || !flat.stdout.trim())
      throw new DemoError(`cannot read KUBECONFIG=${external}: ${flat.stderr.trim() || 'empty config'}`);
    const kubeconfig = path.join(state.workDir, 'kubeconfig');
    await writeFile(kubeconfig, flat.stdout, { mode: 0o600 });
    kube = { bin, kubeconfig, env: process.env };
    const context = (await kubectlOk(['config', 'current-context'])).trim();
    const server = (await kubectlOk(['config', 'view', '-o', 'jsonpath={.clusters[0].cluster.server}'])).trim();
    say(`  context ${context}, server ${server}`);
    await kubectlOk(['version', '--request-timeout=15s'], { timeoutMs: 30_000 }).catch((err: Error) => {
      throw new DemoError(`cannot reach the cluster of context ${context}: ${err.message}`);
    });
  } else {
    step('Cluster: KUBECONFIG is not set, starting a throwaway local control plane');
    const binDir = process.env.REGCRED_DEMO_BIN_DIR || (await ensureControlPlaneBinaries());
    // With a real node when this machine can run one (root, containerd, runc, CNI plugins, kubelet):
    // then a Pod really pulls at the end.
    state.noNode = await nodePreflight(binDir);
    state.cp = await startControlPlane({
      binDir,
      withControllerManager: true,
      ...(state.noNode ? {} : { forNode: { nodeName: NODE_NAME } }),
    });
    const bin = path.join(binDir, 'kubectl');
    // A private discovery cache: the default one (~/.kube/cache) is keyed by host:port, and ports are reused.
    kube = {
      bin,
      kubeconfig: state.cp.adminKubeconfig,
      env: { ...process.env, KUBECACHEDIR: path.join(state.cp.dir, 'kube-cache') },
    };
    say(`  etcd + kube-apiserver + kube-controller-manager at ${state.cp.server} (work dir ${state.cp.dir})`);
    say(`  kubectl here: kubectl --kubeconfig ${state.cp.adminKubeconfig} ...`);
    if (!state.noNode) {
      step('A real node: containerd + runc + the kubelet, joined to the control plane');
      state.node = await startNode(state.cp.env);
      await show(['get', 'nodes', '-o', 'wide']);
    }
  }
}

async function setUp(state: State): Promise<void> {
  // On a real cluster, never adopt (and later delete) objects someone else made.
  const leftovers = (
    await kubectlOk(['get', 'namespaces', '-o', 'name', '--ignore-not-found', ...ALL_NAMESPACES])
  ).trim();
  if (leftovers) {
    throw new DemoError(
      `these namespaces already exist (left over from an interrupted demo?); delete them first:\n  kubectl delete ` +
        `${leftovers.split('\n').join(' ')}`,
    );
  }

  step('Install the CRD');
  await show(['apply', '-f', CRD_DIR]);
  await show(['wait', '--for=condition=Established', '--timeout=60s', `crd/${CRD_NAME}`]);

  if ((await kubectlOk(['get', 'registrycredential', CREDENTIAL, '-o', 'name', '--ignore-not-found'])).trim()) {
    throw new DemoError(
      `RegistryCredential ${CREDENTIAL} already exists; delete it first: kubectl delete registrycredential ` +
        `${CREDENTIAL}`,
    );
  }

  step(`Source namespace ${SOURCE_NAMESPACE} with the Harbor robot account (fake) in Secret ${SOURCE_SECRET}`);
  state.namespaces.push(SOURCE_NAMESPACE);
  await show(['create', 'namespace', SOURCE_NAMESPACE]);
  // Through stdin: the password is in no command line and never printed.
  const robot = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: SOURCE_SECRET, namespace: SOURCE_NAMESPACE },
    type: 'kubernetes.io/basic-auth',
    stringData: { username: 'robot$demo+pull', password: randomBytes(24).toString('base64url') },
  };
  say(
    `  $ kubectl apply -f -    # Secret ${SOURCE_SECRET}: username ${robot.stringData.username}, a random password ` +
      `(not shown)`,
  );
  say(indent(await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(robot) })));
  await show(['get', 'secret', SOURCE_SECRET, '-n', SOURCE_NAMESPACE]);

  step(`Namespaces: ${SELECTED.join(', ')} labelled regcred-demo=true, ${UNSELECTED} not`);
  for (const ns of SELECTED) await createNamespace(state, ns, DEMO_LABEL);
  await createNamespace(state, UNSELECTED, {});
  await show(['get', 'namespaces', ...SELECTED, UNSELECTED, '-L', 'regcred-demo']);

  step(`Apply ${EXAMPLE}`);
  state.credentialCreated = true;
  const applied = (await show(['apply', '-f', EXAMPLE])).trim();
  if (applied !== `registrycredential.regcred.io/${CREDENTIAL} created`) {
    throw new DemoError(`expected ${EXAMPLE} to create RegistryCredential ${CREDENTIAL}, kubectl said: ${applied}`);
  }
}

async function startOperator(state: State): Promise<void> {
  step('Run the operator: node dist/main.js');
  await mkdir(LOG_DIR, { recursive: true });
  const logPath = path.join(LOG_DIR, 'operator.log');
  await rm(logPath, { force: true });
  const [metricsPort, healthPort] = await freePorts(2);
  const args = [
    OPERATOR_MAIN,
    '--source-namespace',
    SOURCE_NAMESPACE,
    '--kubeconfig',
    kube!.kubeconfig,
    '--metrics-bind-address',
    `127.0.0.1:${metricsPort}`,
    '--health-probe-bind-address',
    `127.0.0.1:${healthPort}`,
  ];
  say(`  $ node dist/main.js --source-namespace ${SOURCE_NAMESPACE} --kubeconfig <kubeconfig> \\`);
  say(`      --metrics-bind-address 127.0.0.1:${metricsPort} --health-probe-bind-address 127.0.0.1:${healthPort}`);
  const pid = await spawnLogged(process.execPath, args, logPath);
  state.operator = { pid, logPath };
  say(`  pid ${pid}, log ${logPath}`);
  await waitForProcess(pid, logPath, 'the operator to report /readyz OK', WAIT_MS, async () => {
    interruption.throwIfAborted();
    return (await httpGet(`http://127.0.0.1:${healthPort}/readyz`).catch(() => ({ status: 0 }))).status === 200;
  });
  say(`  ready: http://127.0.0.1:${healthPort}/readyz, metrics at http://127.0.0.1:${metricsPort}/metrics`);
}

/** Poll `probe` while the operator runs; fails at once if it exits, with the end of its log. */
async function whileOperatorRuns<T>(
  state: State,
  what: string,
  probe: () => Promise<T | undefined | false>,
  last: () => string = () => '',
): Promise<T> {
  const op = state.operator!;
  let value: T | undefined;
  try {
    await waitForProcess(op.pid, op.logPath, what, WAIT_MS, async () => {
      if (interruption.aborted) throw new StopWaiting((interruption.reason as Error).message);
      value = (await probe()) || undefined;
      return value !== undefined;
    });
  } catch (err) {
    // "timed out ... \n--- last lines of the log ---\n...": what was last seen goes before the log.
    const [first, ...logTail] = (err as Error).message.split('\n');
    const seen = last();
    throw new DemoError([first, ...(seen ? [`last seen: ${seen}`] : []), ...logTail].join('\n'));
  }
  return value!;
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

async function readyCondition(): Promise<Condition | undefined> {
  const out = await kubectlOk(['get', 'registrycredential', CREDENTIAL, '-o', 'jsonpath={.status.conditions}']);
  return out.trim() ? (JSON.parse(out) as Condition[]).find((c) => c.type === 'Ready') : undefined;
}

async function pullSecretsOf(ns: string, sa = 'default'): Promise<string[] | undefined> {
  const res = await kubectl(['get', 'serviceaccount', sa, '-n', ns, '-o', 'jsonpath={.imagePullSecrets}']);
  if (res.code !== 0) return undefined; // not created yet by kube-controller-manager
  return res.stdout.trim() ? (JSON.parse(res.stdout) as Array<{ name: string }>).map((r) => r.name) : [];
}

async function managedSecretsIn(ns?: string): Promise<string[]> {
  const where = ns ? ['-n', ns] : ['-A'];
  return (await kubectlOk(['get', 'secrets', ...where, '-l', MANAGED, '-o', 'name'])).split('\n').filter(Boolean);
}

/** The registries of a managed pull Secret, read without printing any credential. */
async function describePullSecret(ns: string): Promise<string> {
  const secret = JSON.parse(await kubectlOk(['get', 'secret', PULL_SECRET, '-n', ns, '-o', 'json'])) as {
    type: string;
    data?: Record<string, string>;
  };
  const raw = secret.data?.['.dockerconfigjson'];
  const auths = raw
    ? ((JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as { auths?: Record<string, Record<string, unknown>> })
        .auths ?? {})
    : {};
  const servers = Object.entries(auths).map(
    ([server, entry]) => `${server} (${Object.keys(entry).sort().join(', ')}: not shown)`,
  );
  return `${ns}/${PULL_SECRET}: type ${secret.type}, registries ${servers.join('; ') || 'none'}`;
}

async function demonstrate(state: State): Promise<void> {
  step(`Wait for RegistryCredential ${CREDENTIAL} to be Ready`);
  let last: Condition | undefined;
  await whileOperatorRuns(
    state,
    `RegistryCredential ${CREDENTIAL} condition Ready=True`,
    async () => {
      last = await readyCondition();
      return last?.status === 'True';
    },
    () => (last ? `Ready=${last.status} reason ${last.reason ?? ''}: ${last.message ?? ''}` : 'no Ready condition yet'),
  );
  for (const ns of SELECTED) {
    await whileOperatorRuns(state, `ServiceAccount ${ns}/default to list ${PULL_SECRET}`, async () =>
      (await pullSecretsOf(ns))?.includes(PULL_SECRET),
    );
  }
  await show(['get', 'registrycredentials']);

  step('The pull Secrets the operator manages (values are never printed)');
  await show(['get', 'secrets', '-A', '-l', MANAGED]);
  for (const ns of SELECTED) say(`  ${await describePullSecret(ns)}`);

  step('The default ServiceAccount of each namespace');
  for (const ns of [...SELECTED, UNSELECTED]) {
    await show(
      ['get', 'serviceaccount', 'default', '-n', ns, '-o', 'jsonpath={.imagePullSecrets}'],
      '(no imagePullSecrets)',
    );
  }
  if ((await managedSecretsIn(UNSELECTED)).length > 0)
    throw new DemoError(`the unlabelled namespace ${UNSELECTED} got a pull Secret`);

  step(`A namespace created while the operator runs: ${LATE}`);
  const t0 = Date.now();
  await createNamespace(state, LATE, DEMO_LABEL);
  await whileOperatorRuns(
    state,
    `Secret ${LATE}/${PULL_SECRET}`,
    async () => (await managedSecretsIn(LATE)).length > 0,
  );
  await whileOperatorRuns(state, `ServiceAccount ${LATE}/default to list ${PULL_SECRET}`, async () =>
    (await pullSecretsOf(LATE))?.includes(PULL_SECRET),
  );
  say(
    `  Secret created and added to the default ServiceAccount ${((Date.now() - t0) / 1000).toFixed(1)} s after the ` +
      `namespace`,
  );
  await show(['get', 'secrets', '-n', LATE, '-l', MANAGED]);
  await show(
    ['get', 'serviceaccount', 'default', '-n', LATE, '-o', 'jsonpath={.imagePullSecrets}'],
    '(no imagePullSecrets)',
  );
  await whileOperatorRuns(
    state,
    `status 3/3`,
    async () =>
      (
        await kubectlOk(['get', 'registrycredential', CREDENTIAL, '-o', 'jsonpath={.status.namespaceSummary}'])
      ).trim() === '3/3',
  );
  await show(['get', 'registrycredentials']);
}

/**
 * The ImagePullBackOff story on the real node: a Pod of an image in a private registry fails with
 * 401; a RegistryCredential for that registry is applied; the recreated Pod pulls and runs.
 */
async function podStory(state: State): Promise<void> {
  if (!state.node) {
    step('A Pod pulling through a real kubelet: skipped');
    say(
      state.cp
        ? `  this machine cannot run a node: ${state.noNode}`
        : '  only on the local throwaway cluster (KUBECONFIG is set)',
    );
    return;
  }
  const node = state.node.env;
  step("A private registry on this machine (TLS, htpasswd), trusted by the node's containerd");
  const robot = { username: 'demo-robot', password: randomBytes(18).toString('base64url') };
  state.registry = await startRegistry({ users: [robot] });
  await trustRegistry(node, state.registry.host, state.registry.caFile);
  const image = await state.registry.push(await appImageLayout('demo/hello', node), '1', 'demo/hello:1');
  say(`  ${state.registry.host}, image ${image}, user ${robot.username} (password not shown)`);

  step(`A Pod of ${image} in namespace ${NODE_NAMESPACE}, before any credential`);
  await createNamespace(state, NODE_NAMESPACE, NODE_LABEL);
  await waitFor(async () => (await kubectl(['get', 'serviceaccount', 'default', '-n', NODE_NAMESPACE])).code === 0, {
    timeoutMs: WAIT_MS,
    what: 'the default ServiceAccount',
  });
  await createPod(image);
  await whileOperatorRuns(state, 'the Pod to fail with 401', async () =>
    /401 Unauthorized/.test(
      await kubectlOk([
        'get',
        'events',
        '-n',
        NODE_NAMESPACE,
        '--field-selector',
        'involvedObject.name=hello,reason=Failed',
        '-o',
        'jsonpath={.items[*].message}',
      ]),
    ),
  );
  await whileOperatorRuns(
    state,
    'ImagePullBackOff',
    async () =>
      (
        await kubectlOk([
          'get',
          'pod',
          'hello',
          '-n',
          NODE_NAMESPACE,
          '-o',
          'jsonpath={.status.containerStatuses[0].state.waiting.reason}',
        ])
      ).trim() === 'ImagePullBackOff',
  );
  await show(['get', 'pods', '-n', NODE_NAMESPACE]);
  await show([
    'get',
    'events',
    '-n',
    NODE_NAMESPACE,
    '--field-selector',
    'reason=Failed',
    '-o',
    'custom-columns=REASON:.reason,MESSAGE:.message',
  ]);

  step(`RegistryCredential ${NODE_CREDENTIAL} for ${state.registry.host}`);
  const source = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: NODE_SOURCE_SECRET, namespace: SOURCE_NAMESPACE },
    type: 'kubernetes.io/basic-auth',
    stringData: robot,
  };
  say(
    `  $ kubectl apply -f -    # Secret ${SOURCE_NAMESPACE}/${NODE_SOURCE_SECRET}: username ${robot.username}, ` +
      `password not shown`,
  );
  say(indent(await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(source) })));
  // The registry's self-signed CA, so that the operator can verify the credential against it.
  const caSecret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: NODE_CA_SECRET, namespace: SOURCE_NAMESPACE },
    stringData: { 'ca.crt': await readFile(state.registry.caFile, 'utf8') },
  };
  say(`  $ kubectl apply -f -    # Secret ${SOURCE_NAMESPACE}/${NODE_CA_SECRET}: the registry's CA as ca.crt`);
  say(indent(await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(caSecret) })));
  const credential = {
    apiVersion: 'regcred.io/v1alpha1',
    kind: 'RegistryCredential',
    metadata: { name: NODE_CREDENTIAL },
    spec: {
      registries: [
        {
          server: state.registry.host,
          basicAuth: { secretName: NODE_SOURCE_SECRET },
          verify: { caSecretName: NODE_CA_SECRET, repository: 'demo/hello' },
        },
      ],
      secretName: NODE_PULL_SECRET,
      namespaceSelector: { matchLabels: NODE_LABEL },
    },
  };
  say(`  $ kubectl apply -f -    # ${JSON.stringify(credential.spec)}`);
  state.nodeCredentialCreated = true;
  say(indent(await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(credential) })));
  await whileOperatorRuns(state, `ServiceAccount ${NODE_NAMESPACE}/default to list ${NODE_PULL_SECRET}`, async () =>
    (await pullSecretsOf(NODE_NAMESPACE))?.includes(NODE_PULL_SECRET),
  );
  await show(['get', 'serviceaccount', 'default', '-n', NODE_NAMESPACE, '-o', 'jsonpath={.imagePullSecrets}']);
  say('  The operator checked the credential against the registry itself (Docker Registry v2 handshake):');
  await whileOperatorRuns(
    state,
    `RegistryCredential ${NODE_CREDENTIAL} condition CredentialsVerified=True`,
    async () =>
      (
        await kubectlOk([
          'get',
          'registrycredential',
          NODE_CREDENTIAL,
          '-o',
          'jsonpath={.status.conditions[?(@.type=="CredentialsVerified")].status}',
        ])
      ).trim() === 'True',
  );
  await show(['get', 'registrycredential', NODE_CREDENTIAL, '-o', 'wide']);
  await show(['get', 'registrycredential', NODE_CREDENTIAL, '-o', 'jsonpath={.status.registries}']);
  say(
    "  The Pod made before that still lacks the Secret (a Pod gets its ServiceAccount's pull secrets when it is " +
      'created):',
  );
  await show(
    ['get', 'pod', 'hello', '-n', NODE_NAMESPACE, '-o', 'jsonpath={.spec.imagePullSecrets}'],
    '(no imagePullSecrets)',
  );

  step('Recreate the Pod: it gets the Secret from its ServiceAccount, pulls and runs');
  await kubectlOk(['delete', 'pod', 'hello', '-n', NODE_NAMESPACE, '--wait=true', '--timeout=60s']);
  await createPod(image);
  await whileOperatorRuns(
    state,
    'the Pod to run',
    async () =>
      (await kubectlOk(['get', 'pod', 'hello', '-n', NODE_NAMESPACE, '-o', 'jsonpath={.status.phase}'])).trim() ===
      'Running',
  );
  await show(['get', 'pods', '-n', NODE_NAMESPACE, '-o', 'wide']);
  await show([
    'get',
    'events',
    '-n',
    NODE_NAMESPACE,
    '--field-selector',
    'involvedObject.name=hello,reason=Pulled',
    '-o',
    'custom-columns=REASON:.reason,MESSAGE:.message',
  ]);
  await whileOperatorRuns(state, "the Pod's output", async () =>
    /pulled and running/.test((await kubectl(['logs', 'hello', '-n', NODE_NAMESPACE])).stdout),
  );
  await show(['logs', 'hello', '-n', NODE_NAMESPACE]);
}

async function createPod(image: string): Promise<void> {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'hello', namespace: NODE_NAMESPACE },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'hello', image, imagePullPolicy: 'Always' }] },
  };
  say(`  $ kubectl apply -f -    # Pod hello: image ${image}, ServiceAccount default`);
  say(indent(await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(pod) })));
}

// ---------------------------------------------------------------------------------------------
// Cleanup: every step runs, errors are collected; on success it is part of the show.
// ---------------------------------------------------------------------------------------------

async function cleanUp(state: State, demoFailed: boolean): Promise<string[]> {
  const errors: string[] = [];
  const attempt = async (what: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      errors.push(`${what}: ${(err as Error).message}`);
      process.stderr.write(`[demo] cleanup: ${what} failed: ${(err as Error).message}\n`);
    }
  };
  // After Ctrl-C the terminal's SIGINT also stopped the local control plane: nothing to clean in it.
  const clusterGone = state.cp !== undefined && interruption.aborted;

  if (kube && state.nodeCredentialCreated && !clusterGone) {
    await attempt(`delete RegistryCredential ${NODE_CREDENTIAL}`, async () => {
      await kubectlOk(['delete', 'registrycredential', NODE_CREDENTIAL, '--ignore-not-found', '--wait=false']);
      const op = state.operator;
      if (!op || !isAlive(op.pid)) throw new DemoError('the operator is not running');
      await waitForProcess(
        op.pid,
        op.logPath,
        `RegistryCredential ${NODE_CREDENTIAL} to be gone`,
        WAIT_MS,
        async () =>
          !(await kubectlOk(['get', 'registrycredential', NODE_CREDENTIAL, '-o', 'name', '--ignore-not-found'])).trim(),
      );
    });
  }
  if (kube && state.credentialCreated && !clusterGone) {
    say(
      `\n==> Clean up: delete RegistryCredential ${CREDENTIAL}; its finalizer makes the operator remove the Secrets  ` +
        `[${elapsed()}]`,
    );
    await attempt(`delete RegistryCredential ${CREDENTIAL}`, async () => {
      const res = await kubectl(['delete', 'registrycredential', CREDENTIAL, '--ignore-not-found', '--wait=false']);
      say(`  $ kubectl delete registrycredential ${CREDENTIAL}\n${indent(res.stdout || res.stderr)}`);
      if (res.code !== 0) throw new DemoError(res.stderr.trim());
      const gone = async (): Promise<boolean> =>
        !(await kubectlOk(['get', 'registrycredential', CREDENTIAL, '-o', 'name', '--ignore-not-found'])).trim();
      const op = state.operator;
      try {
        if (!op || !isAlive(op.pid)) throw new DemoError('the operator is not running');
        await waitForProcess(op.pid, op.logPath, `RegistryCredential ${CREDENTIAL} to be gone`, WAIT_MS, gone);
        say(`  gone: the operator removed its Secrets, then its finalizer`);
      } catch (err) {
        // Do not leave an undeletable object behind: drop the finalizer ourselves, then the
        // Secrets' ownerReferences let the garbage collector delete them.
        await kubectl([
          'patch',
          'registrycredential',
          CREDENTIAL,
          '--type=merge',
          '-p',
          '{"metadata":{"finalizers":null}}',
        ]);
        throw err;
      }
    });
    if (!demoFailed) {
      await attempt('check that the Secrets are gone', async () => {
        await show(['get', 'secrets', '-A', '-l', MANAGED]);
        const left = await managedSecretsIn();
        if (left.length > 0) throw new DemoError(`Secrets left behind: ${left.join(', ')}`);
        for (const ns of [...SELECTED, LATE]) {
          await show(
            ['get', 'serviceaccount', 'default', '-n', ns, '-o', 'jsonpath={.imagePullSecrets}'],
            '(no imagePullSecrets)',
          );
        }
      });
    }
  }

  if (state.operator) {
    const { pid, logPath } = state.operator;
    say(`\n==> Clean up: stop the operator (SIGTERM)  [${elapsed()}]`);
    await attempt('stop the operator', async () => {
      await stopPid(pid, process.execPath, 30_000);
      const tail = (await tailFile(logPath, 400)).split('\n');
      const shutdown = tail.some((l) => l.includes('shutting down'));
      say(`  pid ${pid} exited${shutdown ? ' after a graceful shutdown' : ''}; log ${logPath}`);
    });
  }

  if (kube && state.namespaces.length > 0 && !clusterGone) {
    const local = state.cp !== undefined;
    say(`\n==> Clean up: delete the demo namespaces  [${elapsed()}]`);
    await attempt('delete the demo namespaces', async () => {
      // On a real cluster, wait so that the next run starts clean; the local one is thrown away next.
      await show(
        [
          'delete',
          'namespace',
          '--ignore-not-found',
          ...(local ? ['--wait=false'] : ['--timeout=120s']),
          ...state.namespaces,
        ],
        '',
      );
    });
  }

  if (state.registry) await attempt('stop the registry', () => state.registry!.stop());
  if (state.node) {
    say(
      `\n==> Clean up: stop the node (Pods drained; containerd, kubelet, bridge, rules and mounts removed)  ` +
        `[${elapsed()}]`,
    );
    await attempt('stop the node', () => state.node!.stop());
  }
  if (state.cp) {
    say(`\n==> Clean up: stop the local control plane  [${elapsed()}]`);
    await attempt('stop the local control plane', async () => {
      await state.cp!.stop();
      const kept = process.env.REGCRED_KEEP_TEST_DIRS === '1';
      say(`  stopped; ${kept ? `kept ${state.cp!.dir}` : `removed ${state.cp!.dir}`}`);
    });
  }
  if (state.workDir) await rm(state.workDir, { recursive: true, force: true }).catch(() => undefined);
  return errors;
}

/** Create a namespace with its labels in one request, showing the manifest. */
async function createNamespace(state: State, name: string, labels: Record<string, string>): Promise<void> {
  const manifest = JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  state.namespaces.push(name);
  say(`  $ echo '${manifest}' | kubectl create -f -`);
  say(indent(await kubectlOk(['create', '-f', '-'], { input: manifest })));
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const state: State = { namespaces: [], credentialCreated: false };
  let failure: Error | undefined;
  try {
    await Promise.race([
      (async () => {
        await connect(state);
        await setUp(state);
        await startOperator(state);
        await demonstrate(state);
        await podStory(state);
      })(),
      interrupted,
    ]);
  } catch (err) {
    failure = err instanceof Error ? err : new Error(String(err));
    process.stderr.write(`\n[demo] FAILED after ${elapsed()}: ${failure.message}\n`);
    if (state.operator) process.stderr.write(`[demo] operator log: ${state.operator.logPath}\n`);
  } finally {
    const errors = await cleanUp(state, failure !== undefined);
    if (errors.length > 0 && !failure) {
      failure = new DemoError(`cleanup failed:\n  ${errors.join('\n  ')}`);
      process.stderr.write(`\n[demo] FAILED: ${failure.message}\n`);
    }
  }
  if (failure) return interruption.aborted ? 130 : 1;
  say(`\n==> Demo finished in ${elapsed()}; the operator's log is in ${state.operator?.logPath ?? LOG_DIR}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`[demo] ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
