// gcp: a Google OAuth access token for Artifact Registry (<location>-docker.pkg.dev) and Container
// Registry (gcr.io, *.gcr.io), from google-auth-library, written under the entry's server with
// username oauth2accesstoken. The identity is either application default credentials (on GKE: the
// Workload Identity metadata server) or the key `credentials.json` of a Secret of the source
// namespace: a service account key or a workload identity federation config (external_account).
// One token per identity, shared by every registry host: the token is not tied to a host. Google
// tokens live an hour; the standard schedule renews them after 27-30 minutes. google-auth-library is
// loaded on the first token request.
import type { GoogleAuth } from 'google-auth-library';
import { type EntryFailure, invalid, readSecretKeys, type SourceSecrets } from './provider.js';
import { STANDARD_SCHEDULE } from './renewal.js';
import type { Token, TokenFetcher } from './token-cache.js';
import {
  asTokenRefreshError,
  ClientCache,
  credentialsSecret,
  identityHash,
  loadOnce,
  tokenProvider,
  type TokenProviderDeps,
  tokenRefreshError,
  TokenRefreshError,
  withDeadline,
} from './token-provider.js';

export const GCP_USERNAME = 'oauth2accesstoken';
/**
 * Read-only storage: enough to pull from Container Registry and Artifact Registry (the scope GKE
 * nodes pull with), and nothing more, since a copy of the token sits in every selected namespace.
 */
export const GCP_SCOPE = 'https://www.googleapis.com/auth/devstorage.read_only';
export const CREDENTIALS_KEY = 'credentials.json';

/** What the fetcher needs. `json` holds credentials: never log it. */
export type GcpContext = { kind: 'adc' } | { kind: 'json'; id: string; json: Record<string, unknown>; text: string };

/**
 * Reads and checks `credentials.json`: a service account key, or a workload identity federation
 * config whose endpoints are Google's (a config is code the operator runs: it must not send the
 * subject token it reads, e.g. a projected ServiceAccount token, anywhere else, nor run programs).
 */
export function parseGoogleCredentials(
  secretName: string,
  secrets: SourceSecrets,
): { identity: string; context: GcpContext } | EntryFailure {
  const read = readSecretKeys(secrets, secretName, [CREDENTIALS_KEY]);
  if (!read.ok) return read;
  const text = read.values[CREDENTIALS_KEY];
  const bad = (what: string) => invalid(secretName, secrets.namespace, `key "${CREDENTIALS_KEY}" ${what}`);
  let json: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return bad('is not a JSON object');
    json = parsed as Record<string, unknown>;
  } catch {
    return bad('is not valid JSON');
  }
  const str = (field: string) => (typeof json[field] === 'string' ? (json[field] as string) : undefined);
  if (json.type === 'service_account') {
    if (!str('client_email') || !str('private_key'))
      return bad('is a service account key without "client_email" or "private_key"');
    const id = `sa:${identityHash(secretName, str('client_email')!, str('private_key_id') ?? '')}`;
    return { identity: id, context: { kind: 'json', id, json, text } };
  }
  if (json.type === 'external_account') {
    if (!str('audience') || typeof json.credential_source !== 'object' || json.credential_source === null)
      return bad('is an external_account config without "audience" or "credential_source"');
    if ('executable' in (json.credential_source as object))
      return bad('uses an executable credential source, which the operator does not run');
    const universe = str('universe_domain') ?? 'googleapis.com';
    for (const field of ['token_url', 'service_account_impersonation_url', 'token_info_url']) {
      const url = str(field);
      if (url !== undefined && !isGoogleEndpoint(url, universe))
        return bad(`has a ${field} that is not an https endpoint of ${universe}`);
    }
    const id = `wif:${identityHash(secretName, str('audience')!, str('service_account_impersonation_url') ?? '')}`;
    return { identity: id, context: { kind: 'json', id, json, text } };
  }
  return bad(
    `has type ${JSON.stringify(json.type ?? null)}; expected "service_account" (a key) or "external_account" ` +
      '(workload identity federation)',
  );
}

