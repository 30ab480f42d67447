// A real Kubernetes control plane on loopback for the integration tests: etcd, kube-apiserver and
// (optionally) kube-controller-manager, started from binaries that hack/build-controlplane.sh
// builds, with an openssl-made PKI and client-certificate authentication (CN = user, O = groups).
//
// All the state a test needs (ports, pids, apiserver flags, PKI) lives in files in the work dir, not
// only in the in-memory ControlPlane object: jest's globalSetup runs in a different JS context than
// the test files, so tests reach the shared control plane through testEnv() and the functions below
// that take a TestEnv (kubeconfigFor, kubectl, restartApiServer).

import { spawn } from 'node:child_process';
import { constants as fsConstants, readFileSync } from 'node:fs';
import { access, mkdir, mkdtemp, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes, createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeletDeliveryEnv } from './kubelet-node.js';
import { StopWaiting, waitFor } from './wait.js';

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

declare global {
  /** The shared control plane, from jest globalSetup to globalTeardown (same JS context). */
  var __REGCRED_CP__: ControlPlane | undefined;
}

/** What a test file needs to reach the shared control plane (the JSON behind REGCRED_TEST_ENV). */
export interface TestEnv {
  server: string;
  adminKubeconfig: string;
  auditLogPath: string;
  dir: string;
  binDir: string;
  /** The real node (kubelet + containerd) of the e2e suite, when one runs (test/harness/node.ts). */
  node?: NodeEnv;
}

/** What a test needs to reach the e2e suite's node (see test/harness/node.ts). */
export interface NodeEnv {
  /** The Node object's name. */
  name: string;
  /** Work dir of the node: containerd, kubelet, CNI state, logs. */
  dir: string;
  /** containerd's gRPC socket (for `ctr --address`). */
  containerdAddress: string;
  /** containerd's registry hosts dir (config_path): one dir per host with hosts.toml and ca.crt. */
  registryHostsDir: string;
  /** The Pod network's gateway on the host (the bridge address): Pods reach the host here. */
  gateway: string;
  /** The Pod network (CIDR). */
  podSubnet: string;
  /** The node's image credential provider, when it was started with kubelet delivery (kubelet-node.ts). */
  kubeletDelivery?: KubeletDeliveryEnv;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  /** Defaults to the admin kubeconfig (user test-admin, group system:masters). */
  kubeconfig?: string;
  /** Written to kubectl's stdin (e.g. a manifest for `apply -f -`). */
  input?: string;
}

