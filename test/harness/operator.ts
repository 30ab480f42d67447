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

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
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
    ...(opts.args ?? []),
  ];
  const pid = await spawnLogged(process.execPath, args, logPath, { ...process.env, ...opts.env });
  const op: OperatorProcess = {
    pid,
    user: opts.user,
    logPath,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    readyzUrl: `http://127.0.0.1:${healthPort}/readyz`,
    stop: () => stopPid(pid, process.execPath, 30_000),
    kill: async () => {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      await stopPid(pid, process.execPath, 10_000);
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
