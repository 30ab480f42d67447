// github: a token for GitHub's Container registry (ghcr.io, or the entry's server), written under the
// entry's server. Two identities, exactly one per entry (the schema enforces it):
//   - a GitHub App: a JWT (RS256, iat 60 s in the past, exp 9 min after, iss = appId) signed with the
//     App's private key (key private-key.pem) is exchanged at
//     POST {apiUrl}/app/installations/{installationId}/access_tokens for an installation token with
//     packages:read, username x-access-token. Installation tokens live an hour; the standard schedule
//     renews them after 27-30 minutes. One token per (apiUrl, App, installation, key).
//   - a personal access token (classic) with read:packages (key token): GET {apiUrl}/user answers the
//     login (the docker username) and, in the header github-authentication-token-expiration, the
//     token's expiry, which goes into expiresAt and the expiry metric. A token without expiry is
//     checked again on the short fixed interval (TokenExpiryUnknown). One check per token.
// Requests go over HTTPS only and never follow a redirect. Errors keep GitHub's meaning as reasons:
// GitHubAppInstallationNotFound (404), GitHubAppKeyInvalid (a key that is no RSA PEM, or 401: the key
// does not match the App), GitHubAppPermissionDenied (403/422: packages:read not granted), GitHubTokenInvalid.
import { createPrivateKey, type KeyObject, sign } from 'node:crypto';
import { type EntryFailure, readSecretKeys, type SourceSecrets } from './provider.js';
import { STANDARD_SCHEDULE } from './renewal.js';
import type { Token, TokenFetcher } from './token-cache.js';
import {
  asTokenRefreshError,
  identityHash,
  tokenProvider,
  type TokenProviderDeps,
  tokenRefreshError,
  TokenRefreshError,
  withDeadline,
} from './token-provider.js';
import type { Clock } from '../runtime/clock.js';

export const GITHUB_API_URL = 'https://api.github.com';
export const GITHUB_APP_USERNAME = 'x-access-token';
export const PRIVATE_KEY_KEY = 'private-key.pem';
export const TOKEN_KEY = 'token';
export const EXPIRATION_HEADER = 'github-authentication-token-expiration';
/** GitHub refuses a JWT whose exp is more than 10 minutes after its iat; 60 s back for clock drift. */
export const JWT_BACKDATE_S = 60;
export const JWT_LIFETIME_S = 9 * 60;

/** What the fetcher needs. Holds a key or a token: never log it. */
export type GitHubContext =
  | { kind: 'app'; apiUrl: string; appId: string; installationId: string; key: KeyObject }
  | { kind: 'pat'; apiUrl: string; token: string };

type GitHubSource = {
  appId?: string;
  installationId?: string;
  privateKeySecretName?: string;
  tokenSecretName?: string;
  apiUrl?: string;
};

function keyInvalid(name: string, namespace: string, what: string): EntryFailure {
  return { ok: false, reason: 'GitHubAppKeyInvalid', message: `Secret ${namespace}/${name} ${what}` };
}

/** The token request of an entry, or why it cannot be made (nothing is sent then). Pure but for parsing the key. */
export function planGitHub(
  source: GitHubSource,
  secrets: SourceSecrets,
): { key: string; context: GitHubContext; operation: string } | EntryFailure {
  const apiUrl = (source.apiUrl ?? GITHUB_API_URL).replace(/\/+$/, '');
  if (source.tokenSecretName) {
    const read = readSecretKeys(secrets, source.tokenSecretName, [TOKEN_KEY]);
    if (!read.ok) return read;
    const token = read.values[TOKEN_KEY];
    return {
      key: `github|${apiUrl}|pat:${identityHash(source.tokenSecretName, token)}`,
      context: { kind: 'pat', apiUrl, token },
      operation: `the GitHub token check at ${apiUrl}`,
    };
  }
  const name = source.privateKeySecretName!;
  const read = readSecretKeys(secrets, name, [PRIVATE_KEY_KEY]);
  if (!read.ok) return read;
  const pem = read.values[PRIVATE_KEY_KEY];
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    return keyInvalid(name, secrets.namespace, `key "${PRIVATE_KEY_KEY}" is not a PEM private key`);
  }
  if (key.asymmetricKeyType !== 'rsa')
    return keyInvalid(
      name,
      secrets.namespace,
      `key "${PRIVATE_KEY_KEY}" is a ${key.asymmetricKeyType ?? 'non-asymmetric'} key; a GitHub App key is RSA`,
    );
  const { appId, installationId } = source as Required<Pick<GitHubSource, 'appId' | 'installationId'>>;
  return {
    key: `github|${apiUrl}|app:${appId}:${installationId}:${identityHash(name, pem)}`,
    context: { kind: 'app', apiUrl, appId, installationId, key },
    operation: `the GitHub App installation token request (App ${appId}, installation ${installationId})`,
  };
}

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** The App's JWT at `nowMs`: RS256, iat 60 s back, exp 9 min after now, iss = appId. */
export function appJwt(appId: string, key: KeyObject, nowMs: number): string {
  const now = Math.floor(nowMs / 1000);
  const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const payload = base64url(JSON.stringify({ iat: now - JWT_BACKDATE_S, exp: now + JWT_LIFETIME_S, iss: appId }));
  const signature = sign('sha256', Buffer.from(`${header}.${payload}`), key);
  return `${header}.${payload}.${base64url(signature)}`;
}