export interface ControlPlane {
  /** Work dir (temp): PKI, etcd data, logs, kubeconfigs. */
  dir: string;
  /** https://127.0.0.1:PORT */
  server: string;
  binDir: string;
  /** Path of a kubeconfig for user test-admin in group system:masters. */
  adminKubeconfig: string;
  /** kube-apiserver audit log, JSON lines, level Metadata for every request. */
  auditLogPath: string;
  /** The same facts as a TestEnv (what global-setup writes for the test files). */
  env: TestEnv;
  /** Issue a client cert (CN=user, O=groups) signed by the cluster CA; returns a kubeconfig path. */
  kubeconfigFor(user: string, groups?: string[]): Promise<string>;
  /** Run kubectl (admin kubeconfig by default). Never throws on a non-zero exit. */
  kubectl(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  /** SIGTERM kube-apiserver, wait for it to exit, start it again with the same flags, wait for /readyz. */
  restartApiServer(): Promise<void>;
  /** The pids of its processes now (state.json; kube-apiserver's changes when it is restarted). */
  pids(): Promise<CpState['pids']>;
  /** Kill everything, wait for exit, remove dir unless REGCRED_KEEP_TEST_DIRS=1. */
  stop(): Promise<void>;
}

export interface StartControlPlaneOptions {
  /** Work dir; a fresh temp dir by default. */
  dir?: string;
  /** Start kube-controller-manager (default SAs, SA tokens, namespace deletion, GC). Default true. */
  withControllerManager?: boolean;
  /** Dir holding etcd / kube-apiserver / kube-controller-manager; ensureControlPlaneBinaries() by default. */
  binDir?: string;
  /**
   * Start the control plane so that a real kubelet can join it (the e2e suite, test/harness/node.ts):
   * the API server also listens on the Pod network's gateway (it binds 0.0.0.0; Pods cannot reach
   * loopback), authorizes kubelets with the Node authorizer and NodeRestriction, reaches them with a
   * client certificate (kubectl logs/exec); kube-controller-manager also runs the controllers Pods
   * of Deployments, StatefulSets, DaemonSets and Jobs need, node lifecycle (it lifts the new node's
   * not-ready taint) and disruption (PodDisruptionBudget status); kube-scheduler places Pods.
   * Issues the node's client certificate (CN system:node:NAME) as PKI/kubelet.{crt,key}.
   */
  forNode?: { nodeName: string };
  /**
   * kube-controller-manager's client rate (--kube-api-qps; burst twice that). Its default, 20 per
   * second per controller, makes the `default` ServiceAccount of thousands of new namespaces take
   * minutes (the benchmark's setup raises it).
   */
  controllerManagerQps?: number;
}

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const BUILD_SCRIPT = path.join(REPO_ROOT, 'hack', 'build-controlplane.sh');

/**
 * Run hack/build-controlplane.sh (a no-op apart from a version print when the binaries are cached;
 * a cold build takes tens of minutes, its progress goes to our stderr) and return the bin dir it
 * prints on its last stdout line.
 */
export async function ensureControlPlaneBinaries(): Promise<string> {
  const child = spawn('bash', [BUILD_SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => (stdout += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`${BUILD_SCRIPT} failed with exit code ${code}`);
  const binDir = stdout.trim().split('\n').pop()?.trim() ?? '';
  for (const bin of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kubectl']) {
    if (!(await isExecutable(path.join(binDir, bin)))) {
      throw new Error(`${BUILD_SCRIPT} printed "${binDir}", which has no executable ${bin}`);
    }
  }
  return binDir;
}

/** Start etcd + kube-apiserver (+ kube-controller-manager) on loopback and wait until usable. */
export async function startControlPlane(opts: StartControlPlaneOptions = {}): Promise<ControlPlane> {
  const withKcm = opts.withControllerManager ?? true;
  const binDir = opts.binDir ?? (await ensureControlPlaneBinaries());
  const dir = opts.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'regcred-cp-')));
  await mkdir(dir, { recursive: true });
  const [etcdPort, peerPort, apiPort, kcmPort, schedulerPort] = await freePorts(5);
  const server = `https://127.0.0.1:${apiPort}`;
  const env = envForDir(dir, server, binDir);
  const pki = pkiPaths(dir);

