// The node side of kubelet delivery for the tests: the real regcred-kubelet-plugin binary
// (plugin/, built by hack/build-plugin.sh), run the way the kubelet runs it (request on stdin,
// response on stdout), and ServiceAccount tokens minted the way the kubelet mints them (TokenRequest
// with the provider's audience, bound to the Pod).
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { kubectl, run, runOk } from './controlplane.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const KUBELET_AUDIENCE = 'kubelet.regcred.io';
export const PROVIDER_API_VERSION = 'credentialprovider.kubelet.k8s.io/v1';

let built: Promise<string> | undefined;

/** The plugin binary's path (built once per process; cargo only checks when nothing changed). */
export function pluginBinary(): Promise<string> {
  built ??= runOk('bash', [path.join(REPO_ROOT, 'hack', 'build-plugin.sh')], { timeoutMs: 600_000 }).then((out) =>
    out.trim().split('\n').pop()!,
  );
  return built;
}

/** Writes the plugin's config (what `install` writes on a node) into `dir`; returns its path. */
export async function writePluginConfig(dir: string, endpoints: string[], caFile: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'plugin.json');
  await writeFile(file, JSON.stringify({ endpoints, caFile }, null, 2));
  return file;
}

export interface PluginRun {
  code: number;
  stdout: string;
  stderr: string;
  /** The parsed response when the plugin exited 0. */
  response?: {
    cacheKeyType: string;
    cacheDuration: string;
    auth: Record<string, { username: string; password: string }>;
  };
}

/** Runs the plugin as the kubelet does, with `request` (an object, or raw text) on stdin. */
export async function runPlugin(configFile: string, request: unknown): Promise<PluginRun> {
  const input = typeof request === 'string' ? request : JSON.stringify(request);
  const result = await run(await pluginBinary(), ['--config', configFile], { input, timeoutMs: 60_000 });
  return {
    ...result,
    response: result.code === 0 ? (JSON.parse(result.stdout) as PluginRun['response']) : undefined,
  };
}

/** A kubelet's CredentialProviderRequest. */
export function providerRequest(image: string, serviceAccountToken?: string): Record<string, unknown> {
  return {
    apiVersion: PROVIDER_API_VERSION,
    kind: 'CredentialProviderRequest',
    image,
    ...(serviceAccountToken !== undefined ? { serviceAccountToken } : {}),
  };
}

/** A token for `serviceAccount` with `audience`, bound to `pod` when given: what the kubelet sends. */
export async function mintToken(
  namespace: string,
  serviceAccount: string,
  opts: { audience?: string; pod?: string } = {},
): Promise<string> {
  const args = ['create', 'token', serviceAccount, '-n', namespace, '--audience', opts.audience ?? KUBELET_AUDIENCE];
  if (opts.pod) args.push('--bound-object-kind', 'Pod', '--bound-object-name', opts.pod);
  const result = await kubectl(args);
  if (result.code !== 0) throw new Error(`kubectl create token failed: ${result.stderr}`);
  return result.stdout.trim();
}
