// A stand-in for GitLab's deploy token API (GitLab cannot be run on this machine), on loopback, over
// HTTPS with a certificate from a throwaway CA (or plain HTTP for unit tests). It implements exactly
// the GitLab REST API v4 endpoints the gitlab provider uses, with GitLab's request and response
// shapes and error bodies ({"message": "404 Project Not Found"}):
//   POST/GET /api/v4/{projects,groups}/:id/deploy_tokens, DELETE /api/v4/{projects,groups}/:id/deploy_tokens/:token_id
// `:id` is a numeric id or the URL-encoded full path. Callers authenticate with the PRIVATE-TOKEN
// header: an access token with the api scope and the Maintainer role on the project (or on a group
// above it) may manage its deploy tokens; a known token without them gets 403; an unknown one 401;
// a project or group that does not exist (or that the token cannot see) 404, as GitLab answers.
// Each deploy token it creates becomes a real user of a REAL registry: it is added to the users of
// its token server (token-server.ts) with pull access to the repositories of
// its project or group ("group/app" and "group/app/*"), and removed when the deploy token is deleted.
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { testEnv } from '../../harness/controlplane.js';
import { createCertificateAuthority, issueServerCertificate } from '../../harness/tls.js';
import type { TokenServer } from './token-server.js';

export interface StandInDeployToken {
  id: number;
  name: string;
  username: string;
  token: string;
  expires_at: string | null;
  revoked: boolean;
  scopes: string[];
  /** "project:group/app" or "group:group". */
  owner: string;
}

export interface GitLabAccessToken {
  token: string;
  /** Scopes of the access token; managing deploy tokens needs "api". */
  scopes: string[];
  /** Full paths of the projects and groups on which it has the Maintainer role (a group covers its projects). */
  maintainerOf: string[];
}

export interface GitLabStandIn {
  url: string;
  /** The CA of its certificate (NODE_EXTRA_CA_CERTS of the operator), when served over HTTPS. */
  caFile?: string;
  tokens: Map<number, StandInDeployToken>;
  /** The secret of every deploy token it ever created, deleted ones included (none may be reported). */
  issued: string[];
  /** Deploy token API requests answered, by method ("POST", "GET", "DELETE"). */
  requests: Record<string, number>;
  /** While true every request is answered 503 (GitLab down). */
  down: boolean;
  /** Adds a deploy token nobody but the test owns (it must never be touched). */
  addForeignToken(owner: string, name: string): StandInDeployToken;
  /** Runs before a DELETE is carried out and answered (a test looks at the world at that moment). */
  beforeDelete?: (token: StandInDeployToken) => Promise<void>;
  /** Revokes a deploy token by hand (GitLab's UI): it stays listed as revoked and stops working. */
  revokeByHand(id: number): void;
  stop(): Promise<void>;
}

export interface GitLabStandInOptions {
  accessTokens: GitLabAccessToken[];
  projects: Array<{ id: number; path: string }>;
  groups: Array<{ id: number; path: string }>;
  /** The registry's token server: deploy tokens with read_registry are its users until revoked. */
  tokenServer: Pick<TokenServer, 'addUser' | 'removeUser'>;
  /** HTTPS (default) or plain HTTP. */
  tls?: boolean;
}

const message = (status: number, text: string) => ({ status, json: { message: text } });

const SCOPES = [
  'read_repository',
  'read_registry',
  'write_registry',
  'read_package_registry',
  'write_package_registry',
];