  const state: CpState = { dir, binDir, server, pids: {}, apiserverArgs: [] };
  const forNode = opts.forNode;
  try {
    await generatePki(dir);
    if (forNode) {
      await Promise.all([
        issueClientCert(pki, path.join(pki.dir, 'kubelet'), `system:node:${forNode.nodeName}`, ['system:nodes']),
        issueClientCert(pki, path.join(pki.dir, 'apiserver-kubelet-client'), 'kube-apiserver-kubelet-client', [
          'system:masters',
        ]),
      ]);
    }
    await writeKubeconfig(env.adminKubeconfig, server, pki.ca, pki.adminCrt, pki.adminKey, 'test-admin');

    // --- etcd ------------------------------------------------------------------------------
    const etcdBin = path.join(binDir, 'etcd');
    const etcdLog = path.join(dir, 'etcd.log');
    state.pids.etcd = await spawnLogged(
      etcdBin,
      [
        '--name=default',
        `--data-dir=${path.join(dir, 'etcd-data')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
        '--log-level=warn',
        // Test data is throw-away: skipping fsync makes every write much cheaper (envtest does the same).
        '--unsafe-no-fsync=true',
      ],
      etcdLog,
    );
    await writeState(state);
    await waitForProcess(state.pids.etcd, etcdLog, 'etcd /health', 30_000, async () => {
      const res = await httpGet(`http://127.0.0.1:${etcdPort}/health`);
      return res.status === 200 && /"health":\s*"true"/.test(res.body);
    });

    // --- kube-apiserver ----------------------------------------------------------------------
    const auditPolicy = path.join(dir, 'audit-policy.yaml');
    await writeFile(auditPolicy, AUDIT_POLICY);
    state.apiserverArgs = [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      `--bind-address=${forNode ? '0.0.0.0' : '127.0.0.1'}`,
      `--secure-port=${apiPort}`,
      // No default route on the test machines: advertise loopback, and do not let the apiserver try
      // to write loopback IPs into the `kubernetes` Endpoints (they are invalid there).
      '--advertise-address=127.0.0.1',
      '--endpoint-reconciler-type=none',
      `--cert-dir=${pki.dir}`,
      `--tls-cert-file=${pki.apiserverCrt}`,
      `--tls-private-key-file=${pki.apiserverKey}`,
      `--client-ca-file=${pki.ca}`,
      ...(forNode
        ? [
            '--authorization-mode=Node,RBAC',
            '--enable-admission-plugins=NodeRestriction',
            `--kubelet-client-certificate=${path.join(pki.dir, 'apiserver-kubelet-client.crt')}`,
            `--kubelet-client-key=${path.join(pki.dir, 'apiserver-kubelet-client.key')}`,
            '--kubelet-preferred-address-types=InternalIP,Hostname',
          ]
        : ['--authorization-mode=RBAC']),
      `--service-account-issuer=${server}/`,
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      `--audit-policy-file=${auditPolicy}`,
      `--audit-log-path=${env.auditLogPath}`,
      '--audit-log-format=json',
      // blocking: each event is written synchronously while its request is handled, instead of
      // being buffered for seconds as in batch mode; a test can read it right after the request
      // (polling briefly with waitFor to be safe).
      '--audit-log-mode=blocking',
      '--audit-log-maxsize=0',
      // On SIGTERM, drain in-flight requests, then give open connections (kcm's and the operator's
      // watches) only 2 s to close: with the default, http.Server.Shutdown waits up to
      // --request-timeout (60 s) for long-running watch connections, which made a restart take ~35 s.
      '--shutdown-send-retry-after=true',
    ];
    // Without a serviceaccount controller nobody creates `default` SAs and the ServiceAccount
    // admission plugin would reject every Pod (envtest disables it); with kcm keep it on, it is
    // also what merges a ServiceAccount's imagePullSecrets into Pods.
    if (!withKcm) state.apiserverArgs.push('--disable-admission-plugins=ServiceAccount');
    state.pids.apiserver = await startApiServer(state);
    await writeState(state);
    await waitForProcess(state.pids.apiserver, apiserverLog(dir), 'namespace default', 30_000, async () => {
      const res = await adminGet(env, '/api/v1/namespaces/default');
      return res.status === 200;
    });

    // --- kube-controller-manager (only the controllers the tests rely on) --------------------
    if (withKcm) {
      const kcmLog = path.join(dir, 'kube-controller-manager.log');
      state.pids.kcm = await spawnLogged(
        path.join(binDir, 'kube-controller-manager'),
        [
          `--kubeconfig=${env.adminKubeconfig}`,
          `--authentication-kubeconfig=${env.adminKubeconfig}`,
          `--authorization-kubeconfig=${env.adminKubeconfig}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${kcmPort}`,
          `--cert-dir=${path.join(dir, 'kcm-certs')}`,
          '--leader-elect=false',
          `--controllers=${[...KCM_CONTROLLERS, ...(forNode ? KCM_NODE_CONTROLLERS : [])].join(',')}`,
          `--service-account-private-key-file=${pki.saKey}`,
          `--root-ca-file=${pki.ca}`,
          '--use-service-account-credentials=false',
          ...(opts.controllerManagerQps
            ? [`--kube-api-qps=${opts.controllerManagerQps}`, `--kube-api-burst=${2 * opts.controllerManagerQps}`]
            : []),
        ],
        kcmLog,
      );
      await writeState(state);
      await waitForProcess(state.pids.kcm, kcmLog, 'kube-controller-manager /healthz', 60_000, async () => {
        const res = await httpGet(`https://127.0.0.1:${kcmPort}/healthz`, { rejectUnauthorized: false });
        return res.status === 200;
      });
      await waitForProcess(state.pids.kcm, kcmLog, 'ServiceAccount default/default', 60_000, async () => {
        const res = await adminGet(env, '/api/v1/namespaces/default/serviceaccounts/default');
        return res.status === 200;
      });
    }

    // --- kube-scheduler (only with a node to schedule onto) ------------------------------------
    if (forNode) {
      const schedulerLog = path.join(dir, 'kube-scheduler.log');
      state.pids.scheduler = await spawnLogged(
        path.join(binDir, 'kube-scheduler'),
        [
          `--kubeconfig=${env.adminKubeconfig}`,
          `--authentication-kubeconfig=${env.adminKubeconfig}`,
          `--authorization-kubeconfig=${env.adminKubeconfig}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${schedulerPort}`,
          '--leader-elect=false',
        ],
        schedulerLog,
      );
      await writeState(state);
      await waitForProcess(state.pids.scheduler, schedulerLog, 'kube-scheduler /healthz', 60_000, async () => {
        const res = await httpGet(`https://127.0.0.1:${schedulerPort}/healthz`, { rejectUnauthorized: false });
        return res.status === 200;
      });
    }
  } catch (err) {
    await stopControlPlane(env).catch(() => undefined);
    const keep = keepDirs() ? ` (kept: ${dir})` : ' (set REGCRED_KEEP_TEST_DIRS=1 to keep the work dir)';
    throw new Error(`control plane failed to start${keep}: ${errorText(err)}`);
  }

