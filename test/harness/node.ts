// A real Kubernetes node on this machine for the e2e suite: Debian's containerd + runc + CNI
// plugins and a kubelet built from the Go module proxy (hack/build-controlplane.sh), joined to the
// control plane of controlplane.ts started with `forNode`. Pods really run, and images are really
// pulled by containerd with the pull secrets the kubelet picks, from the registries of registry.ts.
//
// Everything the node writes lives in its own work dir (containerd's root, state and socket, the
// kubelet's root dir and Pod logs, CNI config and IPAM state, containerd's registry hosts dir), not
// in /var/lib or /etc. What cannot live there is named after the suite and removed by stop(), and
// by the next start when a run was killed before it could clean up (sweepLeftovers):
// - the Pod bridge `regcred0` (10.244.0.1/16; no masquerade, so Pods reach nothing beyond this
//   machine) and net.ipv4.ip_forward, which the bridge plugin turns on;
// - one NAT rule (comment regcred-e2e) standing in for kube-proxy: the in-cluster `kubernetes`
//   Service 10.0.0.1:443, which the kubelet puts into every container's environment, goes to the
//   API server through the bridge gateway (Pods cannot reach loopback);
// - the kubelet's own iptables chains (KUBE-FIREWALL, KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT);
// - cgroups under /kubepods, Pod network namespaces, shim sockets, /var/log/containers links.
//
// Facts that shaped it (../shared/notes/real-node in the project's history, re-checked here):
// - this VM's root lacks CAP_SYS_RESOURCE, so runc cannot set the negative oom_score_adj containerd
//   gives every sandbox: `restrict_oom_score_adj = true` in the CRI config, or no Pod ever starts;
// - containerd 1.6 never pulls the sandbox image when it is present in the k8s.io namespace: the
//   pause image is compiled here and imported (images.ts);
// - the kubelet registers its node with the not-ready taint, which only kube-controller-manager's
//   node lifecycle controller lifts (controlplane.ts runs it with `forNode`).
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  findOnPath,
  isAlive,
  keepDirs,
  type KubectlResult,
  kubectl,
  type NodeEnv,
  pkiPaths,
  run,
  runOk,
  spawnLogged,
  stopPid,
  type TestEnv,
  waitForProcess,
  writeKubeconfig,
} from '../../harness/controlplane.js';
import { installKubeletProvider } from '../../harness/kubelet-node.js';
import { ociArchive, ociLayoutFromDir, pauseRootfs } from './images.js';
import { waitFor } from '../../harness/wait.js';

export const NODE_NAME = 'regcred-e2e-node';
const BRIDGE = 'regcred0';
const POD_SUBNET = '10.244.0.0/16';
const GATEWAY = '10.244.0.1';
const NETWORK_NAME = 'regcred-e2e';
/** iptables comment on every rule the harness adds (the kubelet's own chains are removed by name). */
const RULE_COMMENT = 'regcred-e2e';
const KUBELET_CHAINS = ['KUBE-FIREWALL', 'KUBE-KUBELET-CANARY', 'KUBE-IPTABLES-HINT'];
const DIR_PREFIX = 'regcred-node-';
const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';
/** Images the harness imports into containerd itself (the sandbox, the operator's image): KEP-2535 exempts them. */
const PRELOADED_IMAGES = ['registry.k8s.io/pause', 'localhost/*'];
/** The first address of the control plane's --service-cluster-ip-range: the `kubernetes` Service. */
const KUBERNETES_SERVICE_IP = '10.0.0.1';

export interface RealNode {
  env: NodeEnv;
  /** Every process of the node and the host state it changed, gone; the work dir removed. */
  stop(): Promise<void>;
}

/** Debian packages the node needs, by the command that shows they are there. */
const REQUIRED_COMMANDS: Array<[string, string]> = [
  ['containerd', 'containerd'],
  ['containerd-shim-runc-v2', 'containerd'],
  ['ctr', 'containerd'],
  ['runc', 'runc'],
  ['iptables', 'iptables'],
  ['ip', 'iproute2'],
  ['gcc', 'gcc libc6-dev'],
  ['tar', 'tar'],
];

/**
 * Why this machine cannot run the node, or undefined when it can. Checked before anything is
 * started so the suite fails with the reason, never half-way.
 */
