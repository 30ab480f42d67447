// Short-lived registry tokens shared by every RegistryCredential of the operator. One cache per token
// provider, one entry per distinct identity (for ECR: region, credentials, role; for Google: the
// identity; for ACR: registry and identity): a renewal is one request however many
// RegistryCredentials and namespaces use the token, and callers that arrive while a request is in
// flight wait for that same request. A failed renewal keeps the last token (served until it
// expires) and is retried with exponential backoff and jitter; callers in between get the cached
// state without a request.
import type { Clock } from '../runtime/clock.js';
import { hasReliableExpiry, type IssuedToken, type RenewalSchedule } from './renewal.js';

export interface Token {
  username: string;
  password: string;
  /** As reported by the provider (epoch ms), if it reported one. */
  expiresAt?: number;
}

export interface CachedToken extends Token, IssuedToken {}

/** A failed token request, described without any credential: safe for status, Events and logs. */
export class TokenRefreshError extends Error {
  override readonly name = 'TokenRefreshError';
  constructor(
    /** The provider's error code (e.g. ThrottlingException, invalid_grant, AADSTS7000215, TimeoutError). */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Secret-looking strings an error text may echo: access key ids, JWTs, Google access tokens, bearer values. */
const SECRET_LOOKING = [
  /\b(AKIA|ASIA|AIDA|AROA)[A-Z0-9]{12,}\b/g,
  /\beyJ[\w-]+\.[\w-]+\.[\w-]*/g,
  /\bya29\.[\w.-]+/g,
  /\b(Bearer|Basic)\s+[\w.~+/=-]+/gi,
];

/** A TokenRefreshError with secret-looking strings masked and the message cut to 300 characters. */
export function tokenRefreshError(code: string, message: string): TokenRefreshError {
  let text = message;
  for (const pattern of SECRET_LOOKING) text = text.replace(pattern, '<redacted>');
  return new TokenRefreshError(code, text.length > 300 ? `${text.slice(0, 299)}…` : text);
}

export interface TokenRequest<C> {
  /** Identifies the token: requests with the same key share one token. Holds no secret. */
  key: string;
  /** What the fetcher needs (may hold credentials: never logged, never part of the key). */
  context: C;
}

export type TokenFetcher<C> = (context: C) => Promise<Token>;

export interface TokenLookup {
  /** The last token obtained, possibly expired; undefined before the first success. */
  token?: CachedToken;
  /** Set when the last attempt failed. */
  error?: TokenRefreshError;
  /** When this caller should look again: the renewal time, or the next retry after a failure. */
  nextCheckAt: number;
}

interface Entry {
  token?: CachedToken;
  error?: TokenRefreshError;
  failures: number;
  retryAt?: number;
  inFlight?: Promise<void>;
  lastUsed: number;
}

export interface TokenCacheOptions<C> {
  fetch: TokenFetcher<C>;
  clock: Clock;
  /** When tokens are renewed and failures retried. */
  schedule: RenewalSchedule;
  /** Uniform in [0, 1); injectable for tests. */
  random?: () => number;
  /** Called once per request to the provider. */
  onResult?: (result: 'success' | 'failure', error?: TokenRefreshError) => void;
  /** Entries nobody asked for in this long are dropped. */
  idleTtlMs?: number;
}

export class TokenCache<C> {
  private readonly entries = new Map<string, Entry>();
  private readonly random: () => number;
  /** Requests sent to the provider, by key (for tests and debugging). */
  readonly requests = new Map<string, number>();

  constructor(private readonly options: TokenCacheOptions<C>) {
    this.random = options.random ?? Math.random;
  }

  /**
   * The token for `request`, renewed first if it is due for a caller that wants renewals every
   * `refreshIntervalMs`, or if a retry after a failure is due.
   */
  async get(request: TokenRequest<C>, refreshIntervalMs: number): Promise<TokenLookup> {
    const now = this.options.clock.now();
    this.prune(now);
    let entry = this.entries.get(request.key);
    if (!entry) {
      entry = { failures: 0, lastUsed: now };
      this.entries.set(request.key, entry);
    }
    entry.lastUsed = now;
    if (entry.inFlight) await entry.inFlight;
    else if (this.isDue(entry, refreshIntervalMs, now)) {
      const pending = entry;
      pending.inFlight = this.renew(pending, request).finally(() => (pending.inFlight = undefined));
      await pending.inFlight;
    }
    return this.lookup(entry, refreshIntervalMs);
  }

  size(): number {
    return this.entries.size;
  }

  private isDue(entry: Entry, refreshIntervalMs: number, now: number): boolean {
    if (entry.retryAt !== undefined) return now >= entry.retryAt;
    if (!entry.token) return true;
    return now >= this.options.schedule.dueAt(entry.token, refreshIntervalMs);
  }

  private lookup(entry: Entry, refreshIntervalMs: number): TokenLookup {
    const nextCheckAt =
      entry.retryAt ??
      (entry.token ? this.options.schedule.dueAt(entry.token, refreshIntervalMs) : this.options.clock.now());
    return { token: entry.token, error: entry.error, nextCheckAt };
  }

  private async renew(entry: Entry, request: TokenRequest<C>): Promise<void> {
    const issuedAt = this.options.clock.now();
    this.requests.set(request.key, (this.requests.get(request.key) ?? 0) + 1);
    try {
      const token = await this.options.fetch(request.context);
      entry.token = { ...token, issuedAt, jitter: this.random() };
      entry.error = undefined;
      entry.failures = 0;
      entry.retryAt = undefined;
      this.options.onResult?.('success');
    } catch (err) {
      const error =
        err instanceof TokenRefreshError ? err : tokenRefreshError('Error', (err as Error)?.message ?? String(err));
      entry.error = error;
      entry.failures++;
      const now = this.options.clock.now();
      const remaining = entry.token && hasReliableExpiry(entry.token) ? entry.token.expiresAt - now : undefined;
      entry.retryAt = now + this.options.schedule.retryDelayMs(entry.failures, this.random(), remaining);
      this.options.onResult?.('failure', error);
    }
  }

  private prune(now: number): void {
    const ttl = this.options.idleTtlMs ?? 48 * 3_600_000;
    for (const [key, entry] of this.entries)
      if (!entry.inFlight && now - entry.lastUsed > ttl) this.entries.delete(key);
  }
}

/** Whether a token is past its (reliable) expiry at `now`. Tokens of unknown expiry never count as expired. */
export function isExpired(token: CachedToken, now: number): boolean {
  return hasReliableExpiry(token) && now >= token.expiresAt;
}