  return {
    dir,
    server,
    binDir,
    adminKubeconfig: env.adminKubeconfig,
    auditLogPath: env.auditLogPath,
    env,
    kubeconfigFor: (user, groups) => kubeconfigFor(user, groups, env),
    kubectl: (args, kubectlOpts) => kubectl(args, kubectlOpts, env),
    restartApiServer: () => restartApiServer(env),
    pids: async () => (await readState(dir)).pids,
    stop: () => stopControlPlane(env),
  };
}

/** The shared control plane's TestEnv, from the file global-setup names in REGCRED_TEST_ENV. */
export function testEnv(): TestEnv {
  const file = process.env.REGCRED_TEST_ENV;
  if (!file) {
    throw new Error('REGCRED_TEST_ENV is not set: run integration tests through jest --selectProjects integration');
  }
  return JSON.parse(readFileSync(file, 'utf8')) as TestEnv;
}

/**
 * Issue a client certificate for `user` (CN) in `groups` (O), signed by the cluster CA, and return
 * the path of a kubeconfig using it. The same user+groups gets the same file back.
 */
export async function kubeconfigFor(user: string, groups: string[] = [], env: TestEnv = testEnv()): Promise<string> {
  const pki = pkiPaths(env.dir);
  const usersDir = path.join(env.dir, 'users');
  await mkdir(usersDir, { recursive: true });
  const id = createHash('sha256')
    .update(JSON.stringify([user, [...groups].sort()]))
    .digest('hex')
    .slice(0, 12);
  const base = path.join(usersDir, `${user.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 60)}-${id}`);
  const kubeconfig = `${base}.kubeconfig`;
  if (await exists(kubeconfig)) return kubeconfig;
  await issueClientCert(pki, base, user, groups);
  await writeKubeconfig(kubeconfig, env.server, pki.ca, `${base}.crt`, `${base}.key`, user);
  return kubeconfig;
}

/** Run kubectl against the control plane. Resolves with the exit code; never throws on failure. */
export async function kubectl(
  args: string[],
  opts: KubectlOptions = {},
  env: TestEnv = testEnv(),
): Promise<KubectlResult> {
  // The kubectl built with the control plane (same version), never the machine's (its skew is unknown).
  const bin = path.join(env.binDir, 'kubectl');
  const fullArgs = [`--kubeconfig=${opts.kubeconfig ?? env.adminKubeconfig}`, ...args];
  // A private discovery cache: the default (~/.kube/cache) is keyed by host:port, and ports are reused.
  return run(bin, fullArgs, {
    input: opts.input,
    env: { ...process.env, KUBECACHEDIR: path.join(env.dir, 'kube-cache') },
    timeoutMs: 120_000,
  });
}

