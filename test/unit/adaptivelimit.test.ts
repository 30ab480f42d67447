// The in-flight bound of the REST client: a fixed maximum that shrinks while the API server signals
// pressure (429s, slow answers) and grows back when it stops.
import { AdaptiveLimit, type Outcome } from '../../src/runtime/adaptivelimit.js';
import { FakeClock } from '../support/fake-clock.js';

function limiter(max = 16, extra: Partial<ConstructorParameters<typeof AdaptiveLimit>[0]> = {}) {
  const clock = new FakeClock();
  const changes: number[] = [];
  const limit = new AdaptiveLimit({ clock, max, onChange: (value) => changes.push(value), ...extra });
  /** One request through the limiter with this outcome, `ms` after the previous one. */
  const request = async (outcome: Outcome, ms = 10) => {
    clock.advance(ms);
    limit.release(await limit.acquire(), outcome);
  };
  return { clock, limit, changes, request };
}

test('requests beyond the bound wait, and are let in one by one in arrival order as others end', async () => {
  const { limit } = limiter(2);
  const first = await limit.acquire();
  const second = await limit.acquire();
  const order: number[] = [];
  const third = limit.acquire().then(() => order.push(3));
  const fourth = limit.acquire().then(() => order.push(4));
  expect([limit.active, limit.queued]).toEqual([2, 2]);
  limit.release(first, { latencyMs: 5 });
  await third;
  expect(order).toEqual([3]);
  limit.release(second, { latencyMs: 5 });
  await fourth;
  expect(order).toEqual([3, 4]);
  expect(limit.active).toBe(2);
});

test('a 429 halves it; the 429s of requests sent before that count no more (one decrease per window)', async () => {
  const { limit } = limiter(16);
  const sent = await Promise.all(Array.from({ length: 8 }, () => limit.acquire()));
  for (const ticket of sent) limit.release(ticket, { throttled: true });
  expect(limit.limit).toBe(8);
  // a request sent under the new bound and throttled again: halved again
  limit.release(await limit.acquire(), { throttled: true });
  expect(limit.limit).toBe(4);
});

test('a request that waited through a decrease is sent under the new bound: its 429 counts', async () => {
  const { limit } = limiter(4);
  const sent = await Promise.all(Array.from({ length: 4 }, () => limit.acquire()));
  const waited = limit.acquire();
  limit.release(sent[0]!, { throttled: true }); // 4 -> 2, 3 still in flight
  limit.release(sent[1]!, { throttled: true }); // sent before that decrease: counts no more
  expect(limit.limit).toBe(2);
  limit.release(sent[2]!, {}); // 1 in flight: the waiting request goes out now
  limit.release(await waited, { throttled: true });
  expect(limit.limit).toBe(1);
});

test('429s to requests sent one after another keep halving it, down to the minimum and no further', async () => {
  const { limit, request, changes } = limiter(16);
  for (let i = 0; i < 8; i++) await request({ throttled: true });
  expect(limit.limit).toBe(1);
  expect(changes).toEqual([8, 4, 2, 1]);
});

test.each<[string, number, number, number]>([
  // [what, fast answers (baseline), then slow answers, limit after]
  ['answers slower than 250 ms and 4x the fastest of the last minute: shrinks, once a second', 10, 400, 10],
  ['a far server (slow without pressure: not 4x its fastest): unchanged', 200, 400, 16],
  ['slower but under 250 ms: unchanged', 10, 200, 16],
])('%s', async (_what, baselineMs, slowMs, expected) => {
  const { limit, request } = limiter(16);
  for (let i = 0; i < 20; i++) await request({ latencyMs: baselineMs });
  // 20 slow answers over 2 s (the average crosses after a few): 16 -> 12.8 -> 10.24, a second apart
  for (let i = 0; i < 20; i++) await request({ latencyMs: slowMs }, 100);
  expect(limit.limit).toBe(expected);
});

test('when the pressure stops it grows back by about one per window of good answers', async () => {
  const { limit, request } = limiter(16);
  for (let i = 0; i < 5; i++) await request({ throttled: true });
  expect(limit.limit).toBe(1);
  let answers = 0;
  while (limit.limit < 16) {
    await request({ latencyMs: 5 });
    answers++;
  }
  // 1 + 2 + ... + 15 answers: additive increase
  expect(answers).toBeGreaterThanOrEqual(100);
  expect(answers).toBeLessThanOrEqual(130);
  for (let i = 0; i < 100; i++) await request({ latencyMs: 5 });
  expect(limit.limit).toBe(16);
});

test('after a slow period, fast answers grow it at once, though the average still remembers the slowness', async () => {
  const { limit, request } = limiter(16);
  for (let i = 0; i < 20; i++) await request({ latencyMs: 10 });
  for (let i = 0; i < 60; i++) await request({ latencyMs: 1000 }, 100); // 6 s slow: 16 -> 5
  const shrunk = limit.limit;
  expect(shrunk).toBeLessThan(8);
  // the average needs about 14 fast answers to fall under 250 ms; none of them shrinks it
  for (let i = 0; i < 14; i++) await request({ latencyMs: 10 }, 100);
  expect(limit.limit).toBeGreaterThan(shrunk);
  // one slow answer among fast ones (the average fast again) is noise
  for (let i = 0; i < 30; i++) await request({ latencyMs: 10 }, 100);
  const grown = limit.limit;
  await request({ latencyMs: 1000 }, 2000);
  expect(limit.limit).toBe(grown);
});

test('lists (no latency given) neither grow nor shrink it', async () => {
  const { limit, request } = limiter(16);
  await request({ throttled: true });
  for (let i = 0; i < 50; i++) await request({});
  expect(limit.limit).toBe(8);
});

test('adaptive false: a fixed bound', async () => {
  const { limit, request } = limiter(4, { adaptive: false });
  for (let i = 0; i < 3; i++) await request({ throttled: true });
  expect(limit.limit).toBe(4);
});

test('a shrunk bound lets no one new in until enough requests in flight have ended', async () => {
  const { limit } = limiter(4);
  const tickets = await Promise.all(Array.from({ length: 4 }, () => limit.acquire()));
  let admitted = false;
  const waiting = limit.acquire().then(() => (admitted = true));
  limit.release(tickets[0]!, { throttled: true }); // 4 -> 2, 3 in flight
  await Promise.resolve();
  expect([limit.limit, limit.active, admitted]).toEqual([2, 3, false]);
  limit.release(tickets[1]!, {});
  limit.release(tickets[2]!, {});
  await waiting;
  expect([limit.active, admitted]).toEqual([2, true]);
});
