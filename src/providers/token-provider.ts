// What every token provider (ecr, ecrPublic, gcp, acr) shares: a TokenCache of its own (one request
// per identity per renewal, shared by every RegistryCredential), its declared renewal schedule, and
// turning the cache's answer into an EntryResult with the same status language for all of them
// (TokenRefreshFailed with the provider's error code, what is still served, TokenExpiryUnknown).
// A provider module only says how an entry becomes a token request (plan) and how a request is
// answered (fetch).
import { createHash } from 'node:crypto';
import { iso, type SourceKind } from '../api/v1alpha1.js';
import { authEntry } from '../dockerconfig.js';
import type { Clock } from '../runtime/clock.js';
import type { EntryFailure, EntryResult, Provider, SourceOf, SourceSecrets } from './provider.js';
import { hasReliableExpiry, type RenewalSchedule } from './renewal.js';
import {
  isExpired,
  TokenCache,
  type TokenFetcher,
  TokenRefreshError,
  type TokenRequest,
  tokenRefreshError,
} from './token-cache.js';

export interface TokenProviderDeps {
  clock: Clock;
  /** Uniform in [0, 1): the jitter of renewals and retries (injectable for tests). */
  random?: () => number;
  /** Called once per request to a provider (for metrics and logs). */
  onRenewal?: (provider: SourceKind, result: 'success' | 'failure', error?: TokenRefreshError) => void;
}

export interface TokenPlan<C> extends TokenRequest<C> {
  /** What is asked, for messages: "GetAuthorizationToken in eu-west-1", "the ACR token exchange". */
  operation: string;
}

export interface TokenProviderDefinition<K extends SourceKind, C> {
  kind: K;
  /** Who issues the tokens, for messages: "ECR", "Google", "ACR". */
  issuer: string;
  schedule: RenewalSchedule;
  sourceSecrets(source: SourceOf<K>): string[];
  /** The token request for an entry, or why the entry cannot be served (then nothing is requested). */
  plan(entry: { server: string; source: SourceOf<K> }, secrets: SourceSecrets): TokenPlan<C> | EntryFailure;
  fetch: TokenFetcher<C>;
  /**
   * The condition reason of a failed request, when the provider's error code names one (e.g.
   * GitHubAppInstallationNotFound); TokenRefreshFailed otherwise.
   */
  failureReason?(error: TokenRefreshError): string | undefined;
}

export interface TokenProvider<K extends SourceKind, C> extends Provider<K> {
  readonly cache: TokenCache<C>;
}

export function tokenProvider<K extends SourceKind, C>(
  definition: TokenProviderDefinition<K, C>,
  deps: TokenProviderDeps,
): TokenProvider<K, C> {
  const cache = new TokenCache<C>({
    clock: deps.clock,
    random: deps.random,
    schedule: definition.schedule,
    fetch: definition.fetch,
    onResult: (result, error) => deps.onRenewal?.(definition.kind, result, error),
  });
  return {
    kind: definition.kind,
    servers: 'named',
    cache,
    sourceSecrets: (source) => definition.sourceSecrets(source),
    async resolve({ server, source }, { secrets, refreshIntervalMs }): Promise<EntryResult> {
      const plan = definition.plan({ server: server!, source }, secrets);
      if ('ok' in plan) return plan;
      const { token, error, nextCheckAt } = await cache.get(plan, refreshIntervalMs);
      const now = deps.clock.now();
      const reliable = token !== undefined && hasReliableExpiry(token);
      const timing = { expiresAt: reliable ? token.expiresAt : undefined, refreshedAt: token?.issuedAt, nextCheckAt };
      const auths = token ? { [server!]: authEntry(token.username, token.password) } : undefined;
      if (error) {
        let served: string;
        if (!token) served = 'no token has been obtained yet';
        else if (isExpired(token, now))
          served =
            `the last token expired at ${iso(token.expiresAt!)} and stays in the Secrets until a renewal ` + 'succeeds';
        else if (reliable) served = `the last token is served until it expires at ${iso(token.expiresAt!)}`;
        else served = 'the last token (of unknown expiry) keeps being served';
        return {
          ok: false,
          reason: definition.failureReason?.(error) ?? 'TokenRefreshFailed',
          message:
            `registry ${server}: ${plan.operation} failed: ${error.code}: ${error.message}; ` +
            `retrying with backoff; ${served}`,
          stale: auths,
          ...timing,
        };
      }
      const result: EntryResult = { ok: true, auths: auths!, ...timing };
      if (!reliable) {
        const reported =
          token!.expiresAt === undefined
            ? 'no expiry'
            : `expiry ${iso(token!.expiresAt)}, not after the time it was issued`;
        result.warning = {
          reason: 'TokenExpiryUnknown',
          message:
            `registry ${server}: ${definition.issuer} reported ${reported}; ` +
            'the token is served and renewed on a short fixed interval',
        };
      }
      return result;
    },
  };
}

/** The source Secrets of a token provider's entry: its credentialsSecretName, if any. */
export function credentialsSecret(source: { credentialsSecretName?: string }): string[] {
  return source.credentialsSecretName ? [source.credentialsSecretName] : [];
}

/** A short, stable, non-reversible name for an identity made of `parts` (Secret names, key ids): safe in logs. */
export function identityHash(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 16);
}

/**
 * Runs `call` with a hard deadline over all of it (credential resolution included): a request that
 * never answers must not hold a reconcile worker. The signal aborts the call at the deadline.
 */
/**
 * `load` run once, on first use, by every caller; a failed load is tried again on the next use.
 * Provider SDKs are loaded this way: only when an entry of their kind resolves.
 */
export function loadOnce<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () =>
    (pending ??= load().catch((err: unknown) => {
      pending = undefined;
      throw err;
    }));
}

export async function withDeadline<T>(timeoutMs: number, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(new TokenRefreshError('TimeoutError', `no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([call(abort.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * SDK clients (and the credential objects inside them, which cache their own credentials) per
 * identity, replaced when the identity's secret material changes under the same id.
 */
export class ClientCache<T> {
  private readonly clients = new Map<string, { client: T; fingerprint: string }>();

  constructor(private readonly destroy: (client: T) => void = () => undefined) {}

  get(id: string, secretMaterial: string, create: () => T): T {
    const fingerprint = createHash('sha256').update(secretMaterial).digest('hex');
    const cached = this.clients.get(id);
    if (cached && cached.fingerprint === fingerprint) return cached.client;
    if (cached) this.destroy(cached.client);
    const client = create();
    this.clients.set(id, { client, fingerprint });
    return client;
  }
}

/** Re-throws a TokenRefreshError as it is, and anything else through `describe`. */
export function asTokenRefreshError(err: unknown, describe: (err: unknown) => TokenRefreshError): TokenRefreshError {
  return err instanceof TokenRefreshError ? err : describe(err);
}

export { TokenRefreshError, tokenRefreshError };