/** Stop kube-apiserver (SIGTERM, wait for exit) and start it again on the same port and etcd. */
export async function restartApiServer(env: TestEnv = testEnv()): Promise<void> {
  const state = await readState(env.dir);
  if (state.pids.apiserver !== undefined) {
    await stopPid(state.pids.apiserver, path.join(state.binDir, 'kube-apiserver'));
  }
  state.pids.apiserver = await startApiServer(state);
  await writeState(state);
}

// ---------------------------------------------------------------------------------------------
// Processes (exported for registry.ts)
// ---------------------------------------------------------------------------------------------

/** Pids this JS context started and has not seen exit: SIGKILLed when the process exits. */
const liveChildren = new Set<number>();
let exitHandlerInstalled = false;

function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.once('exit', () => {
    for (const pid of liveChildren) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

let setprivPath: string | null | undefined;

/**
 * Start `bin args` with stdout+stderr appended to `logPath`; resolves with its pid once spawned.
 *
 * Children must not outlive the test run even when jest is SIGKILLed (an 'exit' handler does not run
 * then): where util-linux's setpriv is available the child is exec'd through
 * `setpriv --pdeathsig KILL`, so the kernel kills it when its parent dies. setpriv execs the binary,
 * so the pid is the binary's own.
 */
export async function spawnLogged(
  bin: string,
  args: string[],
  logPath: string,
  env?: NodeJS.ProcessEnv,
): Promise<number> {
  installExitHandler();
  if (setprivPath === undefined) setprivPath = await findOnPath('setpriv');
  const [cmd, cmdArgs] = setprivPath ? [setprivPath, ['--pdeathsig', 'KILL', '--', bin, ...args]] : [bin, args];
  const log = await open(logPath, 'a');
  try {
    await log.write(`--- ${new Date().toISOString()} ${bin} ${args.join(' ')}\n`);
    const child = spawn(cmd, cmdArgs, { stdio: ['ignore', log.fd, log.fd], env: env ?? process.env });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => resolve(child.pid as number));
    });
    liveChildren.add(pid);
    child.once('exit', () => liveChildren.delete(pid));
    // Do not let a leftover child keep jest's event loop alive; stop() / the exit handler end it.
    child.unref();
    return pid;
  } finally {
    await log.close();
  }
}

/** True while `pid` runs (a zombie counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/**
 * SIGTERM `pid`, wait for it to exit, SIGKILL it after `graceMs`. Only acts when the pid still runs
 * `bin` (pids come from state files and could in theory have been recycled).
 */
export async function stopPid(pid: number, bin: string, graceMs = 30_000): Promise<void> {
  if (!isAlive(pid) || !runsBinary(pid, bin)) return;
  signal(pid, 'SIGTERM');
  try {
    await waitFor(() => !isAlive(pid), {
      timeoutMs: graceMs,
      intervalMs: 50,
      what: `${path.basename(bin)} (pid ${pid}) to exit`,
    });
  } catch {
    signal(pid, 'SIGKILL');
    await waitFor(() => !isAlive(pid), {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: `${path.basename(bin)} (pid ${pid}) to die`,
    });
  }
  liveChildren.delete(pid);
}

/** The last `lines` lines of a log file ('' when unreadable). */
export async function tailFile(file: string, lines = 30): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Poll `probe` while process `pid` runs. Fails at once when the process exits, and on failure or
 * timeout throws an Error carrying the last 30 lines of its log.
 */
export async function waitForProcess(
  pid: number,
  logPath: string,
  what: string,
  timeoutMs: number,
  probe: () => Promise<boolean>,
): Promise<void> {
  try {
    await waitFor(
      async () => {
        if (!isAlive(pid)) throw new StopWaiting(`process ${pid} exited before ${what}`);
        return probe();
      },
      { timeoutMs, intervalMs: 200, what },
    );
  } catch (err) {
    throw new Error(`${errorText(err)}\n--- last lines of ${logPath} ---\n${await tailFile(logPath)}`);
  }
}