export async function nodePreflight(binDir: string): Promise<string | undefined> {
  if (process.getuid?.() !== 0)
    return 'the real node needs root (containerd, runc, the kubelet, iptables and a bridge)';
  const missing: string[] = [];
  for (const [cmd, pkg] of REQUIRED_COMMANDS) if (!(await findOnPath(cmd))) missing.push(`${cmd} (apt: ${pkg})`);
  for (const plugin of ['bridge', 'host-local', 'loopback']) {
    if (!(await exists(path.join('/usr/lib/cni', plugin))))
      missing.push(`/usr/lib/cni/${plugin} (apt: containernetworking-plugins)`);
  }
  if (!(await exists(path.join(binDir, 'kubelet')))) missing.push(`${binDir}/kubelet (hack/build-controlplane.sh)`);
  if (missing.length) return `missing: ${missing.join(', ')}; hack/setup.sh installs them`;
  if (!(await exists('/sys/fs/cgroup/memory')) && !(await exists('/sys/fs/cgroup/cgroup.controllers')))
    return 'no cgroup filesystem at /sys/fs/cgroup';
  return undefined;
}

export interface StartNodeOptions {
  /**
   * Configure the kubelet's image credential provider with `regcred-kubelet-plugin install`, as the
   * installer DaemonSet does (kubelet-node.ts); NodeEnv.kubeletDelivery then describes it.
   */
  kubeletDelivery?: boolean;
}

/**
 * Start containerd and a kubelet joined to `cp` (started with forNode), and wait for the node to be Ready and
 * schedulable.
 */
