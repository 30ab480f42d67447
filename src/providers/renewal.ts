// Pure: when a short-lived token is renewed, and how long to wait after a failed renewal.
//
// The standard schedule (docs/providers/index.md, "Short-lived tokens"), which every token provider
// declares (STANDARD_SCHEDULE):
//   renew at  issuedAt + min(refreshInterval, lifetime / 2) * (1 - JITTER * r)
//   and never later than expiresAt - margin (margin = min(30 min, lifetime / 4)),
//   and never sooner than MIN_RENEWAL_MS after the token was issued (no hot loop).
// r is drawn once per token, in [0, 1): jitter only moves a renewal earlier, never later, and the
// same token is due at the same time for every RegistryCredential that shares it.
// A token whose reported expiry is missing or not after its issue time is renewed after
// min(refreshInterval, UNRELIABLE_EXPIRY_RENEWAL_MS): we cannot know when it lapses, so renew
// often, but on a floor, never in a loop.

import { Backoff } from '../runtime/backoff.js';

export const JITTER = 0.1;
export const MIN_RENEWAL_MS = 10_000;
export const MAX_EXPIRY_MARGIN_MS = 30 * 60_000;
export const UNRELIABLE_EXPIRY_RENEWAL_MS = 10 * 60_000;
export const RETRY_BASE_MS = 5_000;
export const RETRY_MAX_MS = 10 * 60_000;

export interface IssuedToken {
  issuedAt: number;
  /** As reported by the provider; undefined when it reported none. */
  expiresAt?: number;
  /** Drawn once per token in [0, 1). */
  jitter: number;
}

/** Whether the reported expiry can be trusted: present, and after the token was issued. */
export function hasReliableExpiry(
  token: Pick<IssuedToken, 'issuedAt' | 'expiresAt'>,
): token is { issuedAt: number; expiresAt: number } {
  return token.expiresAt !== undefined && Number.isFinite(token.expiresAt) && token.expiresAt > token.issuedAt;
}

/** When `token` must be renewed for a consumer that wants renewals every `refreshIntervalMs`. */
export function renewalDueAt(token: IssuedToken, refreshIntervalMs: number): number {
  const interval = Math.max(MIN_RENEWAL_MS, refreshIntervalMs);
  if (!hasReliableExpiry(token)) {
    return (
      token.issuedAt +
      Math.max(MIN_RENEWAL_MS, Math.min(interval, UNRELIABLE_EXPIRY_RENEWAL_MS) * (1 - JITTER * token.jitter))
    );
  }
  const lifetime = token.expiresAt - token.issuedAt;
  const margin = Math.min(MAX_EXPIRY_MARGIN_MS, lifetime / 4);
  const jittered = token.issuedAt + Math.min(interval, lifetime / 2) * (1 - JITTER * token.jitter);
  return Math.max(token.issuedAt + MIN_RENEWAL_MS, Math.min(jittered, token.expiresAt - margin));
}

const retryBackoff = new Backoff({ initialMs: RETRY_BASE_MS, maxMs: RETRY_MAX_MS, jitter: true });

/**
 * Delay before retry number `failures` (1 = after the first failure): exponential from
 * RETRY_BASE_MS, capped at RETRY_MAX_MS, with "equal jitter" (between half and all of it), so
 * many operators retrying the same outage do not hit the provider in lock-step. While the token
 * served still has `remainingMs` to live, never more than a quarter of that (and at least
 * RETRY_BASE_MS): the retries before an expiry come often enough that a provider answering again is
 * noticed before the token lapses: a token never stays lapsed for a whole backoff step after its
 * provider answers again, even a one-hour token during a long outage (renewal-simulation.test.ts).
 */
export function retryDelayMs(failures: number, random: number, remainingMs?: number): number {
  const delay = Math.max(1000, retryBackoff.delayMs(failures, random));
  if (remainingMs === undefined || remainingMs <= 0) return delay;
  return Math.min(delay, Math.max(RETRY_BASE_MS, remainingMs / 4));
}

/** When a provider's tokens are renewed, and how long to wait after a failure. Each token provider declares one. */
export interface RenewalSchedule {
  /** When `token` must be renewed for a consumer that wants renewals every `refreshIntervalMs`. */
  dueAt(token: IssuedToken, refreshIntervalMs: number): number;
  /**
   * Delay before retry number `failures`, with `random` uniform in [0, 1); `remainingMs`: how long the
   * token still served lives, if it has a known expiry.
   */
  retryDelayMs(failures: number, random: number, remainingMs?: number): number;
}

/**
 * Half the lifetime (or refreshInterval if shorter), up to 10 % earlier, at the latest
 * min(30 min, lifetime / 4) before expiry; retries from 5 s doubling to 10 min, and at most a
 * quarter of the served token's remaining life apart. For a 12 h ECR
 * token: renewed after 5.4-6 h; for a one-hour Google token: after 27-30 min; for a 3 h ACR
 * refresh token: after 81-90 min.
 */
export const STANDARD_SCHEDULE: RenewalSchedule = { dueAt: renewalDueAt, retryDelayMs };