/** Free TCP ports on 127.0.0.1 (bound to port 0 together, so they are distinct, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const srv = net.createServer();
          srv.once('error', reject);
          srv.listen(0, '127.0.0.1', () => resolve(srv));
        }),
    ),
  );
  const ports = servers.map((srv) => (srv.address() as net.AddressInfo).port);
  await Promise.all(servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
  return ports;
}

export interface RunOptions {
  input?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** SIGKILL the command after this long; the result then has code 124. Default: no limit. */
  timeoutMs?: number;
}

/** Run a command to completion, capturing output. Never throws on a non-zero exit. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : undefined;
    child.once('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${err.message}`));
    });
    child.once('close', (code, sig) => {
      if (timer) clearTimeout(timer);
      if (timedOut) stderr += `\n[harness] ${cmd} killed after ${opts.timeoutMs} ms`;
      resolve({ code: timedOut ? 124 : (code ?? (sig ? 128 : 1)), stdout, stderr });
    });
    // EPIPE when the command does not read its stdin is not an error worth failing on.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** run(), throwing with the command's stderr when it exits non-zero. */
/** Builds the operator from the current sources: the tests run it as `node dist/main.js`. */
export async function buildOperator(repoRoot: string): Promise<void> {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  await runOk(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: repoRoot });
}

/**
 * Hands a started cluster to the test files (they run in another JS context and find it through
 * the JSON file named by REGCRED_TEST_ENV, see testEnv()) and installs the CRD the way users do,
 * with the real kubectl.
 */
export async function publishTestEnv(env: TestEnv, dir: string, repoRoot: string): Promise<void> {
  const envFile = path.join(dir, 'test-env.json');
  await writeFile(envFile, JSON.stringify(env, null, 2));
  process.env.REGCRED_TEST_ENV = envFile;
  for (const args of [
    ['apply', '-f', path.join(repoRoot, 'crds')],
    ['wait', '--for=condition=Established', '--timeout=60s', 'crd/registrycredentials.regcred.io'],
  ]) {
    const res = await kubectl(args, {}, env);
    if (res.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${res.stderr}`);
  }
}

export async function runOk(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const res = await run(cmd, args, opts);
  if (res.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${res.code}: ${res.stderr.trim() || res.stdout.trim()}`);
  }
  return res.stdout;
}

export function keepDirs(): boolean {
  return process.env.REGCRED_KEEP_TEST_DIRS === '1';
}

// ---------------------------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------------------------

/** The controllers every test relies on (default SAs and their tokens, namespace deletion, GC, kube-root-ca.crt). */
const KCM_CONTROLLERS = [
  'serviceaccount',
  'serviceaccount-token',
  'namespace',
  'garbagecollector',
  'root-ca-cert-publisher',
];
/** With a node: what runs workloads (and lifts the node's not-ready taint, and gives PDBs a status). */
const KCM_NODE_CONTROLLERS = [
  'deployment',
  'replicaset',
  'statefulset',
  'daemonset',
  'job',
  'nodelifecycle',
  'disruption',
  'podgc',
];