function isGoogleEndpoint(url: string, universe: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' && (parsed.hostname === universe || parsed.hostname.endsWith(`.${universe}`));
  } catch {
    return false;
  }
}

export function gcpProvider(deps: TokenProviderDeps & { requestTimeoutMs: number; fetch?: TokenFetcher<GcpContext> }) {
  return tokenProvider<'gcp', GcpContext>(
    {
      kind: 'gcp',
      issuer: 'Google',
      schedule: STANDARD_SCHEDULE,
      sourceSecrets: credentialsSecret,
      plan({ source }, secrets) {
        if (!source.credentialsSecretName)
          return { key: 'gcp|adc', context: { kind: 'adc' }, operation: 'the Google access token request' };
        const parsed = parseGoogleCredentials(source.credentialsSecretName, secrets);
        if ('ok' in parsed) return parsed;
        return {
          key: `gcp|${parsed.identity}`,
          context: parsed.context,
          operation: 'the Google access token request',
        };
      },
      fetch: deps.fetch ?? googleTokenFetcher(deps.requestTimeoutMs),
    },
    deps,
  );
}

/**
 * google-auth-library's clients, one per identity. They cache tokens and renew them only shortly
 * before expiry; the token cache decides when to renew, so every call asks for a fresh token
 * (eagerRefreshThresholdMillis longer than any token's life).
 */
export function googleTokenFetcher(requestTimeoutMs: number): TokenFetcher<GcpContext> {
  const clients = new ClientCache<GoogleAuth>();
  const options = { scopes: [GCP_SCOPE], clientOptions: { eagerRefreshThresholdMillis: 24 * 3_600_000 } };
  const library = loadOnce(() => import('google-auth-library'));
  return async (context): Promise<Token> => {
    try {
      const { GoogleAuth } = await library();
      const auth =
        context.kind === 'adc'
          ? clients.get('adc', '', () => new GoogleAuth(options))
          : clients.get(context.id, context.text, () => new GoogleAuth({ ...options, credentials: context.json }));
      return await withDeadline(requestTimeoutMs, async () => {
        const client = await auth.getClient();
        const { token } = await client.getAccessToken();
        if (!token) throw new TokenRefreshError('EmptyAccessToken', 'Google returned no access token');
        const expiry = client.credentials.expiry_date;
        return { username: GCP_USERNAME, password: token, expiresAt: typeof expiry === 'number' ? expiry : undefined };
      });
    } catch (err) {
      throw asTokenRefreshError(err, toGoogleError);
    }
  };
}

/** A google-auth-library / gaxios error as code + message: the OAuth or API error code where Google gave one. */
export function toGoogleError(err: unknown): TokenRefreshError {
  const details = err as {
    message?: string;
    code?: string | number;
    status?: number;
    response?: { status?: number; data?: unknown };
  };
  const status = details?.response?.status ?? details?.status;
  const data = details?.response?.data as
    { error?: string | { status?: string; message?: string }; error_description?: string } | undefined;
  let message = String(details?.message ?? err);
  let code: string;
  if (typeof data?.error === 'string') {
    code = data.error; // OAuth: invalid_grant, invalid_scope, unauthorized_client, ...
    if (data.error_description) message = data.error_description;
  } else if (typeof data?.error === 'object' && data.error?.status) {
    code = data.error.status; // Google APIs (STS, IAM credentials): PERMISSION_DENIED, ...
    message = data.error.message ?? message;
  } else if (/Could not load the default credentials/.test(message)) code = 'NoDefaultCredentials';
  else if (status) code = `HTTP${status}`;
  else code = typeof details?.code === 'string' ? details.code : 'Error';
  if (status && !message.includes(String(status))) message = `${message} (HTTP ${status})`;
  return tokenRefreshError(code, message);
}