export async function startGitLabStandIn(opts: GitLabStandInOptions): Promise<GitLabStandIn> {
  const tokens = new Map<number, StandInDeployToken>();
  const issued: string[] = [];
  const requests: Record<string, number> = {};
  let nextId = 1;
  const pathOf = (owner: string) => owner.slice(owner.indexOf(':') + 1);
  const grant = (token: StandInDeployToken) => {
    if (token.scopes.includes('read_registry'))
      opts.tokenServer.addUser({
        username: token.username,
        password: token.token,
        pull: [pathOf(token.owner), `${pathOf(token.owner)}/*`],
      });
  };
  const ungrant = (token: StandInDeployToken) => opts.tokenServer.removeUser(token.username, token.token);
  const create = (
    owner: string,
    fields: { name: string; username?: string; expires_at?: string; scopes: string[] },
  ) => {
    const id = nextId++;
    const token: StandInDeployToken = {
      id,
      name: fields.name,
      username: fields.username || `gitlab+deploy-token-${id}`,
      token: `gldt-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`,
      expires_at: fields.expires_at ? new Date(fields.expires_at).toISOString() : null,
      revoked: false,
      scopes: fields.scopes,
      owner,
    };
    tokens.set(id, token);
    issued.push(token.token);
    grant(token);
    return token;
  };
  const expired = (token: StandInDeployToken) =>
    token.expires_at !== null && Date.parse(token.expires_at) <= Date.now();
  const view = (token: StandInDeployToken) => {
    const { token: _secret, owner: _owner, ...listed } = token;
    return { ...listed, expired: expired(token) };
  };

  const state: GitLabStandIn = {
    url: '',
    tokens,
    issued,
    requests,
    down: false,
    addForeignToken: (owner, name) => create(owner, { name, scopes: ['read_registry'] }),
    revokeByHand(id) {
      const token = tokens.get(id);
      if (!token) return;
      token.revoked = true;
      ungrant(token);
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const answer = async (req: http.IncomingMessage, body: string): Promise<{ status: number; json?: unknown }> => {
    const url = new URL(req.url ?? '/', 'http://gitlab');
    const method = req.method ?? 'GET';
    // The raw path keeps %2F inside :id, as GitLab's router does.
    const route = /^\/api\/v4\/(projects|groups)\/([^/]+)\/deploy_tokens(?:\/(\d+))?$/.exec(url.pathname);
    if (!route) return message(404, '404 Not Found');
    requests[method] = (requests[method] ?? 0) + 1;
    if (state.down) return message(503, '503 Service Unavailable');
    const access = opts.accessTokens.find((t) => t.token === req.headers['private-token']);
    if (!access) return message(401, '401 Unauthorized');
    const [, collection, rawId, tokenId] = route;
    const kind = collection === 'projects' ? 'project' : 'group';
    const id = decodeURIComponent(rawId!);
    const found = (kind === 'project' ? opts.projects : opts.groups).find((x) => String(x.id) === id || x.path === id);
    if (!found) return message(404, `404 ${kind === 'project' ? 'Project' : 'Group'} Not Found`);
    const maintainer = access.maintainerOf.some((p) => found.path === p || found.path.startsWith(`${p}/`));
    if (!access.scopes.includes('api')) return message(403, '403 Forbidden - insufficient_scope');
    if (!maintainer) return message(403, '403 Forbidden');
    const owner = `${kind}:${found.path}`;
    if (method === 'POST' && tokenId === undefined) {
      let fields: { name?: unknown; username?: unknown; expires_at?: unknown; scopes?: unknown };
      try {
        fields = JSON.parse(body) as typeof fields;
      } catch {
        return { status: 400, json: { error: 'body is not valid JSON' } };
      }
      if (typeof fields.name !== 'string' || !fields.name) return { status: 400, json: { error: 'name is missing' } };
      if (!Array.isArray(fields.scopes) || fields.scopes.length === 0)
        return { status: 400, json: { error: 'scopes is missing' } };
      if (fields.scopes.some((s) => !SCOPES.includes(String(s))))
        return { status: 400, json: { error: 'scopes does not have a valid value' } };
      if (fields.expires_at !== undefined && Number.isNaN(Date.parse(String(fields.expires_at))))
        return { status: 400, json: { error: 'expires_at is invalid' } };
      const username = fields.username === undefined ? undefined : String(fields.username);
      if (username && !/^[a-zA-Z0-9_.+-]+$/.test(username))
        return { status: 400, json: { message: { username: ['can contain only letters, digits, _, -, + and .'] } } };
      if (username && [...tokens.values()].some((t) => t.username === username))
        return { status: 400, json: { message: { username: ['has already been taken'] } } };
      const token = create(owner, {
        name: fields.name,
        username,
        expires_at: fields.expires_at === undefined ? undefined : String(fields.expires_at),
        scopes: fields.scopes.map(String),
      });
      return { status: 201, json: { ...view(token), token: token.token } };
    }
    if (method === 'GET' && tokenId === undefined) {
      const page = Number(url.searchParams.get('page') ?? 1);
      const size = Math.min(100, Number(url.searchParams.get('per_page') ?? 20));
      const listed = [...tokens.values()].filter((t) => t.owner === owner);
      return { status: 200, json: listed.slice((page - 1) * size, page * size).map(view) };
    }
    if (method === 'DELETE' && tokenId !== undefined) {
      const token = tokens.get(Number(tokenId));
      if (!token || token.owner !== owner) return message(404, '404 Not found');
      await state.beforeDelete?.(token);
      ungrant(token);
      tokens.delete(token.id);
      return { status: 204 };
    }
    return message(405, '405 Method Not Allowed');
  };

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void answer(req, Buffer.concat(chunks).toString('utf8'))
        .catch((err: unknown) => ({ status: 500, json: { message: `500 stand-in failed: ${String(err)}` } }))
        .then(({ status, json }) => {
          res.writeHead(status, json === undefined ? {} : { 'content-type': 'application/json' });
          res.end(json === undefined ? '' : JSON.stringify(json));
        });
    });
  };
  let server: http.Server;
  if (opts.tls === false) {
    server = http.createServer(handler);
  } else {
    const ca = await createCertificateAuthority(path.join(testEnv().dir, `gitlab-${process.pid}-${Date.now()}`));
    const { cert, key } = await issueServerCertificate(ca, 'gitlab', ['127.0.0.1']);
    server = https.createServer({ cert, key }, handler);
    state.caFile = ca.caFile;
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `${opts.tls === false ? 'http' : 'https'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}