/** Level Metadata for every request; the RequestReceived stage only duplicates ResponseComplete. */
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
`;

/** Persisted in DIR/state.json so any JS context (globalSetup, a test file) can restart / stop. */
interface CpState {
  dir: string;
  binDir: string;
  server: string;
  pids: { etcd?: number; apiserver?: number; kcm?: number; scheduler?: number };
  apiserverArgs: string[];
}

function envForDir(dir: string, server: string, binDir: string): TestEnv {
  return {
    server,
    binDir,
    dir,
    adminKubeconfig: path.join(dir, 'admin.kubeconfig'),
    auditLogPath: path.join(dir, 'audit.log'),
  };
}

const apiserverLog = (dir: string): string => path.join(dir, 'kube-apiserver.log');

async function writeState(state: CpState): Promise<void> {
  const file = path.join(state.dir, 'state.json');
  await writeFile(`${file}.tmp`, JSON.stringify(state, null, 2));
  await rename(`${file}.tmp`, file);
}

async function readState(dir: string): Promise<CpState> {
  return JSON.parse(await readFile(path.join(dir, 'state.json'), 'utf8')) as CpState;
}

/** Spawn kube-apiserver with the persisted flags and wait for /readyz; returns its pid. */
async function startApiServer(state: CpState): Promise<number> {
  const log = apiserverLog(state.dir);
  const pid = await spawnLogged(path.join(state.binDir, 'kube-apiserver'), state.apiserverArgs, log);
  const env = envForDir(state.dir, state.server, state.binDir);
  try {
    await waitForProcess(pid, log, 'kube-apiserver /readyz', 120_000, async () => {
      const res = await adminGet(env, '/readyz');
      return res.status === 200;
    });
  } catch (err) {
    await stopPid(pid, path.join(state.binDir, 'kube-apiserver'), 5_000).catch(() => undefined);
    throw err;
  }
  return pid;
}

async function stopControlPlane(env: TestEnv): Promise<void> {
  let state: CpState | undefined;
  try {
    state = await readState(env.dir);
  } catch {
    state = undefined; // failed before anything was started
  }
  if (state) {
    const bin = (name: string): string => path.join(state.binDir, name);
    const { etcd, apiserver, kcm, scheduler } = state.pids;
    // Clients first, etcd last: a kube-apiserver losing etcd mid-shutdown only logs noise, but
    // stopping in order keeps the logs readable when a test run is investigated.
    await Promise.all([
      kcm !== undefined ? stopPid(kcm, bin('kube-controller-manager')) : undefined,
      scheduler !== undefined ? stopPid(scheduler, bin('kube-scheduler')) : undefined,
      apiserver !== undefined ? stopPid(apiserver, bin('kube-apiserver')) : undefined,
    ]);
    if (etcd !== undefined) await stopPid(etcd, bin('etcd'));
  }
  if (!keepDirs()) await rm(env.dir, { recursive: true, force: true });
}

export interface PkiPaths {
  dir: string;
  ca: string;
  caKey: string;
  apiserverCrt: string;
  apiserverKey: string;
  adminCrt: string;
  adminKey: string;
  saKey: string;
  saPub: string;
  clientExt: string;
}

export function pkiPaths(dir: string): PkiPaths {
  const p = path.join(dir, 'pki');
  return {
    dir: p,
    ca: path.join(p, 'ca.crt'),
    caKey: path.join(p, 'ca.key'),
    apiserverCrt: path.join(p, 'apiserver.crt'),
    apiserverKey: path.join(p, 'apiserver.key'),
    adminCrt: path.join(p, 'admin.crt'),
    adminKey: path.join(p, 'admin.key'),
    saKey: path.join(p, 'sa.key'),
    saPub: path.join(p, 'sa.pub'),
    clientExt: path.join(p, 'client.ext'),
  };
}

/** CA, apiserver serving cert, admin client cert, ServiceAccount token signing key pair. */
async function generatePki(dir: string): Promise<void> {
  const pki = pkiPaths(dir);
  await mkdir(pki.dir, { recursive: true });
  await runOk('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-sha256',
    '-days',
    '3650',
    '-subj',
    '/CN=regcred-test-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    '-keyout',
    pki.caKey,
    '-out',
    pki.ca,
  ]);
  // 10.0.0.1 is the first IP of --service-cluster-ip-range, i.e. the in-cluster `kubernetes` Service.
  const serverExt = path.join(pki.dir, 'apiserver.ext');
  await writeFile(
    serverExt,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,' +
        'DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local',
      '',
    ].join('\n'),
  );
  await writeFile(
    pki.clientExt,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=clientAuth',
      '',
    ].join('\n'),
  );
  await Promise.all([
    signCert(pki, path.join(pki.dir, 'apiserver'), '/CN=kube-apiserver', serverExt),
    issueClientCert(pki, path.join(pki.dir, 'admin'), 'test-admin', ['system:masters']),
    runOk('openssl', ['genrsa', '-out', pki.saKey, '2048']).then(() =>
      runOk('openssl', ['rsa', '-in', pki.saKey, '-pubout', '-out', pki.saPub]),
    ),
  ]);
}

/** BASE.key + BASE.crt for a client cert CN=user, O=each group (how kube-apiserver reads x509 identities). */
async function issueClientCert(pki: PkiPaths, base: string, user: string, groups: string[]): Promise<void> {
  // openssl -subj syntax: /TYPE=value/..., with '\' escaping a '/' or '\' inside a value.
  const esc = (v: string): string => v.replace(/[\\/]/g, (c) => `\\${c}`);
  const subj = groups.map((g) => `/O=${esc(g)}`).join('') + `/CN=${esc(user)}`;
  await signCert(pki, base, subj, pki.clientExt);
}

async function signCert(pki: PkiPaths, base: string, subj: string, extFile: string): Promise<void> {
  // Unique temp names and an explicit random serial: certs may be issued concurrently
  // (-CAcreateserial would race on a shared serial file).
  const tmp = `${base}.${randomBytes(4).toString('hex')}`;
  try {
    await runOk('openssl', [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-sha256',
      '-utf8',
      '-subj',
      subj,
      '-keyout',
      `${tmp}.key`,
      '-out',
      `${tmp}.csr`,
    ]);
    await runOk('openssl', [
      'x509',
      '-req',
      '-in',
      `${tmp}.csr`,
      '-CA',
      pki.ca,
      '-CAkey',
      pki.caKey,
      '-set_serial',
      `0x${randomBytes(16).toString('hex')}`,
      '-days',
      '3650',
      '-sha256',
      '-extfile',
      extFile,
      '-out',
      `${tmp}.crt`,
    ]);
    await rename(`${tmp}.key`, `${base}.key`);
    await rename(`${tmp}.crt`, `${base}.crt`);
  } finally {
    await rm(`${tmp}.csr`, { force: true });
    await rm(`${tmp}.key`, { force: true });
    await rm(`${tmp}.crt`, { force: true });
  }
}

/** A kubeconfig in JSON (valid YAML, read by kubectl and @kubernetes/client-node alike). */
export async function writeKubeconfig(
  file: string,
  server: string,
  caFile: string,
  crtFile: string,
  keyFile: string,
  user: string,
): Promise<void> {
  const b64 = async (f: string): Promise<string> => (await readFile(f)).toString('base64');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'regcred-test', cluster: { server, 'certificate-authority-data': await b64(caFile) } }],
    users: [
      { name: user, user: { 'client-certificate-data': await b64(crtFile), 'client-key-data': await b64(keyFile) } },
    ],
    contexts: [{ name: 'regcred-test', context: { cluster: 'regcred-test', user, namespace: 'default' } }],
    'current-context': 'regcred-test',
  };
  await writeFile(`${file}.tmp`, JSON.stringify(config, null, 2), { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

interface HttpResult {
  status: number;
  body: string;
}

interface HttpGetOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized?: boolean;
}

/** One GET without keep-alive (no pooled socket may outlive the call and hold jest open). */
export function httpGet(url: string, opts: HttpGetOptions = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { ...opts, agent: false, timeout: 5_000, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

async function adminGet(env: TestEnv, urlPath: string): Promise<HttpResult> {
  const pki = pkiPaths(env.dir);
  const [ca, cert, key] = await Promise.all([readFile(pki.ca), readFile(pki.adminCrt), readFile(pki.adminKey)]);
  return httpGet(`${env.server}${urlPath}`, { ca, cert, key });
}

function runsBinary(pid: number, bin: string): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.includes(bin);
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // exited meanwhile
  }
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/** Absolute path of an executable on PATH, or null. */
export async function findOnPath(name: string): Promise<string | null> {
  for (const d of (process.env.PATH ?? '').split(path.delimiter)) {
    if (d && (await isExecutable(path.join(d, name)))) return path.join(d, name);
  }
  return null;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
