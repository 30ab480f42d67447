// acr: an Azure Container Registry refresh token, written under the entry's server with username
// 00000000-0000-0000-0000-000000000000. Two steps: an Entra ID access token for the registry
// audience from @azure/identity (a client secret from a Secret of the source namespace, else
// workload identity, then managed identity), exchanged at the registry's `POST /oauth2/exchange`
// for an ACR refresh token. One token per (registry, identity): ACR refresh tokens are issued for
// one registry. The exchange honours HTTPS_PROXY/NO_PROXY like the Azure SDK (it uses the SDK's
// HTTP pipeline), never follows a redirect and goes over HTTPS only. The Azure SDK is loaded on the
// first token request.
import type { TokenCredential } from '@azure/identity';
import { readSecretKeys } from './provider.js';
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

export const ACR_USERNAME = '00000000-0000-0000-0000-000000000000';
/** Entra ID tokens for ACR's own audience (accepted also where a registry disables ARM-audience tokens). */
export const ACR_SCOPE = 'https://containerregistry.azure.net/.default';
export const CLIENT_SECRET_KEY = 'clientSecret';

/** What the fetcher needs for one token. Holds a client secret: never log it. */
export interface AcrContext {
  /** The registry's login server, host[:port] (the entry's server without a path). */
  registry: string;
  identity: string;
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
}

/** The login server of an entry: its server up to the first "/". */
export function acrLoginServer(server: string): string {
  return server.split('/')[0]!;
}

export function acrProvider(deps: TokenProviderDeps & { requestTimeoutMs: number; fetch?: TokenFetcher<AcrContext> }) {
  return tokenProvider<'acr', AcrContext>(
    {
      kind: 'acr',
      issuer: 'ACR',
      schedule: STANDARD_SCHEDULE,
      sourceSecrets: credentialsSecret,
      plan({ server, source }, secrets) {
        const registry = acrLoginServer(server);
        const { tenantId, clientId, credentialsSecretName } = source;
        let identity = `default:${tenantId ?? ''}:${clientId ?? ''}`;
        let clientSecret: string | undefined;
        if (credentialsSecretName) {
          const read = readSecretKeys(secrets, credentialsSecretName, [CLIENT_SECRET_KEY]);
          if (!read.ok) return read;
          clientSecret = read.values[CLIENT_SECRET_KEY];
          identity = `secret:${identityHash(credentialsSecretName, tenantId ?? '', clientId ?? '')}`;
        }
        return {
          key: `acr|${registry}|${identity}`,
          context: { registry, identity, tenantId, clientId, clientSecret },
          operation: `the ACR token exchange with ${registry}`,
        };
      },
      fetch: deps.fetch ?? acrTokenFetcher(deps.requestTimeoutMs),
    },
    deps,
  );
}

/**
 * The Entra ID credential of an identity: a client secret, or the default chain of a pod in AKS —
 * workload identity (AZURE_FEDERATED_TOKEN_FILE, injected by the workload identity webhook), then
 * managed identity. Developer tools (Azure CLI, PowerShell) are left out on purpose.
 */
function credentialFor(identity: typeof import('@azure/identity'), context: AcrContext): TokenCredential {
  const { ChainedTokenCredential, ClientSecretCredential, ManagedIdentityCredential, WorkloadIdentityCredential } =
    identity;
  if (context.clientSecret) {
    return new ClientSecretCredential(context.tenantId ?? '', context.clientId ?? '', context.clientSecret);
  }
  const ids = {
    ...(context.tenantId ? { tenantId: context.tenantId } : {}),
    ...(context.clientId ? { clientId: context.clientId } : {}),
  };
  const chain: TokenCredential[] = [];
  try {
    chain.push(new WorkloadIdentityCredential(ids));
  } catch (err) {
    // Not configured (no AZURE_FEDERATED_TOKEN_FILE, tenant or client): the constructor says so; skip it.
    if ((err as Error)?.name !== 'CredentialUnavailableError') throw err;
  }
  chain.push(new ManagedIdentityCredential(context.clientId ? { clientId: context.clientId } : {}));
  return new ChainedTokenCredential(...chain);
}

