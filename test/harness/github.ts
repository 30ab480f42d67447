// A stand-in for the two GitHub REST endpoints the github provider calls (see stand-ins.ts), served
// over HTTPS on loopback; the operator is pointed at it by github.apiUrl:
// - POST /app/installations/{installation_id}/access_tokens ("Create an installation access token
//   for an app"): the bearer JWT is checked as GitHub documents for App JWTs ("Generating a JSON
//   Web Token (JWT) for a GitHub App"): RS256, signed with the private key of the App named by
//   `iss` (verified with the App's public key), `iat` not in the future (60 s of drift allowed),
//   `exp` in the future and at most 10 minutes after `iat`. Unknown App or bad JWT: 401; an
//   installation that is not the App's: 404; permissions beyond the installation's: 422. Answers 201
//   {token, expires_at, permissions}.
// - GET /user with a personal access token: 200 {login} and, for a token with an expiry, the header
//   github-authentication-token-expiration ("YYYY-MM-DD HH:MM:SS UTC"); an unknown token: 401.
// Every credential handed out is registered as a user of the test's token-auth registry (token
// server), with its expiry, so a real registry accepts it until then and refuses it after.
import { createPublicKey, type KeyObject, randomBytes, verify } from 'node:crypto';
import { startHttpsStandIn, type StandInAnswer, type StandInRequest } from './stand-ins.js';
import type { TokenServer } from './token-server.js';

const DOCS = 'https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app';

export interface Installation {
  /** Repositories (registry paths) the installation's packages cover. */
  repositories: string[];
  /** The installation's packages permission (GitHub refuses to grant more). Default read. */
  packages?: 'read' | 'none';
}

export interface IssuedGitHubToken {
  token: string;
  expiresAt: number;
}

export interface GitHubStandIn {
  /** https://127.0.0.1:PORT: the github.apiUrl of the tests. */
  apiUrl: string;
  /** An App: its public key and its installations by id. */
  addApp(appId: string, publicKey: KeyObject | string, installations: Record<string, Installation>): void;
  /** A personal access token of `login`, with its expiry (epoch ms) or none. */
  addPersonalAccessToken(token: string, login: string, repositories: string[], expiresAt?: number): void;
  /** The lifetime of installation tokens issued from now on (GitHub's: an hour). */
  setInstallationTokenLifetime(seconds: number): void;
  /** Installation tokens issued to (App, installation), in order. */
  installationTokens(appId: string, installationId: string): IssuedGitHubToken[];
  /** Requests with a valid JWT per "app:<appId>:<installationId>" (unknown installations included) or "pat:<login>". */
  requests(identity: string): number;
  /** What was refused, in order: status and GitHub's message. */
  refusals: Array<{ status: number; message: string }>;
  stop(): Promise<void>;
}

function jsonOf(part: string | undefined): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8')) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function githubTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