export async function startNode(cp: TestEnv, opts: StartNodeOptions = {}): Promise<RealNode> {
  const problem = await nodePreflight(cp.binDir);
  if (problem) throw new Error(`cannot run a real node here: ${problem}`);
  await sweepLeftovers();

  const dir = await mkdtemp(path.join(os.tmpdir(), DIR_PREFIX));
  await writeFile(path.join(dir, 'owner.pid'), String(process.pid));
  const env: NodeEnv = {
    name: NODE_NAME,
    dir,
    containerdAddress: path.join(dir, 'containerd', 'containerd.sock'),
    registryHostsDir: path.join(dir, 'certs.d'),
    gateway: GATEWAY,
    podSubnet: POD_SUBNET,
  };
  if (opts.kubeletDelivery)
    env.kubeletDelivery = await installKubeletProvider(path.join(dir, 'kubelet-delivery'), GATEWAY);
  const pids: { containerd?: number; kubelet?: number } = {};
  const ipForwardBefore = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();
  await writeFile(path.join(dir, 'ip_forward.before'), ipForwardBefore);

  const stop = async (): Promise<void> => {
    await drainPods(cp, env).catch((err) => process.stderr.write(`[node] draining Pods: ${String(err)}\n`));
    if (pids.kubelet !== undefined) await stopPid(pids.kubelet, path.join(cp.binDir, 'kubelet'));
    await removeAllContainers(env).catch(() => undefined);
    if (pids.containerd !== undefined) await stopPid(pids.containerd, (await findOnPath('containerd')) ?? 'containerd');
    await cleanHost(dir);
    if (!keepDirs()) await rm(dir, { recursive: true, force: true });
  };

  try {
    // --- containerd ----------------------------------------------------------------------------
    const cniConfDir = path.join(dir, 'cni', 'net.d');
    await Promise.all(
      [cniConfDir, env.registryHostsDir, path.join(dir, 'containerd'), path.join(dir, 'pod-logs')].map((d) =>
        mkdir(d, { recursive: true }),
      ),
    );
    const containerdConfig = path.join(dir, 'containerd', 'config.toml');
    await writeFile(containerdConfig, containerdToml(dir, env, cniConfDir));
    const containerdLog = path.join(dir, 'containerd.log');
    pids.containerd = await spawnLogged(
      (await findOnPath('containerd'))!,
      ['--config', containerdConfig],
      containerdLog,
    );
    await waitForProcess(
      pids.containerd,
      containerdLog,
      'containerd to answer',
      30_000,
      async () => (await ctr(env, ['version'])).code === 0,
    );

    // --- the sandbox image, made here -------------------------------------------------------------
    const pauseDir = path.join(dir, 'images', 'pause');
    await pauseRootfs(path.join(pauseDir, 'rootfs'), pauseDir);
    await ociLayoutFromDir(
      path.join(pauseDir, 'rootfs'),
      path.join(pauseDir, 'oci'),
      '3.10',
      { entrypoint: ['/pause'], user: '65535:65535' },
      PAUSE_IMAGE,
    );
    await ociArchive(path.join(pauseDir, 'oci'), path.join(pauseDir, 'pause.tar'));
    await importImage(env, path.join(pauseDir, 'pause.tar'));

    // --- Pod network: the bridge first, so the kubelet's node IP is on it ------------------------
    await runOk('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
    await runOk('ip', ['addr', 'add', `${GATEWAY}/16`, 'dev', BRIDGE]);
    await runOk('ip', ['link', 'set', BRIDGE, 'up']);
    await writeFile(
      path.join(cniConfDir, '10-regcred-e2e.conflist'),
      JSON.stringify(
        {
          cniVersion: '1.0.0',
          name: NETWORK_NAME,
          plugins: [
            {
              type: 'bridge',
              bridge: BRIDGE,
              isGateway: true,
              ipMasq: false,
              hairpinMode: true,
              ipam: {
                type: 'host-local',
                ranges: [[{ subnet: POD_SUBNET, gateway: GATEWAY }]],
                routes: [{ dst: '0.0.0.0/0' }],
                dataDir: path.join(dir, 'cni', 'ipam'),
              },
            },
          ],
        },
        null,
        2,
      ),
    );
    const apiPort = new URL(cp.server).port;
    await runOk('iptables', [
      '-w',
      '-t',
      'nat',
      '-A',
      'PREROUTING',
      '-d',
      `${KUBERNETES_SERVICE_IP}/32`,
      '-p',
      'tcp',
      '--dport',
      '443',
      '-j',
      'DNAT',
      '--to-destination',
      `${GATEWAY}:${apiPort}`,
      '-m',
      'comment',
      '--comment',
      RULE_COMMENT,
    ]);

    // --- kubelet ----------------------------------------------------------------------------------
    const kubeletDir = path.join(dir, 'kubelet');
    const pki = pkiPaths(cp.dir);
    await mkdir(path.join(dir, 'kubelet-config'), { recursive: true });
    const kubeletKubeconfig = path.join(dir, 'kubelet-config', 'kubeconfig');
    await writeKubeconfig(
      kubeletKubeconfig,
      cp.server,
      pki.ca,
      path.join(pki.dir, 'kubelet.crt'),
      path.join(pki.dir, 'kubelet.key'),
      `system:node:${NODE_NAME}`,
    );
    const kubeletConfig = path.join(dir, 'kubelet-config', 'config.yaml');
    await writeFile(kubeletConfig, kubeletYaml(env, pki.ca));
    const kubeletLog = path.join(dir, 'kubelet.log');
    pids.kubelet = await spawnLogged(
      path.join(cp.binDir, 'kubelet'),
      [
        `--config=${kubeletConfig}`,
        `--kubeconfig=${kubeletKubeconfig}`,
        `--root-dir=${kubeletDir}`,
        `--cert-dir=${path.join(kubeletDir, 'pki')}`,
        `--hostname-override=${NODE_NAME}`,
        `--node-ip=${GATEWAY}`,
        ...(env.kubeletDelivery
          ? [
              `--image-credential-provider-config=${env.kubeletDelivery.providerConfig}`,
              `--image-credential-provider-bin-dir=${env.kubeletDelivery.binDir}`,
            ]
          : []),
        '--v=2',
      ],
      kubeletLog,
    );
    await waitForProcess(pids.kubelet, kubeletLog, `node ${NODE_NAME} Ready and untainted`, 120_000, async () => {
      const res = await kubectl(['get', 'node', NODE_NAME, '-o', 'json'], {}, cp);
      if (res.code !== 0) return false;
      const node = JSON.parse(res.stdout) as {
        spec?: { taints?: unknown[] };
        status?: { conditions?: Array<{ type: string; status: string }> };
      };
      const ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      return Boolean(ready) && (node.spec?.taints ?? []).length === 0;
    });
  } catch (err) {
    await stop().catch(() => undefined);
    throw new Error(
      `the real node failed to start (logs were in ${dir}; REGCRED_KEEP_TEST_DIRS=1 keeps them): ` +
        `${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return { env, stop };
}

/** `ctr -n k8s.io` against the node's containerd. Never throws on a non-zero exit. */
export function ctr(node: NodeEnv, args: string[]): Promise<KubectlResult> {
  return run('ctr', ['--address', node.containerdAddress, '--namespace', 'k8s.io', ...args], { timeoutMs: 120_000 });
}

/** Import an oci-archive (or docker-archive) tar into the node's image store, as the kubelet sees it. */
export async function importImage(node: NodeEnv, archive: string): Promise<void> {
  const res = await ctr(node, ['images', 'import', '--no-unpack', archive]);
  if (res.code !== 0) throw new Error(`ctr images import ${archive}: ${res.stderr.trim()}`);
}

/** Remove an image from the node (so the next Pod must pull it). Absent is fine. */
export async function removeImage(node: NodeEnv, ref: string): Promise<void> {
  await ctr(node, ['images', 'rm', '--sync', ref]);
}

/**
 * Make containerd trust a registry's TLS certificate for pulls, as an admin does with
 * /etc/containerd/certs.d/HOST/: hosts.toml + ca.crt in the node's hosts dir (read on every pull).
 * containerd 1.6 speaks plain HTTP to a loopback `server` whatever its URL says, so a loopback
 * registry gets an explicit [host] entry with https (a "mirror" of itself); the cost, seen on the
 * node: after that entry answers 404 (a missing tag) containerd falls back to the server over HTTP,
 * and the Pod's Event shows that last error instead of "not found". Any other host gets its CA at
 * the top level, where a missing tag stays "not found" (the e2e tests that need that use
 * registries on the node's bridge address).
 */
export async function trustRegistry(node: NodeEnv, host: string, caFile: string): Promise<void> {
  const hostDir = path.join(node.registryHostsDir, host);
  await mkdir(hostDir, { recursive: true });
  const ca = path.join(hostDir, 'ca.crt');
  await writeFile(ca, await readFile(caFile));
  const loopback = /^(127\.|localhost[:]|\[::1\])/.test(host);
  const lines = loopback
    ? [
        `server = "https://${host}"`,
        `[host."https://${host}"]`,
        '  capabilities = ["pull", "resolve"]',
        `  ca = ${JSON.stringify(ca)}`,
      ]
    : [`server = "https://${host}"`, `ca = ${JSON.stringify(ca)}`];
  await writeFile(path.join(hostDir, 'hosts.toml'), [...lines, ''].join('\n'));
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

function containerdToml(dir: string, env: NodeEnv, cniConfDir: string): string {
  const q = JSON.stringify; // TOML basic strings are JSON strings for the paths used here
  const c = (p: string): string => q(path.join(dir, 'containerd', p));
  return `version = 2
root = ${c('root')}
state = ${c('state')}
[grpc]
  address = ${q(env.containerdAddress)}
[ttrpc]
  address = ${q(`${env.containerdAddress}.ttrpc`)}
[plugins."io.containerd.internal.v1.opt"]
  path = ${c('opt')}
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${q(PAUSE_IMAGE)}
  # This VM's root has no CAP_SYS_RESOURCE: a negative oom_score_adj (sandboxes get -998) is refused
  # by the kernel and runc's init dies ("can't get final child's PID from pipe: EOF").
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = ${c('runc')}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = ${q(cniConfDir)}
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = ${q(env.registryHostsDir)}
`;
}

function kubeletYaml(env: NodeEnv, caFile: string): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${JSON.stringify(caFile)}}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
containerRuntimeEndpoint: ${JSON.stringify(`unix://${env.containerdAddress}`)}
failCgroupV1: false
failSwapOn: false
readOnlyPort: 0
resolvConf: /etc/resolv.conf
podLogsDir: ${JSON.stringify(path.join(env.dir, 'pod-logs'))}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {"nodefs.available": "1%", "imagefs.available": "1%", "memory.available": "100Mi"}
# KEP-2535: a Pod may start an image that is already on the node only when its own credentials
# pulled it. Every image a registry serves is checked (as AlwaysVerify would); the exemptions are
# the images this harness imports with ctr, which no registry serves and whose Pods use
# IfNotPresent (AlwaysVerify would make the kubelet try to pull them).
imagePullCredentialsVerificationPolicy: NeverVerifyAllowlistedImages
preloadedImagesVerificationAllowlist: ${JSON.stringify(PRELOADED_IMAGES)}
`;
}

// ---------------------------------------------------------------------------------------------
// Teardown, and the sweep of what a killed run left
// ---------------------------------------------------------------------------------------------

/**
 * Delete every Pod and wait until the kubelet has stopped them all (it runs CNI DEL and unmounts
 * their volumes; stopping containerd first would leave shims, network namespaces and tmpfs mounts).
 */
async function drainPods(cp: TestEnv, node: NodeEnv): Promise<void> {
  await kubectl(['delete', 'pods', '--all', '--all-namespaces', '--grace-period=0', '--force', '--wait=false'], {}, cp);
  await waitFor(
    async () => {
      const res = await ctr(node, ['tasks', 'ls', '-q']);
      return res.code === 0 && res.stdout.trim() === '';
    },
    { timeoutMs: 90_000, intervalMs: 500, what: 'every container on the node to stop' },
  );
}

/** Kill and remove whatever containers are left (after the kubelet has stopped). */
async function removeAllContainers(node: NodeEnv): Promise<void> {
  const tasks = (await ctr(node, ['tasks', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
  for (const id of tasks) await ctr(node, ['tasks', 'kill', '-s', 'SIGKILL', id]);
  for (const id of tasks) await ctr(node, ['tasks', 'rm', '-f', id]);
  const containers = (await ctr(node, ['containers', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
  for (const id of containers) await ctr(node, ['containers', 'rm', id]);
}

/**
 * Undo what the node changed outside its work dir, and unmount what is mounted inside it. Safe to
 * run more than once, and for a dir whose processes were killed.
 */
async function cleanHost(dir: string): Promise<void> {
  await killContainerProcesses(dir);
  await unmountUnder(dir);
  await removeNetworkNamespaces();
  await run('ip', ['link', 'del', BRIDGE]);
  await removeIptables();
  await removeKubepodsCgroups();
  await removeContainerLogLinks(dir);
  const before = await readFile(path.join(dir, 'ip_forward.before'), 'utf8').catch(() => '0');
  await writeFile('/proc/sys/net/ipv4/ip_forward', before.trim() || '0').catch(() => undefined);
  await rm(path.join('/var/lib/cni/results'), { recursive: true, force: true }).catch(() => undefined);
  await rmdirIfEmpty('/var/lib/cni');
  for (const d of ['/run/containerd/s', '/run/containerd', '/var/run/netns']) await rmdirIfEmpty(d);
}

/** A run killed before its teardown leaves shims and containers running, mounts, a bridge and rules: remove them. */
async function sweepLeftovers(): Promise<void> {
  const tmp = os.tmpdir();
  for (const name of await readdir(tmp)) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = path.join(tmp, name);
    const owner = Number(await readFile(path.join(dir, 'owner.pid'), 'utf8').catch(() => '0'));
    if (owner && isAlive(owner)) {
      // The bridge, the kubepods cgroups and the kubelet's port are the machine's: one node at a time.
      throw new Error(
        `another e2e run (pid ${owner}, ${dir}) is running a node on this machine; only one can at a time`,
      );
    }
    process.stderr.write(`[node] removing what an earlier run left: ${dir}\n`);
    await cleanHost(dir);
    await rm(dir, { recursive: true, force: true });
  }
  // Host state without a dir (the dir was removed by hand): the bridge and our rules.
  await run('ip', ['link', 'del', BRIDGE]);
  await removeIptables();
}

/** SIGKILL the shims of containerd under `dir` and every process in a /kubepods cgroup. */
async function killContainerProcesses(dir: string): Promise<void> {
  const victims = new Set<number>();
  for (const cgroupRoot of ['/sys/fs/cgroup/pids/kubepods', '/sys/fs/cgroup/kubepods']) {
    for (const procs of await findFiles(cgroupRoot, 'cgroup.procs')) {
      for (const pid of (await readFile(procs, 'utf8').catch(() => '')).split('\n').filter(Boolean))
        victims.add(Number(pid));
    }
  }
  for (const pid of await pidsWithCmdline(
    (argv) => argv[0]?.endsWith('containerd-shim-runc-v2') === true && argv.some((a) => a.startsWith(dir)),
  ))
    victims.add(pid);
  for (const pid of victims) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  if (victims.size)
    await waitFor(() => [...victims].every((pid) => !isAlive(pid)), {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: 'leftover container processes to die',
    }).catch(() => undefined);
}

/** Unmount every mount point under `dir`, deepest first (the kubelet bind-mounts its root dir onto itself). */
async function unmountUnder(dir: string): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const mounts = await mountPoints((m) => m === dir || m.startsWith(`${dir}/`));
    if (!mounts.length) return;
    for (const m of mounts.sort((a, b) => b.length - a.length)) {
      const res = await run('umount', [m]);
      if (res.code !== 0) await run('umount', ['-l', m]);
    }
  }
}

/** Network namespaces containerd made for Pods (cni-*) that are still there. */
async function removeNetworkNamespaces(): Promise<void> {
  for (const base of ['/var/run/netns', '/run/netns']) {
    for (const name of await readdir(base).catch(() => [] as string[])) {
      if (!name.startsWith('cni-')) continue;
      const p = path.join(base, name);
      await run('umount', [p]);
      await rm(p, { force: true }).catch(() => undefined);
    }
  }
}

/** Our NAT rule(s) by comment, and the kubelet's chains with every jump to them, IPv4 and IPv6. */
async function removeIptables(): Promise<void> {
  for (const cmd of ['iptables', 'ip6tables']) {
    if (!(await findOnPath(cmd))) continue;
    for (const table of ['filter', 'nat', 'mangle']) {
      const rules = (await run(cmd, ['-w', '-t', table, '-S'])).stdout.split('\n');
      for (const rule of rules) {
        if (!rule.startsWith('-A ')) continue;
        const ours = rule.includes(`--comment ${RULE_COMMENT}`) || rule.includes(`--comment "${RULE_COMMENT}"`);
        const jumpsToKubelet = KUBELET_CHAINS.some((chain) => rule.includes(`-j ${chain}`));
        if (ours || jumpsToKubelet) await run(cmd, ['-w', '-t', table, ...splitRule(rule.replace(/^-A /, '-D '))]);
      }
      for (const chain of KUBELET_CHAINS) {
        await run(cmd, ['-w', '-t', table, '-F', chain]);
        await run(cmd, ['-w', '-t', table, '-X', chain]);
      }
    }
  }
}

/** The kubelet's QoS cgroups (cgroup v1: one tree per controller), deepest first; only empty ones can go. */
async function removeKubepodsCgroups(): Promise<void> {
  const roots = await readdir('/sys/fs/cgroup').catch(() => [] as string[]);
  for (const controller of ['', ...roots]) {
    const top = path.join('/sys/fs/cgroup', controller, 'kubepods');
    const dirs = await findDirs(top);
    for (const d of dirs.sort((a, b) => b.length - a.length)) await rmdir(d).catch(() => undefined);
  }
}

/** /var/log/containers links into this node's Pod logs (the kubelet writes them there whatever podLogsDir says). */
async function removeContainerLogLinks(dir: string): Promise<void> {
  const base = '/var/log/containers';
  for (const name of await readdir(base).catch(() => [] as string[])) {
    const p = path.join(base, name);
    const target = await readlink(p).catch(() => '');
    if (target.startsWith(dir) || !(await exists(p))) await rm(p, { force: true });
  }
  await rmdirIfEmpty(base);
}

// ---------------------------------------------------------------------------------------------

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function rmdirIfEmpty(d: string): Promise<void> {
  await rmdir(d).catch(() => undefined);
}

async function mountPoints(filter: (mountPoint: string) => boolean): Promise<string[]> {
  const text = await readFile('/proc/mounts', 'utf8');
  // /proc/mounts escapes spaces etc. as octal (\040)
  const unescape = (s: string): string =>
    s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return [
    ...new Set(
      text
        .split('\n')
        .map((l) => unescape(l.split(' ')[1] ?? ''))
        .filter((m) => m && filter(m)),
    ),
  ];
}

async function findDirs(top: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    out.push(d);
    for (const e of entries) if (e.isDirectory()) await walk(path.join(d, e.name));
  };
  await walk(top);
  return out;
}

async function findFiles(top: string, name: string): Promise<string[]> {
  return (await findDirs(top)).map((d) => path.join(d, name));
}

async function pidsWithCmdline(match: (argv: string[]) => boolean): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean);
    if (argv.length && match(argv)) out.push(Number(entry));
  }
  return out;
}

/** iptables -S prints rules as shell words; quoted comments are the only quoting it uses here. */
function splitRule(rule: string): string[] {
  const words: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(rule))) words.push(m[1] ?? m[2]);
  return words;
}
