// Where the API server is and how to authenticate to it, read from a kubeconfig (or in-cluster) the
// way @kubernetes/client-node's KubeConfig reads it, without loading that module: its index (and its
// config.js) imports every generated API model of the client, memory a process that needs only a
// loader must not hold. The parsing (config_types.js) and the two authenticators a controller
// uses (exec plugins, token files) are client-node's own modules, which import no generated code.
// A kubeconfig that needs anything else (the azure, gcp or oidc auth-providers, a proxy-url) is
// handed to client-node's full KubeConfig, loaded then.
import { accessSync, readFileSync } from 'node:fs';
import type https from 'node:https';
import { isIPv6 } from 'node:net';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import {
  type Cluster,
  type Context,
  newClusters,
  newContexts,
  newUsers,
  type User,
} from '@kubernetes/client-node/dist/config_types.js';
import { ExecAuth } from '@kubernetes/client-node/dist/exec_auth.js';
import { FileAuth } from '@kubernetes/client-node/dist/file_auth.js';
import yaml from 'js-yaml';

/** What the REST client needs: the server, the TLS material, and the headers of the next request. */
export interface ClusterAccess {
  server: string;
  tls: Pick<https.AgentOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>;
  /** Re-evaluated per request: in-cluster tokens and exec plugins rotate credentials. */
  authHeaders(): Promise<Record<string, string>>;
}

const SERVICEACCOUNT_ROOT = '/var/run/secrets/kubernetes.io/serviceaccount';

interface Loaded {
  clusters: Cluster[];
  users: User[];
  contexts: Context[];
  currentContext?: string;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Where a Pod's ServiceAccount files are mounted (tests point it elsewhere). */
  serviceAccountRoot?: string;
}

/**
 * The access of `file`, or with no file: $KUBECONFIG (several files merged, as client-node does),
 * ~/.kube/config, in-cluster, then http://localhost:8080.
 */
export async function loadClusterAccess(file?: string, options: LoadOptions = {}): Promise<ClusterAccess> {
  const loaded = file
    ? loadFile(file)
    : loadDefault(options.env ?? process.env, options.serviceAccountRoot ?? SERVICEACCOUNT_ROOT);
  const context = loaded.contexts.find((candidate) => candidate.name === loaded.currentContext);
  const cluster = context && loaded.clusters.find((candidate) => candidate.name === context.cluster);
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const user =
    context.user === undefined ? undefined : loaded.users.find((candidate) => candidate.name === context.user);
  const provider = user?.authProvider as { name?: string } | undefined;
  if (cluster.proxyUrl || ['azure', 'gcp', 'oidc'].includes(provider?.name ?? '')) {
    const { KubeConfig } = await import('@kubernetes/client-node');
    const full = new KubeConfig();
    if (file) full.loadFromFile(file);
    else full.loadFromDefault();
    return accessFromKubeConfig(full);
  }
  return slimAccess(cluster, user);
}

/** The access of a client-node KubeConfig (the CLI and the tests hold one). */
export async function accessFromKubeConfig(kubeConfig: KubeConfig): Promise<ClusterAccess> {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const tls: https.RequestOptions = {};
  await kubeConfig.applyToHTTPSOptions(tls);
  const { ca, cert, key, rejectUnauthorized, servername } = tls;
  return {
    server: cluster.server,
    tls: { ca, cert, key, rejectUnauthorized, servername },
    authHeaders: async () => {
      const options: https.RequestOptions = {};
      await kubeConfig.applyToHTTPSOptions(options);
      return headersOf(options);
    },
  };
}

async function slimAccess(cluster: Cluster, user: User | undefined): Promise<ClusterAccess> {
  // KubeConfig's order: the first authenticator that claims the user (exec before a token file).
  const authenticator = user && [new ExecAuth(), new FileAuth()].find((candidate) => candidate.isAuthProvider(user));
  const apply = async (options: https.RequestOptions) => {
    if (!user) return;
    options.headers ??= {};
    if (user.impersonateUser != null)
      (options.headers as Record<string, string>)['Impersonate-User'] = user.impersonateUser;
    if (authenticator) await authenticator.applyAuthentication(user, options);
    if (user.token) (options.headers as Record<string, string>).Authorization = `Bearer ${user.token}`;
    if (user.username) options.auth = `${user.username}:${user.password}`;
  };
  const tls: ClusterAccess['tls'] = {};
  if (user) {
    if (cluster.skipTLSVerify) tls.rejectUnauthorized = false;
    if (cluster.tlsServerName) tls.servername = cluster.tlsServerName;
    const ca = fileOrData(cluster.caFile, cluster.caData);
    if (ca) tls.ca = ca;
    const cert = fileOrData(user.certFile, user.certData);
    if (cert) tls.cert = cert;
    const key = fileOrData(user.keyFile, user.keyData);
    if (key) tls.key = key;
    // An exec plugin may hand out a client certificate instead of a token.
    const first: https.RequestOptions = {};
    await apply(first);
    if (first.cert) tls.cert = first.cert as Buffer;
    if (first.key) tls.key = first.key as Buffer;
  }
  return {
    server: cluster.server,
    tls,
    authHeaders: async () => {
      const options: https.RequestOptions = {};
      await apply(options);
      return headersOf(options);
    },
  };
}