/**
 * github-authentication-token-expiration as epoch ms: GitHub writes "2026-03-01 12:00:00 UTC" (also
 * seen with a numeric offset, "+0000"); undefined when absent or not a date.
 */
export function parseExpirationHeader(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  const match = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})\s*(UTC|Z|[+-]\d{2}:?\d{2})?$/.exec(value.trim());
  if (!match) return undefined;
  let zone = match[3] ?? 'Z';
  if (zone === 'UTC') zone = 'Z';
  else if (/^[+-]\d{4}$/.test(zone)) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const ms = Date.parse(`${match[1]}T${match[2]}${zone}`);
  return Number.isFinite(ms) ? ms : undefined;
}

/** GitHub's answer to a failed request as a code (the condition reason) and a message without secrets. */
export function gitHubError(kind: GitHubContext['kind'], status: number, body: string): TokenRefreshError {
  let detail = '';
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (typeof parsed.message === 'string') detail = `: ${parsed.message}`;
  } catch {
    // not JSON: the status says enough
  }
  const said = `GitHub answered HTTP ${status}${detail}`;
  if (kind === 'pat') {
    if (status === 401)
      return tokenRefreshError('GitHubTokenInvalid', `${said} (the token is expired, revoked or wrong)`);
    return tokenRefreshError(`GitHubHTTP${status}`, said);
  }
  if (status === 404)
    return tokenRefreshError(
      'GitHubAppInstallationNotFound',
      `${said} (no such installation of this App: check installationId and appId)`,
    );
  if (status === 401)
    return tokenRefreshError(
      'GitHubAppKeyInvalid',
      `${said} (the JWT was refused: the key does not belong to this App)`,
    );
  if (status === 403 || status === 422)
    return tokenRefreshError(
      'GitHubAppPermissionDenied',
      `${said} (the installation does not grant packages:read, or it is suspended)`,
    );
  return tokenRefreshError(`GitHubHTTP${status}`, said);
}

export interface GitHubFetchDeps {
  clock: Clock;
  requestTimeoutMs: number;
  /** The HTTP client (injectable for tests); global fetch by default. */
  fetch?: typeof fetch;
}

export function gitHubTokenFetcher(deps: GitHubFetchDeps): TokenFetcher<GitHubContext> {
  const http = deps.fetch ?? fetch;
  return async (context): Promise<Token> => {
    try {
      return await withDeadline(deps.requestTimeoutMs, async (signal) => {
        const headers: Record<string, string> = {
          accept: 'application/vnd.github+json',
          'x-github-api-version': '2022-11-28',
          'user-agent': 'regcred-operator',
        };
        let response: Response;
        try {
          if (context.kind === 'app') {
            headers.authorization = `Bearer ${appJwt(context.appId, context.key, deps.clock.now())}`;
            headers['content-type'] = 'application/json';
            response = await http(
              `${context.apiUrl}/app/installations/${encodeURIComponent(context.installationId)}/access_tokens`,
              {
                method: 'POST',
                headers,
                body: JSON.stringify({ permissions: { packages: 'read' } }),
                redirect: 'manual',
                signal,
              },
            );
          } else {
            headers.authorization = `Bearer ${context.token}`;
            response = await http(`${context.apiUrl}/user`, { headers, redirect: 'manual', signal });
          }
        } catch (err) {
          throw tokenRefreshError('GitHubUnreachable', `no answer from ${context.apiUrl}: ${(err as Error).message}`);
        }
        const body = await response.text();
        if (!response.ok) throw gitHubError(context.kind, response.status, body);
        let json: Record<string, unknown>;
        try {
          json = JSON.parse(body) as Record<string, unknown>;
        } catch {
          throw new TokenRefreshError('GitHubBadAnswer', `GitHub answered HTTP ${response.status} without JSON`);
        }
        if (context.kind === 'app') {
          if (typeof json.token !== 'string' || !json.token)
            throw new TokenRefreshError('GitHubBadAnswer', 'GitHub answered without a token');
          const expiresAt = typeof json.expires_at === 'string' ? Date.parse(json.expires_at) : Number.NaN;
          return {
            username: GITHUB_APP_USERNAME,
            password: json.token,
            expiresAt: Number.isFinite(expiresAt) ? expiresAt : undefined,
          };
        }
        if (typeof json.login !== 'string' || !json.login)
          throw new TokenRefreshError('GitHubBadAnswer', 'GitHub answered /user without a login');
        return {
          username: json.login,
          password: context.token,
          expiresAt: parseExpirationHeader(response.headers.get(EXPIRATION_HEADER)),
        };
      });
    } catch (err) {
      throw asTokenRefreshError(err, (other) => tokenRefreshError('Error', (other as Error)?.message ?? String(other)));
    }
  };
}

export function githubProvider(
  deps: TokenProviderDeps & { requestTimeoutMs: number; fetch?: TokenFetcher<GitHubContext>; http?: typeof fetch },
) {
  return tokenProvider<'github', GitHubContext>(
    {
      kind: 'github',
      issuer: 'GitHub',
      schedule: STANDARD_SCHEDULE,
      sourceSecrets: (source) => [source.privateKeySecretName ?? source.tokenSecretName!].filter(Boolean),
      plan: ({ source }, secrets) => planGitHub(source, secrets),
      fetch:
        deps.fetch ??
        gitHubTokenFetcher({ clock: deps.clock, requestTimeoutMs: deps.requestTimeoutMs, fetch: deps.http }),
      failureReason: (error) => (/^GitHub(App|Token)/.test(error.code) ? error.code : undefined),
    },
    deps,
  );
}
