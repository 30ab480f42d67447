// Kubelet delivery on the e2e suite's real node, configured the way the installer DaemonSet
// configures a node: `regcred-kubelet-plugin install` (the real binary, plugin/) writes the plugin,
// its config, the endpoint's CA and the kubelet's CredentialProviderConfig into the node's work dir,
// and the kubelet starts with --image-credential-provider-config / --image-credential-provider-bin-dir
// pointing there.
//
// Facts that shaped it:
// - the kubelet matches an image against matchImages with the port compared exactly (a pattern
//   without a port never matches host:port), so the registries the delivery tests pull from get
//   their ports now, before the kubelet starts, and start on them later (startRegistry `port`);
// - the kubelet execs the plugin on this host, so the operator's endpoint listens on loopback;
// - the ports are taken below the kernel's ephemeral range, where freePorts() (port 0) never lands.
import * as net from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { runOk } from './controlplane.js';
import { KUBELET_AUDIENCE, pluginBinary } from './kubelet-plugin.js';
import { createCertificateAuthority, issueServerCertificate } from './tls.js';

/** What the kubelet-delivery tests need to know about the node's provider (part of NodeEnv). */
export interface KubeletDeliveryEnv {
  /** The operator's endpoint as the node's plugin.json names it (https://127.0.0.1:PORT). */
  endpoint: string;
  /** host:port the operator binds (--kubelet-bind-address). */
  bindAddress: string;
  /** The endpoint's serving certificate and key (--kubelet-tls-cert-file / -key-file) and its CA. */
  certFile: string;
  keyFile: string;
  caFile: string;
  audience: string;
  /** Registry ports on the node's gateway that the kubelet sends to the plugin (matchImages). */
  registryPorts: number[];
  /** The installer's output: plugin.json, ca.crt and credential-provider-config.yaml. */
  configDir: string;
  /** The kubelet's --image-credential-provider-config and --image-credential-provider-bin-dir. */
  providerConfig: string;
  binDir: string;
}

/** Ports free on every address now, below the ephemeral range, distinct. */
async function reservedPorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < n) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (ports.includes(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '0.0.0.0', () => srv.close(() => resolve(true)));
    });
    if (free) ports.push(port);
  }
  return ports;
}

/**
 * Runs the installer into `dir` for registries on `gateway`: the endpoint's port and 3 registry
 * ports are picked here.
 */
export async function installKubeletProvider(dir: string, gateway: string): Promise<KubeletDeliveryEnv> {
  const [endpointPort, ...registryPorts] = await reservedPorts(4);
  const ca = await createCertificateAuthority(path.join(dir, 'endpoint-ca'));
  const serving = await issueServerCertificate(ca, 'endpoint', ['127.0.0.1']);
  const tls = path.join(dir, 'endpoint-tls');
  await mkdir(tls, { recursive: true });
  const certFile = path.join(tls, 'tls.crt');
  const keyFile = path.join(tls, 'tls.key');
  await writeFile(certFile, serving.cert);
  await writeFile(keyFile, serving.key, { mode: 0o600 });
  const configDir = path.join(dir, 'etc');
  const binDir = path.join(dir, 'bin');
  const endpoint = `https://127.0.0.1:${endpointPort}`;
  await runOk(await pluginBinary(), [
    'install',
    ...['--config-dir', configDir, '--bin-dir', binDir],
    ...['--endpoint', endpoint, '--ca-file', ca.caFile, '--audience', KUBELET_AUDIENCE],
    ...registryPorts.flatMap((port) => ['--match-image', `${gateway}:${port}`]),
    // The tests' cache bound is the operator's --kubelet-cache-seconds; this is the kubelet's
    // default when an answer names none.
    ...['--default-cache-duration', '30s'],
  ]);
  return {
    endpoint,
    bindAddress: `127.0.0.1:${endpointPort}`,
    certFile,
    keyFile,
    caFile: ca.caFile,
    audience: KUBELET_AUDIENCE,
    registryPorts,
    configDir,
    providerConfig: path.join(configDir, 'credential-provider-config.yaml'),
    binDir,
  };
}