export function acrTokenFetcher(requestTimeoutMs: number): TokenFetcher<AcrContext> {
  const credentials = new ClientCache<TokenCredential>();
  const sdk = loadOnce(async () => {
    const identity = await import('@azure/identity');
    const rest = await import('@azure/core-rest-pipeline');
    // The Azure SDK's pipeline: proxy settings from the environment, TLS, no retries (the token cache
    // retries with its own backoff) and no redirects (the Entra token goes to this registry only).
    const pipeline = rest.createPipelineFromOptions({
      retryOptions: { maxRetries: 0 },
      redirectOptions: { maxRetries: 0 },
      userAgentOptions: { userAgentPrefix: 'regcred-operator' },
    });
    return { identity, rest, pipeline, httpClient: rest.createDefaultHttpClient() };
  });

  const exchange = async (context: AcrContext, accessToken: string, abortSignal: AbortSignal): Promise<string> => {
    const { rest, pipeline, httpClient } = await sdk();
    const { createHttpHeaders, createPipelineRequest } = rest;
    const tenant = context.tenantId ?? process.env.AZURE_TENANT_ID;
    const form = new URLSearchParams({
      grant_type: 'access_token',
      service: context.registry,
      access_token: accessToken,
      ...(tenant ? { tenant } : {}),
    });
    const response = await pipeline.sendRequest(
      httpClient,
      createPipelineRequest({
        url: `https://${context.registry}/oauth2/exchange`,
        method: 'POST',
        headers: createHttpHeaders({ 'content-type': 'application/x-www-form-urlencoded' }),
        body: form.toString(),
        abortSignal,
        timeout: requestTimeoutMs,
      }),
    );
    let body: { refresh_token?: unknown; errors?: Array<{ code?: string; message?: string }> } = {};
    try {
      body = JSON.parse(response.bodyAsText ?? '{}') as typeof body;
    } catch {
      // not JSON: described by the status below
    }
    if (response.status !== 200 || typeof body.refresh_token !== 'string') {
      const first = body.errors?.[0];
      const code = first?.code ?? `HTTP${response.status}`;
      const what = first?.message ?? (response.status === 200 ? 'the answer has no refresh_token' : 'no error text');
      throw tokenRefreshError(code, `POST /oauth2/exchange: ${what} (HTTP ${response.status})`);
    }
    return body.refresh_token;
  };

  return async (context): Promise<Token> => {
    try {
      const { identity } = await sdk();
      const credential = credentials.get(
        `${context.identity}|${context.tenantId ?? ''}|${context.clientId ?? ''}`,
        context.clientSecret ?? '',
        () => credentialFor(identity, context),
      );
      return await withDeadline(requestTimeoutMs, async (abortSignal) => {
        const entra = await credential.getToken(ACR_SCOPE, { abortSignal });
        if (!entra?.token) throw new TokenRefreshError('EmptyAccessToken', 'Entra ID returned no access token');
        const refreshToken = await exchange(context, entra.token, abortSignal);
        return { username: ACR_USERNAME, password: refreshToken, expiresAt: jwtExpiry(refreshToken) };
      });
    } catch (err) {
      throw asTokenRefreshError(err, toAzureError);
    }
  };
}

/** The `exp` of a JWT in epoch ms, read without verifying it (the registry verifies it); undefined if none. */
export function jwtExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** An @azure/identity error as code + message: the AADSTS code where Entra ID gave one. */
export function toAzureError(err: unknown): TokenRefreshError {
  const details = err as {
    name?: string;
    message?: string;
    code?: string;
    statusCode?: number;
    errorResponse?: { error?: string; errorDescription?: string };
    errors?: unknown[];
  };
  const message = String(details?.message ?? err);
  if (details?.name === 'AggregateAuthenticationError' || details?.name === 'CredentialUnavailableError') {
    // Every credential of the chain was unavailable (no workload identity, no managed identity).
    const errors = (details.errors ?? []) as Array<{ name?: string; message?: string }>;
    const failed = errors.find((error) => error?.name !== 'CredentialUnavailableError');
    if (failed) return toAzureError(failed);
    // Each credential says why it is unavailable: their reasons, first lines only.
    const reasons =
      errors.length > 0 ? errors.map((error) => String(error?.message).split('\n')[0]).join('; ') : message;
    return tokenRefreshError('CredentialUnavailable', reasons);
  }
  const aadsts = /\b(AADSTS\d+)\b/.exec(details?.errorResponse?.errorDescription ?? message)?.[1];
  const code =
    aadsts ??
    details?.errorResponse?.error ??
    (details?.statusCode ? `HTTP${details.statusCode}` : undefined) ??
    (details?.code && details.code !== 'Error' ? details.code : undefined) ??
    (details?.name && details.name !== 'Error' ? details.name : 'Error');
  return tokenRefreshError(code, message);
}