function headersOf(options: https.RequestOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries((options.headers ?? {}) as Record<string, unknown>)) {
    if (typeof value === 'string') headers[name] = value;
  }
  if (options.auth) headers.Authorization = `Basic ${Buffer.from(options.auth).toString('base64')}`;
  return headers;
}

function fileOrData(file: string | undefined, data: string | undefined): Buffer | undefined {
  if (file) return readFileSync(file);
  if (data) return Buffer.from(data, 'base64');
  return undefined;
}

function loadFile(file: string): Loaded {
  const text = readFileSync(file, 'utf8');
  const document = (yaml.load(text) ?? {}) as Record<string, unknown>;
  const root = path.dirname(file);
  const absolute = (name: string | undefined) => (name && !path.isAbsolute(name) ? path.join(root, name) : name);
  const clusters = newClusters(document.clusters).map((cluster) => ({ ...cluster, caFile: absolute(cluster.caFile) }));
  const users = newUsers(document.users).map((user) => ({
    ...user,
    certFile: absolute(user.certFile),
    keyFile: absolute(user.keyFile),
  }));
  return {
    clusters,
    users,
    contexts: newContexts(document.contexts),
    currentContext: document['current-context'] as string | undefined,
  };
}

function loadDefault(env: NodeJS.ProcessEnv, serviceAccountRoot: string): Loaded {
  if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(path.delimiter).filter((name) => name);
    const merged = loadFile(files[0]!);
    for (const file of files.slice(1)) {
      // client-node's merge: names must be unique across files; a later current-context wins
      const next = loadFile(file);
      if (next.currentContext) merged.currentContext = next.currentContext;
      for (const [list, more, kind] of [
        [merged.clusters, next.clusters, 'cluster'],
        [merged.users, next.users, 'user'],
        [merged.contexts, next.contexts, 'context'],
      ] as Array<[Array<{ name: string }>, Array<{ name: string }>, string]>) {
        for (const entry of more) {
          if (list.some((existing) => existing.name === entry.name))
            throw new Error(`Duplicate ${kind}: ${entry.name}`);
          list.push(entry);
        }
      }
    }
    return merged;
  }
  const home = env.HOME;
  if (home && exists(path.join(home, '.kube', 'config'))) return loadFile(path.join(home, '.kube', 'config'));
  if (exists(`${serviceAccountRoot}/token`)) return inCluster(env, serviceAccountRoot);
  return {
    clusters: [{ name: 'cluster', server: 'http://localhost:8080', skipTLSVerify: false }],
    users: [{ name: 'user' }],
    contexts: [{ name: 'loaded-context', cluster: 'cluster', user: 'user' }],
    currentContext: 'loaded-context',
  };
}

/** In a Pod: the service's address from the environment, the mounted CA and the (rotating) token file. */
function inCluster(env: NodeJS.ProcessEnv, root: string): Loaded {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '';
  const scheme = ['80', '8080', '8001'].includes(port) ? 'http' : 'https';
  const server = `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  return {
    clusters: [{ name: 'inCluster', caFile: `${root}/ca.crt`, server, skipTLSVerify: false }],
    users: [
      {
        name: 'inClusterUser',
        authProvider: { name: 'tokenFile', config: { tokenFile: `${root}/token` } },
      },
    ],
    contexts: [{ name: 'inClusterContext', cluster: 'inCluster', user: 'inClusterUser' }],
    currentContext: 'inClusterContext',
  };
}

function exists(file: string): boolean {
  try {
    accessSync(file);
    return true;
  } catch {
    return false;
  }
}