export async function startGitHubStandIn(opts: {
  tls: { cert: string; key: string };
  tokenServer: TokenServer;
}): Promise<GitHubStandIn> {
  const apps = new Map<string, { publicKey: KeyObject; installations: Record<string, Installation> }>();
  const pats = new Map<string, { login: string; expiresAt?: number }>();
  const issued = new Map<string, IssuedGitHubToken[]>();
  const counts = new Map<string, number>();
  const refusals: GitHubStandIn['refusals'] = [];
  let lifetimeS = 3600;
  const count = (identity: string) => counts.set(identity, (counts.get(identity) ?? 0) + 1);
  const refuse = (status: number, message: string, documentation_url = DOCS): StandInAnswer => {
    refusals.push({ status, message });
    return { status, json: { message, documentation_url, status: String(status) } };
  };

  /** The App a bearer JWT authenticates, or GitHub's 401. */
  function appOf(authorization: string | undefined): { appId: string } | { refused: StandInAnswer } {
    const jwt = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
    const [header, payload, signature] = jwt?.split('.') ?? [];
    const h = jsonOf(header);
    const claims = jsonOf(payload);
    if (!jwt || !h || !claims || signature === undefined || h.alg !== 'RS256')
      return { refused: refuse(401, 'A JSON web token could not be decoded') };
    const appId = String(claims.iss ?? '');
    const app = apps.get(appId);
    if (!app) return { refused: refuse(401, 'Integration not found') };
    const signed = verify(
      'sha256',
      Buffer.from(`${header}.${payload}`),
      app.publicKey,
      Buffer.from(signature, 'base64url'),
    );
    if (!signed) return { refused: refuse(401, 'A JSON web token could not be decoded') };
    const now = Math.floor(Date.now() / 1000);
    const { iat, exp } = claims;
    if (typeof iat !== 'number' || iat > now + 60)
      return {
        refused: refuse(
          401,
          "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
        ),
      };
    if (typeof exp !== 'number' || exp <= now)
      return {
        refused: refuse(401, "'Expiration time' claim ('exp') must be a numeric value representing the future time"),
      };
    if (exp - iat > 600) return { refused: refuse(401, "'Expiration time' claim ('exp') is too far in the future") };
    return { appId };
  }

  function accessToken(req: StandInRequest, installationId: string): StandInAnswer {
    const app = appOf(req.headers.authorization);
    if ('refused' in app) return app.refused;
    count(`app:${app.appId}:${installationId}`);
    const installation = apps.get(app.appId)!.installations[installationId];
    if (!installation) return refuse(404, 'Not Found');
    let asked: Record<string, string> = {};
    try {
      asked = (JSON.parse(req.body || '{}') as { permissions?: Record<string, string> }).permissions ?? {};
    } catch {
      return refuse(400, 'Problems parsing JSON');
    }
    if (asked.packages && (installation.packages ?? 'read') === 'none')
      return refuse(422, 'The permissions requested are not granted to this installation.');
    const token = `ghs_${randomBytes(18).toString('base64url')}`;
    const expiresAt = Date.now() + lifetimeS * 1000;
    const key = `${app.appId}:${installationId}`;
    issued.set(key, [...(issued.get(key) ?? []), { token, expiresAt }]);
    opts.tokenServer.addUser({
      username: 'x-access-token',
      password: token,
      pull: installation.repositories,
      expiresAt,
    });
    return {
      status: 201,
      json: {
        token,
        expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        permissions: { packages: 'read' },
        repository_selection: 'all',
      },
    };
  }

  function user(req: StandInRequest): StandInAnswer {
    const token = /^(?:Bearer|token) (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const pat = token === undefined ? undefined : pats.get(token);
    if (!pat) return refuse(401, 'Bad credentials', 'https://docs.github.com/rest');
    count(`pat:${pat.login}`);
    return {
      status: 200,
      json: { login: pat.login, id: 1, type: 'User' },
      headers:
        pat.expiresAt === undefined ? {} : { 'github-authentication-token-expiration': githubTime(pat.expiresAt) },
    };
  }

  const server = await startHttpsStandIn(opts.tls, (req) => {
    if (!req.headers['user-agent'])
      return refuse(
        403,
        'Request forbidden by administrative rules. Please make sure your request has a User-Agent header',
      );
    const installation = /^\/app\/installations\/([^/]+)\/access_tokens$/.exec(req.path);
    if (installation && req.method === 'POST') return accessToken(req, decodeURIComponent(installation[1]!));
    if (req.path === '/user' && req.method === 'GET') return user(req);
    return undefined;
  });
  return {
    apiUrl: server.url,
    addApp(appId, publicKey, installations) {
      apps.set(appId, {
        publicKey: typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey,
        installations,
      });
    },
    addPersonalAccessToken(token, login, repositories, expiresAt) {
      pats.set(token, { login, expiresAt });
      opts.tokenServer.addUser({ username: login, password: token, pull: repositories, expiresAt });
    },
    setInstallationTokenLifetime: (seconds) => void (lifetimeS = seconds),
    installationTokens: (appId, installationId) => issued.get(`${appId}:${installationId}`) ?? [],
    requests: (identity) => counts.get(identity) ?? 0,
    refusals,
    stop: () => server.stop(),
  };
}
