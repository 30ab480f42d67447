// The one backoff formula (runtime/backoff.ts) and the rate-limit bucket (runtime/ratelimit.ts)
// that the client, the informer, the work queue and token renewals share.
import { Backoff, notSoonerThan } from '../../src/runtime/backoff.js';
import { TokenBucket } from '../../src/runtime/ratelimit.js';
import { FakeClock } from '../support/fake-clock.js';

describe('Backoff', () => {
  test.each<[string, { initialMs: number; maxMs: number; jitter?: boolean }, number, number, number]>([
    ['first retry: the initial delay', { initialMs: 50, maxMs: 300_000 }, 1, 0.9, 50],
    ['doubles per failure', { initialMs: 50, maxMs: 300_000 }, 4, 0.9, 400],
    ['capped', { initialMs: 50, maxMs: 300_000 }, 20, 0.9, 300_000],
    ['huge failure counts stay capped', { initialMs: 50, maxMs: 300_000 }, 10_000, 0.9, 300_000],
    ['0 failures counts as the first', { initialMs: 50, maxMs: 300_000 }, 0, 0.9, 50],
    ['jitter 0: half the delay', { initialMs: 400, maxMs: 10_000, jitter: true }, 2, 0, 400],
    ['jitter near 1: nearly all of it', { initialMs: 400, maxMs: 10_000, jitter: true }, 2, 0.999, 799.6],
    ['jitter on the capped delay', { initialMs: 500, maxMs: 30_000, jitter: true }, 12, 0.5, 22_500],
  ])('%s', (_name, policy, failures, random, expected) => {
    expect(new Backoff(policy).delayMs(failures, random)).toBeCloseTo(expected, 6);
  });

  test('draws its own jitter when none is given, always within [d/2, d)', () => {
    const backoff = new Backoff({ initialMs: 1000, maxMs: 60_000, jitter: true });
    for (let failures = 1; failures < 10; failures++) {
      const full = Math.min(60_000, 1000 * 2 ** (failures - 1));
      const delay = backoff.delayMs(failures);
      expect(delay).toBeGreaterThanOrEqual(full / 2);
      expect(delay).toBeLessThan(full);
    }
  });

  test.each<[string, number, number | undefined, number, number]>([
    ['no server answer: the delay', 100, undefined, 30_000, 100],
    ['a longer Retry-After wins', 100, 3000, 30_000, 3000],
    ['a shorter Retry-After does not shorten the delay', 5000, 1000, 30_000, 5000],
    ['Retry-After is capped', 100, 3_600_000, 30_000, 30_000],
  ])('notSoonerThan: %s', (_name, delay, asked, cap, expected) => {
    expect(notSoonerThan(delay, asked, cap)).toBe(expected);
  });
});

describe('TokenBucket', () => {
  test.each<[string, number, number, number, number[]]>([
    ['within the burst: no wait', 10, 3, 3, [0, 0, 0]],
    ['past the burst: one token per 1/qps, in reservation order', 10, 2, 5, [0, 0, 100, 200, 300]],
    ['qps 0: no limit', 0, 1, 3, [0, 0, 0]],
  ])('reserve: %s', (_name, qps, burst, count, expected) => {
    const bucket = new TokenBucket(qps, burst, new FakeClock(0));
    expect(Array.from({ length: count }, () => Math.round(bucket.reserve()))).toEqual(expected);
  });

  test('refills with time, up to the burst', () => {
    const clock = new FakeClock(0);
    const bucket = new TokenBucket(10, 2, clock);
    bucket.reserve();
    bucket.reserve();
    expect(bucket.reserve()).toBeCloseTo(100);
    clock.advance(10_000); // pays the debt and refills to the burst, not beyond
    expect([bucket.reserve(), bucket.reserve(), Math.round(bucket.reserve())]).toEqual([0, 0, 100]);
  });

  test('take waits on the clock for its token', async () => {
    const clock = new FakeClock(0);
    const bucket = new TokenBucket(1, 1, clock);
    await bucket.take();
    let taken = false;
    void bucket.take().then(() => (taken = true));
    clock.advance(999);
    await Promise.resolve();
    expect(taken).toBe(false);
    clock.advance(1);
    await Promise.resolve();
    await Promise.resolve();
    expect(taken).toBe(true);
  });
});
