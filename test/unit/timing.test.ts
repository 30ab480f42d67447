import { STATUS_WRITE_BURST, STATUS_WRITE_INTERVAL_MS, StatusPacer } from '../../src/controller/statuspacing.js';
import { STATUS_COST_FACTOR, STATUS_DELAY_MAX_MS, statusDelayMs } from '../../src/controller/timing.js';
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

describe('statusDelayMs', () => {
  test.each<[string, number, number | undefined, number]>([
    // [case, base, last credential run (ms), expected delay]
    ['never ran: the base', 500, undefined, 500],
    ['a cheap run: the base', 500, 3, 500],
    ['a run of 25 ms (base / factor): still the base', 500, 500 / STATUS_COST_FACTOR, 500],
    ['a 100 ms run: factor times the cost', 500, 100, 100 * STATUS_COST_FACTOR],
    ['a pathological run: capped', 500, 60_000, STATUS_DELAY_MAX_MS],
    ['a fake clock (0 ms runs): the base', 500, 0, 500],
  ])('%s', (_case, base, last, expected) => {
    expect(statusDelayMs(base, last)).toBe(expected);
  });
});

describe('StatusPacer.routineWriteWait: routine status writes per credential', () => {
  const queue = {
    add: () => undefined,
    addAfter: () => undefined,
    expedite: () => false,
    len: () => 0,
    inProgress: () => 0,
    isProcessing: () => false,
  };
  test(`a burst of ${STATUS_WRITE_BURST}, then one per ${STATUS_WRITE_INTERVAL_MS / 1000} s, per credential`, () => {
    const pacer = new StatusPacer(queue, () => T0);
    const waits = (credential: string, at: number, n: number) =>
      Array.from({ length: n }, () => pacer.routineWriteWait(credential, at));
    expect(waits('a', T0, STATUS_WRITE_BURST)).toEqual(Array(STATUS_WRITE_BURST).fill(0));
    expect(pacer.routineWriteWait('a', T0)).toBe(STATUS_WRITE_INTERVAL_MS);
    expect(pacer.routineWriteWait('b', T0)).toBe(0); // another credential has its own budget
    expect(pacer.routineWriteWait('a', T0 + STATUS_WRITE_INTERVAL_MS / 2)).toBe(STATUS_WRITE_INTERVAL_MS / 2);
    expect(pacer.routineWriteWait('a', T0 + STATUS_WRITE_INTERVAL_MS)).toBe(0);
    expect(pacer.routineWriteWait('a', T0 + STATUS_WRITE_INTERVAL_MS)).toBe(STATUS_WRITE_INTERVAL_MS);
    // an hour of trickle: one write per interval, not one per namespace
    let writes = 0;
    for (let t = 0; t < 3600_000; t += 1000) if (pacer.routineWriteWait('c', T0 + t) === 0) writes++;
    expect(writes).toBe(STATUS_WRITE_BURST + 3600_000 / STATUS_WRITE_INTERVAL_MS - 1);
  });
});

describe('StatusPacer: a settled credential whose routine writes are spent is not recounted before its next write', () => {
  /** A queue that records what the pacer asked of it. */
  const recording = (inFlight: { len: number; inProgress: number; recounting?: boolean }) => {
    const calls: string[] = [];
    return {
      calls,
      queue: {
        add: (key: string) => void calls.push(`add ${key}`),
        addAfter: (key: string, ms: number) => void calls.push(`addAfter ${key} ${ms}`),
        expedite: (key: string) => (calls.push(`expedite ${key}`), false),
        len: () => inFlight.len,
        inProgress: () => inFlight.inProgress,
        isProcessing: (key: string) => key === 'c/a' && inFlight.recounting === true,
      },
    };
  };
  const spend = (pacer: StatusPacer) => {
    for (let i = 0; i < STATUS_WRITE_BURST; i++) pacer.routineWriteWait('a', T0);
  };
  test.each<
    [
      string,
      { settled: boolean; spent: boolean; news: boolean; last: boolean | 'recounting' | 'recounting and another' },
      string[],
    ]
  >([
    // [case, situation, what the queue is asked]
    [
      'the last key in flight, not settled: at once',
      { settled: false, spent: true, news: false, last: true },
      ['expedite c/a', 'add c/a'],
    ],
    [
      'the last key in flight while the recount runs: again at once after it (added while in progress)',
      { settled: false, spent: true, news: false, last: 'recounting' },
      ['expedite c/a', 'add c/a'],
    ],
    [
      'another key in flight besides the recount: after the pause',
      { settled: false, spent: true, news: false, last: 'recounting and another' },
      ['addAfter c/a 500'],
    ],
    [
      'settled, writes left: at once',
      { settled: true, spent: false, news: false, last: true },
      ['expedite c/a', 'add c/a'],
    ],
    [
      'settled, writes spent: when the next may go',
      { settled: true, spent: true, news: false, last: true },
      [`addAfter c/a ${STATUS_WRITE_INTERVAL_MS}`],
    ],
    [
      'settled, writes spent, but news (a failure): at once',
      { settled: true, spent: true, news: true, last: true },
      ['expedite c/a', 'add c/a'],
    ],
    [
      'more keys queued, not settled: after the pause',
      { settled: false, spent: true, news: false, last: false },
      ['addAfter c/a 500'],
    ],
    [
      'more keys queued, settled and spent: when the next may go',
      { settled: true, spent: true, news: false, last: false },
      [`addAfter c/a ${STATUS_WRITE_INTERVAL_MS}`],
    ],
    [
      'more keys queued, settled and spent, but news: after the pause only',
      { settled: true, spent: true, news: true, last: false },
      ['addAfter c/a 500'],
    ],
  ])('namespaceChanged: %s', (_case, { settled, spent, news, last }, expected) => {
    const { calls, queue } = recording(
      last === 'recounting'
        ? { len: 0, inProgress: 2, recounting: true }
        : last === 'recounting and another'
          ? { len: 0, inProgress: 3, recounting: true }
          : last
            ? { len: 0, inProgress: 1 }
            : { len: 5, inProgress: 8 },
    );
    const pacer = new StatusPacer(queue, () => T0, 500);
    pacer.settled('a', settled);
    if (spent) spend(pacer);
    pacer.namespaceChanged('a', news);
    expect(calls).toEqual(expected);
  });

  test('namespaceUnchanged while the recount runs leaves it (and its own requeue) alone', () => {
    const { calls, queue } = recording({ len: 0, inProgress: 2, recounting: true });
    const pacer = new StatusPacer(queue, () => T0, 500);
    pacer.namespaceUnchanged('a');
    expect(calls).toEqual([]);
  });

  test('namespaceUnchanged ending a burst runs a pending recount at once, unless it is held', () => {
    const { calls, queue } = recording({ len: 0, inProgress: 1 });
    const pacer = new StatusPacer(queue, () => T0, 500);
    pacer.namespaceUnchanged('a');
    pacer.settled('a', true);
    spend(pacer);
    pacer.namespaceUnchanged('a');
    expect(calls).toEqual(['expedite c/a']);
    expect(pacer.delayFor('a')).toBe(STATUS_WRITE_INTERVAL_MS); // the mappers wait as long
    pacer.settled('a', false);
    expect(pacer.delayFor('a')).toBe(500);
  });
});
