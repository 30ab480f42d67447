// providers/renewal.ts: when a short-lived token is renewed (half its life or the refresh interval,
// jittered earlier only, never later than a margin before expiry, never in a loop) and how long a
// failed renewal waits (exponential, capped, never a whole step past a token's expiry).
import {
  MIN_RENEWAL_MS,
  RETRY_BASE_MS,
  RETRY_MAX_MS,
  hasReliableExpiry,
  renewalDueAt,
  retryDelayMs,
  UNRELIABLE_EXPIRY_RENEWAL_MS,
} from '../../src/providers/renewal.js';

const H = 3_600_000;
const M = 60_000;
const T0 = Date.UTC(2026, 10, 22);
/** A token issued at T0 that lives `lifetimeMs` (undefined: no reported expiry), with jitter r. */
const token = (lifetimeMs: number | undefined, jitter = 0) => ({
  issuedAt: T0,
  expiresAt: lifetimeMs === undefined ? undefined : T0 + lifetimeMs,
  jitter,
});

describe('renewalDueAt', () => {
  test.each<[string, number | undefined, number, number, number]>([
    // [case, lifetime, refreshInterval, jitter, expected delay after issue]
    ['ECR 12h token, default 6h interval, no jitter', 12 * H, 6 * H, 0, 6 * H],
    ['ECR 12h token, 6h interval, maximal jitter: up to 10% earlier', 12 * H, 6 * H, 0.999999, 6 * H * (1 - 0.0999999)],
    ['shorter interval wins', 12 * H, 1 * H, 0, 1 * H],
    ['interval longer than the token: half the lifetime', 12 * H, 24 * H, 0, 6 * H],
    ['interval of 11h on a 12h token: still half the lifetime', 12 * H, 11 * H, 0, 6 * H],
    ['tiny interval is floored (no hot loop)', 12 * H, 1, 0, MIN_RENEWAL_MS],
    ['short-lived token: half its life', 20 * M, 6 * H, 0, 10 * M],
    ['token that lives less than the floor: floor, never a loop', 1000, 6 * H, 0, MIN_RENEWAL_MS],
    ['expiry in the past (moto): short fixed interval', -11 * 365 * 24 * H, 6 * H, 0, UNRELIABLE_EXPIRY_RENEWAL_MS],
    ['expiry equal to issue time: unreliable', 0, 6 * H, 0, UNRELIABLE_EXPIRY_RENEWAL_MS],
    ['no expiry reported, short interval wins', undefined, 2 * M, 0, 2 * M],
    ['no expiry reported, tiny interval floored', undefined, 1, 0, MIN_RENEWAL_MS],
  ])('%s', (_case, lifetime, interval, jitter, expected) => {
    expect(renewalDueAt(token(lifetime, jitter), interval) - T0).toBeCloseTo(expected, 0);
  });

  test('never later than expiry minus a margin, never before the floor, for any interval and jitter', () => {
    for (const lifetime of [30_000, 5 * M, 1 * H, 12 * H, 36 * H]) {
      for (const interval of [1, 10_000, 30 * M, 6 * H, 100 * H]) {
        for (const jitter of [0, 0.5, 0.999]) {
          const due = renewalDueAt(token(lifetime, jitter), interval);
          expect(due).toBeGreaterThanOrEqual(T0 + MIN_RENEWAL_MS);
          if (lifetime > 4 * MIN_RENEWAL_MS)
            expect(due).toBeLessThanOrEqual(T0 + lifetime - Math.min(30 * M, lifetime / 4));
        }
      }
    }
  });
});

describe('hasReliableExpiry', () => {
  test.each<[string, number | undefined, boolean]>([
    ['future expiry', 12 * H, true],
    ['past expiry', -H, false],
    ['no expiry', undefined, false],
    ['NaN', Number.NaN, false],
  ])('%s', (_c, lifetime, expected) => expect(hasReliableExpiry(token(lifetime))).toBe(expected));
});

describe('retryDelayMs', () => {
  test.each<[number, number, number]>([
    [1, 0, RETRY_BASE_MS / 2],
    [1, 0.999999, RETRY_BASE_MS],
    [2, 0, RETRY_BASE_MS],
    [3, 0.999999, 4 * RETRY_BASE_MS],
    [20, 0, RETRY_MAX_MS / 2],
    [1000, 0.999999, RETRY_MAX_MS],
  ])('failure %i, random %d', (failures, random, expected) => {
    expect(retryDelayMs(failures, random)).toBeCloseTo(expected, -1);
  });
  test('grows, and stays within the cap', () => {
    let prev = 0;
    for (let n = 1; n <= 40; n++) {
      const d = retryDelayMs(n, 0.5);
      expect(d).toBeGreaterThanOrEqual(prev);
      expect(d).toBeLessThanOrEqual(RETRY_MAX_MS);
      prev = d;
    }
  });
  test.each<[string, number, number | undefined, number]>([
    // [case, failures, remaining life of the served token, expected delay (random 0.999999)]
    ['a long-lived token: the backoff', 20, 6 * H, RETRY_MAX_MS],
    ['no token served: the backoff', 20, undefined, RETRY_MAX_MS],
    ['an expired token: the backoff', 20, -M, RETRY_MAX_MS],
    ['20 minutes left: a quarter of it', 20, 20 * M, 5 * M],
    ['a minute left: 15 s', 20, M, 15_000],
    ['seconds left: never under the base', 20, 4000, RETRY_BASE_MS],
    ['an early retry stays shorter than the quarter', 1, 20 * M, RETRY_BASE_MS],
  ])('%s', (_case, failures, remaining, expected) => {
    expect(retryDelayMs(failures, 0.999999, remaining)).toBeCloseTo(expected, -2);
  });
});
