// The operator under test, run the way users run it: `node dist/main.js` as its own process,
// with its own client-certificate identity (so the audit log tells its requests apart).
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  freePorts,
  httpGet,
  isAlive,
  kubeconfigFor,
  kubectl,
  spawnLogged,
  stopPid,
  tailFile,
  testEnv,
  waitForProcess,
} from './controlplane.js';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const MAIN = path.join(REPO_ROOT, 'dist', 'main.js');

export interface OperatorProcess {
  pid: number;
  user: string;
  logPath: string;
  metricsUrl: string;
  readyzUrl: string;
  /** SIGTERM and wait for a clean exit. */
  stop(): Promise<void>;
  /** SIGKILL, no shutdown. */
  kill(): Promise<void>;
  logs(): Promise<string>;
  metrics(): Promise<string>;
  /** Sum of a counter or gauge over all label sets (0 when absent). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

/** Sums the samples of `name` (exact name, any labels matching `labels`) in Prometheus text. */
export function sumMetric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

export interface StartOperatorOptions {
  sourceNamespace: string;
  /** Client-certificate user name; bound to cluster-admin unless `bindClusterAdmin` is false. */
  user: string;
  bindClusterAdmin?: boolean;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Wait for /readyz. Default true. */
  waitReady?: boolean;
  /**
   * Run as this kubeconfig's identity instead of a client certificate for `user` (`user` must then be that identity's
   * user name, for the audit log).
   */
  kubeconfig?: string;
  /** The entry point to run; default dist/main.js of this checkout. */
  main?: string;
  /** Turns the user's kubeconfig into the one the operator gets (e.g. one pointing at a fault proxy). */
  wrapKubeconfig?: (kubeconfig: string) => Promise<string>;
  /**
   * Check credentials against registries (--verify-registries). Off by default: the tests' made-up
   * hosts (harbor.example.com, index.docker.io) must never be contacted; the verification tests
   * turn it on with registries of their own.
   */
  verifyRegistries?: boolean;
}

/** Loaded into every operator process: nothing it does may leave this machine (see the file). */
const LOOPBACK_GUARD = path.join(REPO_ROOT, 'harness', 'loopback-guard.mjs');

/**
 * The node flags the image runs the operator with (the Dockerfile's ENTRYPOINT, between `node` and
 * the script): operators started here run the same way.
 */
export async function imageNodeFlags(): Promise<string[]> {
  const dockerfile = await readFile(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
  const entrypoint = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile)?.[1];
  const argv = entrypoint ? (JSON.parse(entrypoint) as string[]) : [];
  if (argv[0] !== 'node' || argv.at(-1) !== 'dist/main.js')
    throw new Error(`the Dockerfile's ENTRYPOINT is not ["node", ..., "dist/main.js"]: ${entrypoint}`);
  return argv.slice(1, -1);
}

/** Fails when the operator tried to reach anything but loopback (the guard refused it and logged a line). */
export async function assertStayedLocal(logPath: string): Promise<void> {
  const refusals = (await readFile(logPath, 'utf8').catch(() => ''))
    .split('\n')
    .filter((line) => line.includes('[loopback-guard]'));
  if (refusals.length) {
    throw new Error(`the operator tried to leave this machine (${logPath}):\n${[...new Set(refusals)].join('\n')}`);
  }
}

let started = 0;

export async function startOperator(opts: StartOperatorOptions): Promise<OperatorProcess> {
  const env = testEnv();
  const userKubeconfig = opts.kubeconfig ?? (await kubeconfigFor(opts.user));
  const kubeconfig = opts.wrapKubeconfig ? await opts.wrapKubeconfig(userKubeconfig) : userKubeconfig;
  if (opts.bindClusterAdmin ?? !opts.kubeconfig) {
    const binding = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `test-operator-${opts.user}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: opts.user }],
    };
    const res = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(binding) });
    if (res.code !== 0) throw new Error(`cannot bind ${opts.user}: ${res.stderr}`);
  }
  const [metricsPort, healthPort] = await freePorts(2);
  const logPath = path.join(env.dir, `operator-${opts.user.replace(/[^A-Za-z0-9_.-]/g, '_')}-${++started}.log`);
  const args = [
    ...(await imageNodeFlags()),
    '--import',
    LOOPBACK_GUARD,
    opts.main ?? MAIN,
    '--kubeconfig',
    kubeconfig,
    '--source-namespace',
    opts.sourceNamespace,
    '--metrics-bind-address',
    `127.0.0.1:${metricsPort}`,
    '--health-probe-bind-address',
    `127.0.0.1:${healthPort}`,
    '--log-level',
    'debug',
    `--verify-registries=${opts.verifyRegistries ?? false}`,
    ...(opts.args ?? []),
  ];
  // The e2e suite's Pod network is this machine's too (its registries may listen on the bridge).
  const localNetworks = env.node ? { REGCRED_TEST_LOCAL_NETWORKS: env.node.podSubnet } : {};
  const pid = await spawnLogged(process.execPath, args, logPath, { ...process.env, ...localNetworks, ...opts.env });
  const op: OperatorProcess = {
    pid,
    user: opts.user,
    logPath,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    readyzUrl: `http://127.0.0.1:${healthPort}/readyz`,
    stop: async () => {
      await stopPid(pid, process.execPath, 30_000);
      await assertStayedLocal(logPath);
    },
    kill: async () => {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      await stopPid(pid, process.execPath, 10_000);
      await assertStayedLocal(logPath);
    },
    logs: () => readFile(logPath, 'utf8'),
    metrics: async () => (await httpGet(op.metricsUrl)).body,
    metric: async (name, labels) => sumMetric(await op.metrics(), name, labels),
  };
  if (opts.waitReady ?? true) {
    await waitForProcess(pid, logPath, 'the operator to be ready', 60_000, async () => {
      try {
        return (await httpGet(op.readyzUrl)).status === 200;
      } catch {
        return false;
      }
    });
  }
  return op;
}

export { tailFile };
