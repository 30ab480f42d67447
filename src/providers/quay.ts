// quay: Quay robot account federation. The operator's own ServiceAccount token, requested through the
// API server's TokenRequest with the Quay host as audience, is sent as the password of robotAccount
// (HTTP basic auth) to GET https://{host}/oauth2/federation/robot/token, which answers
// {"token": "..."}: a short-lived robot token, written under the entry's server with the robot's
// name as username. The Quay server is the entry's server host (up to the first "/"): Quay serves its
// registry and its API on one host. The answer carries no expiry; when the token is a JWT its exp
// claim is used, else it is served and renewed on the short fixed interval (TokenExpiryUnknown).
// One token per (host, robot). Requests go over HTTPS only and never follow a redirect.
// Reasons: QuayFederationRefused (401/403: the robot has no federation config trusting this
// cluster's issuer and the operator's ServiceAccount), QuayRobotNotFound (404), QuayServiceAccountToken
// (the TokenRequest failed).
import type { Clock } from '../runtime/clock.js';
import { STANDARD_SCHEDULE } from './renewal.js';
import type { Token, TokenFetcher } from './token-cache.js';
import {
  asTokenRefreshError,
  tokenProvider,
  type TokenProviderDeps,
  tokenRefreshError,
  TokenRefreshError,
  withDeadline,
} from './token-provider.js';

export const QUAY_TOKEN_PATH = '/oauth2/federation/robot/token';

/** A ServiceAccount token of the operator for `audience` (TokenRequest); the port to the API server. */
export type ServiceAccountTokenSource = (audience: string, signal: AbortSignal) => Promise<string>;

export interface QuayContext {
  /** host[:port] of the Quay server. */
  host: string;
  robotAccount: string;
}

/** The Quay host of an entry: its server up to the first "/". */
export function quayHost(server: string): string {
  return server.split('/')[0]!;
}

/** The exp claim of a JWT as epoch ms, or undefined when `token` is no JWT with a numeric exp. */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' && Number.isFinite(payload.exp) ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export function quayError(status: number, body: string): TokenRefreshError {
  let detail = '';
  try {
    const parsed = JSON.parse(body) as { error?: unknown; error_message?: unknown };
    const said = parsed.error_message ?? parsed.error;
    if (typeof said === 'string') detail = `: ${said}`;
  } catch {
    // not JSON
  }
  const said = `Quay answered HTTP ${status}${detail}`;
  if (status === 401 || status === 403)
    return tokenRefreshError(
      'QuayFederationRefused',
      `${said} (the robot has no federation config trusting this cluster's issuer and the operator's ServiceAccount)`,
    );
  if (status === 404)
    return tokenRefreshError('QuayRobotNotFound', `${said} (no such robot, or this Quay has no robot federation)`);
  return tokenRefreshError(`QuayHTTP${status}`, said);
}

export interface QuayFetchDeps {
  clock: Clock;
  requestTimeoutMs: number;
  serviceAccountToken: ServiceAccountTokenSource;
  fetch?: typeof fetch;
}

export function quayTokenFetcher(deps: QuayFetchDeps): TokenFetcher<QuayContext> {
  const http = deps.fetch ?? fetch;
  return async (context): Promise<Token> => {
    try {
      return await withDeadline(deps.requestTimeoutMs, async (signal) => {
        let subject: string;
        try {
          subject = await deps.serviceAccountToken(context.host, signal);
        } catch (err) {
          throw tokenRefreshError(
            'QuayServiceAccountToken',
            `the operator's ServiceAccount token (audience ${context.host}) could not be requested: ` +
              (err as Error).message,
          );
        }
        const basic = Buffer.from(`${context.robotAccount}:${subject}`).toString('base64');
        let response: Response;
        try {
          response = await http(`https://${context.host}${QUAY_TOKEN_PATH}`, {
            headers: { authorization: `Basic ${basic}`, accept: 'application/json', 'user-agent': 'regcred-operator' },
            redirect: 'manual',
            signal,
          });
        } catch (err) {
          throw tokenRefreshError('QuayUnreachable', `no answer from ${context.host}: ${(err as Error).message}`);
        }
        const body = await response.text();
        if (!response.ok) throw quayError(response.status, body);
        let token: unknown;
        try {
          token = (JSON.parse(body) as { token?: unknown }).token;
        } catch {
          token = undefined;
        }
        if (typeof token !== 'string' || !token)
          throw new TokenRefreshError('QuayBadAnswer', `Quay answered HTTP ${response.status} without a token`);
        return { username: context.robotAccount, password: token, expiresAt: jwtExpiry(token) };
      });
    } catch (err) {
      throw asTokenRefreshError(err, (other) => tokenRefreshError('Error', (other as Error)?.message ?? String(other)));
    }
  };
}

export function quayProvider(
  deps: TokenProviderDeps & {
    requestTimeoutMs: number;
    serviceAccountToken?: ServiceAccountTokenSource;
    fetch?: TokenFetcher<QuayContext>;
    http?: typeof fetch;
  },
) {
  const serviceAccountToken: ServiceAccountTokenSource =
    deps.serviceAccountToken ??
    (() => Promise.reject(new Error('no TokenRequest client is configured for the operator')));
  return tokenProvider<'quay', QuayContext>(
    {
      kind: 'quay',
      issuer: 'Quay',
      schedule: STANDARD_SCHEDULE,
      sourceSecrets: () => [],
      plan({ server, source }) {
        const host = quayHost(server);
        return {
          key: `quay|${host}|${source.robotAccount}`,
          context: { host, robotAccount: source.robotAccount },
          operation: `the Quay robot federation of ${source.robotAccount} at ${host}`,
        };
      },
      fetch:
        deps.fetch ??
        quayTokenFetcher({
          clock: deps.clock,
          requestTimeoutMs: deps.requestTimeoutMs,
          serviceAccountToken,
          fetch: deps.http,
        }),
      failureReason: (error) =>
        /^Quay(FederationRefused|RobotNotFound|ServiceAccountToken)$/.test(error.code) ? error.code : undefined,
    },
    deps,
  );
}
