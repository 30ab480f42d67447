import { FakeClock } from '../support/fake-clock.js';
import { WorkQueue } from '../../src/runtime/workqueue.js';

// ---- builders ----------------------------------------------------------------------------------

function setup(opts: { baseBackoffMs?: number; maxBackoffMs?: number } = {}) {
  const clock = new FakeClock(0);
  const queue = new WorkQueue({ clock, ...opts });
  return { clock, queue };
}

/** Lets resolved promises run their callbacks (no timers, no sleeping). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** A get() whose result can be inspected without awaiting it. */
function pendingGet(queue: WorkQueue) {
  const state: { done: boolean; key: string | undefined } = { done: false, key: undefined };
  void queue.get().then((key) => Object.assign(state, { done: true, key }));
  return state;
}

/** Takes every key that is ready now, in order, marking each done. */
async function drain(queue: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (queue.len() > 0) {
    const key = (await queue.get())!;
    keys.push(key);
    queue.done(key);
  }
  return keys;
}

// ---- add / get / done --------------------------------------------------------------------------

describe('WorkQueue add and get', () => {
  test.each<[string, string[], string[]]>([
    ['one key', ['a'], ['a']],
    ['FIFO order', ['a', 'b', 'c'], ['a', 'b', 'c']],
    ['duplicates collapse into one', ['a', 'a', 'a'], ['a']],
    ['duplicates keep the first position', ['a', 'b', 'a', 'c', 'b'], ['a', 'b', 'c']],
  ])('%s', async (_name, adds, expected) => {
    const { queue } = setup();
    for (const k of adds) queue.add(k);
    expect(queue.len()).toBe(expected.length);
    expect(await drain(queue)).toEqual(expected);
    expect(queue.len()).toBe(0);
    expect(queue.inProgress()).toBe(0);
  });

  test('a waiting worker gets a key as soon as it is added', async () => {
    const { queue } = setup();
    const w = pendingGet(queue);
    await settle();
    expect(w.done).toBe(false);
    queue.add('a');
    await settle();
    expect(w).toEqual({ done: true, key: 'a' });
    expect(queue.len()).toBe(0);
    expect(queue.inProgress()).toBe(1);
  });

  test('waiting workers are served in the order they asked', async () => {
    const { queue } = setup();
    const w1 = pendingGet(queue);
    const w2 = pendingGet(queue);
    queue.add('a');
    queue.add('b');
    await settle();
    expect([w1.key, w2.key]).toEqual(['a', 'b']);
  });

  test('a key being processed is not handed out again', async () => {
    const { queue } = setup();
    queue.add('a');
    expect(await queue.get()).toBe('a');
    queue.add('a');
    const w = pendingGet(queue);
    await settle();
    expect(w.done).toBe(false);
    expect(queue.len()).toBe(0);
    expect(queue.inProgress()).toBe(1);
  });

  test('a key added while processing is re-queued once, after done', async () => {
    const { queue } = setup();
    queue.add('a');
    expect(await queue.get()).toBe('a');
    queue.add('a');
    queue.add('a');
    queue.add('b');
    const w = pendingGet(queue); // takes b
    await settle();
    expect(w.key).toBe('b');
    const w2 = pendingGet(queue); // waits: a is still in progress
    await settle();
    expect(w2.done).toBe(false);
    queue.done('a');
    await settle();
    expect(w2).toEqual({ done: true, key: 'a' });
    queue.done('a');
    queue.done('b');
    expect(queue.len()).toBe(0);
    expect(queue.inProgress()).toBe(0);
  });

  test('re-queued after done goes to the back of the queue', async () => {
    const { queue } = setup();
    queue.add('a');
    await queue.get();
    queue.add('a');
    queue.add('b');
    queue.done('a');
    expect(await drain(queue)).toEqual(['b', 'a']);
  });

  test('done without a new add does not re-queue', async () => {
    const { queue } = setup();
    queue.add('a');
    await queue.get();
    queue.done('a');
    expect(queue.len()).toBe(0);
    expect(queue.inProgress()).toBe(0);
  });

  test('different keys are processed in parallel', async () => {
    const { queue } = setup();
    queue.add('a');
    queue.add('b');
    expect([await queue.get(), await queue.get()]).toEqual(['a', 'b']);
    expect(queue.inProgress()).toBe(2);
  });
});

// ---- addAfter ----------------------------------------------------------------------------------

describe('WorkQueue addAfter', () => {
  test('the key appears once its delay has passed', () => {
    const { clock, queue } = setup();
    queue.addAfter('a', 1000);
    expect(queue.len()).toBe(0);
    expect(queue.delayed()).toBe(1);
    clock.advance(999);
    expect(queue.len()).toBe(0);
    clock.advance(1);
    expect(queue.len()).toBe(1);
    expect(queue.delayed()).toBe(0);
  });

  test.each<[string, number]>([
    ['zero', 0],
    ['negative', -5],
  ])('a %s delay adds at once', (_name, delay) => {
    const { clock, queue } = setup();
    queue.addAfter('a', delay);
    expect(queue.len()).toBe(1);
    expect(queue.delayed()).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
  });

  test.each<[string, number[], number]>([
    ['a later add does not postpone an earlier one', [500, 1000], 500],
    ['an earlier add replaces a later one', [1000, 500], 500],
    ['equal delays keep the first', [700, 700], 700],
    ['earliest of many', [900, 300, 600, 400], 300],
  ])('%s', async (_name, delays, firesAt) => {
    const { clock, queue } = setup();
    for (const d of delays) queue.addAfter('a', d);
    expect(queue.delayed()).toBe(1);
    expect(clock.pendingTimers()).toBe(1); // replaced timers are cancelled
    clock.advance(firesAt - 1);
    expect(queue.len()).toBe(0);
    clock.advance(1);
    expect(queue.len()).toBe(1);
    clock.advance(10_000);
    expect(await drain(queue)).toEqual(['a']); // fired once only
  });

  test('earliest wins in absolute time, not in delay', () => {
    const { clock, queue } = setup();
    queue.addAfter('a', 1000); // due at 1000
    clock.advance(800);
    queue.addAfter('a', 500); // would be due at 1300: later, ignored
    clock.advance(200);
    expect(queue.len()).toBe(1);
  });

  test('a delayed add of a queued key does not duplicate it', async () => {
    const { clock, queue } = setup();
    queue.add('a');
    queue.addAfter('a', 100);
    clock.advance(100);
    expect(await drain(queue)).toEqual(['a']);
  });

  test('a delayed add of a key in progress re-queues it after done', async () => {
    const { clock, queue } = setup();
    queue.add('a');
    await queue.get();
    queue.addAfter('a', 100);
    clock.advance(100);
    expect(queue.len()).toBe(0);
    queue.done('a');
    expect(queue.len()).toBe(1);
  });

  test('delayed keys are independent', () => {
    const { clock, queue } = setup();
    queue.addAfter('a', 300);
    queue.addAfter('b', 100);
    expect(queue.delayed()).toBe(2);
    clock.advance(100);
    expect([queue.len(), queue.delayed()]).toEqual([1, 1]);
    clock.advance(200);
    expect([queue.len(), queue.delayed()]).toEqual([2, 0]);
  });
});

// ---- addRateLimited / forget -------------------------------------------------------------------

describe('WorkQueue addRateLimited', () => {
  test.each<[string, number[], number[]]>([
    // [Retry-After floor per failure] -> delays: the floor wins when it is longer than the backoff
    ['no floor', [0, 0, 0], [50, 100, 200]],
    ['a floor above the backoff', [1000, 1000, 1000], [1000, 1000, 1000]],
    ['a floor below the backoff changes nothing', [10, 10, 10], [50, 100, 200]],
    ['the floor is capped at the maximum backoff', [3_600_000], [300_000]],
  ])('Retry-After as a floor: %s', (_name, floors, expected) => {
    const { queue } = setup();
    expect(floors.map((f) => queue.addRateLimited('k', f))).toEqual(expected);
  });

  test('a Retry-After floor delays the key that long', async () => {
    const { clock, queue } = setup();
    queue.addRateLimited('k', 2000);
    clock.advance(1999);
    expect(queue.len()).toBe(0);
    clock.advance(1);
    expect(await drain(queue)).toEqual(['k']);
  });

  test.each<[string, { baseBackoffMs?: number; maxBackoffMs?: number }, number[]]>([
    [
      'defaults: 50ms doubling, capped at 5 minutes',
      {},
      [50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 102400, 204800, 300000, 300000],
    ],
    ['custom base and cap', { baseBackoffMs: 100, maxBackoffMs: 1000 }, [100, 200, 400, 800, 1000, 1000]],
    ['cap below the base', { baseBackoffMs: 100, maxBackoffMs: 50 }, [50, 50]],
  ])('%s', (_name, opts, expected) => {
    const { queue } = setup(opts);
    expect(expected.map(() => queue.addRateLimited('a'))).toEqual(expected);
    expect(queue.failuresOf('a')).toBe(expected.length);
  });

  test('stays capped after very many failures', () => {
    const { queue } = setup({ baseBackoffMs: 10, maxBackoffMs: 60_000 });
    let delay = 0;
    for (let i = 0; i < 200; i++) delay = queue.addRateLimited('a');
    expect(delay).toBe(60_000);
  });

  test('the key is re-added after the backoff', () => {
    const { clock, queue } = setup({ baseBackoffMs: 100 });
    expect(queue.addRateLimited('a')).toBe(100);
    clock.advance(99);
    expect(queue.len()).toBe(0);
    clock.advance(1);
    expect(queue.len()).toBe(1);
  });

  test('backoff grows across processing rounds and forget resets it', async () => {
    const { clock, queue } = setup({ baseBackoffMs: 100, maxBackoffMs: 10_000 });
    const fail = async () => {
      clock.advance(10_000);
      const key = (await queue.get())!;
      const delay = queue.addRateLimited(key);
      queue.done(key);
      return delay;
    };
    queue.add('a');
    expect([await fail(), await fail(), await fail()]).toEqual([100, 200, 400]);
    queue.forget('a');
    expect(queue.failuresOf('a')).toBe(0);
    expect(queue.addRateLimited('a')).toBe(100);
  });

  test('failures are counted per key', () => {
    const { queue } = setup({ baseBackoffMs: 100 });
    queue.addRateLimited('a');
    queue.addRateLimited('a');
    expect(queue.addRateLimited('b')).toBe(100);
    queue.forget('a');
    expect([queue.failuresOf('a'), queue.failuresOf('b')]).toEqual([0, 1]);
  });

  test('forget of an unknown key is harmless', () => {
    const { queue } = setup();
    queue.forget('nope');
    expect(queue.failuresOf('nope')).toBe(0);
  });
});

// ---- shutDown ----------------------------------------------------------------------------------

describe('WorkQueue shutDown', () => {
  test('waiting workers get undefined', async () => {
    const { queue } = setup();
    const w1 = pendingGet(queue);
    const w2 = pendingGet(queue);
    queue.shutDown();
    await settle();
    expect([w1, w2]).toEqual([
      { done: true, key: undefined },
      { done: true, key: undefined },
    ]);
  });

  test('get resolves undefined afterwards, even with keys queued', async () => {
    const { queue } = setup();
    queue.add('a');
    queue.shutDown();
    expect(await queue.get()).toBeUndefined();
  });

  test.each<[string, (q: WorkQueue) => void]>([
    ['add', (q) => q.add('a')],
    ['addAfter', (q) => q.addAfter('a', 10)],
    ['addAfter with no delay', (q) => q.addAfter('a', 0)],
    ['addRateLimited', (q) => void q.addRateLimited('a')],
  ])('%s is ignored afterwards', (_name, act) => {
    const { clock, queue } = setup();
    queue.shutDown();
    act(queue);
    clock.advance(60_000);
    expect([queue.len(), queue.delayed(), clock.pendingTimers()]).toEqual([0, 0, 0]);
  });

  test('pending delayed adds are cancelled', () => {
    const { clock, queue } = setup();
    queue.addAfter('a', 100);
    queue.addRateLimited('b');
    queue.shutDown();
    expect([queue.delayed(), clock.pendingTimers()]).toEqual([0, 0]);
    clock.advance(60_000);
    expect(queue.len()).toBe(0);
  });

  test('done of a key in progress does not re-queue it', async () => {
    const { queue } = setup();
    queue.add('a');
    await queue.get();
    queue.add('a');
    queue.shutDown();
    queue.done('a');
    expect([queue.len(), queue.inProgress()]).toEqual([0, 0]);
  });
});

describe('WorkQueue expedite', () => {
  test('a pending delayed add becomes an add now, once', async () => {
    const { clock, queue } = setup();
    queue.addAfter('c/a', 500);
    expect(queue.expedite('c/a')).toBe(true);
    expect(await drain(queue)).toEqual(['c/a']);
    expect(queue.delayed()).toBe(0);
    clock.advance(1000);
    expect(await drain(queue)).toEqual([]); // the cancelled timer adds nothing later
  });
  test('without a pending delayed add nothing happens', async () => {
    const { queue } = setup();
    expect(queue.expedite('c/a')).toBe(false);
    expect(await drain(queue)).toEqual([]);
  });
});

// ---- the overall retry bucket (client-go's DefaultControllerRateLimiter) -------------------------

describe('WorkQueue overall retry bucket', () => {
  test('many keys failing at once: the burst goes at the per-key backoff, the rest at the bucket rate', () => {
    const clock = new FakeClock(0);
    const queue = new WorkQueue({ clock, retryQps: 10, retryBurst: 3 });
    const delays = ['a', 'b', 'c', 'd', 'e'].map((key) => queue.addRateLimited(key));
    expect(delays).toEqual([50, 50, 50, 100, 200]);
  });

  test('the bucket refills with time', () => {
    const clock = new FakeClock(0);
    const queue = new WorkQueue({ clock, retryQps: 10, retryBurst: 1 });
    expect(queue.addRateLimited('a')).toBe(50);
    clock.advance(100);
    expect(queue.addRateLimited('b')).toBe(50);
  });

  test('defaults: 100 retries of distinct keys at the per-key backoff, then 10 per second', () => {
    const { queue } = setup();
    const delays = Array.from({ length: 120 }, (_, i) => queue.addRateLimited(`k${i}`));
    expect(delays.slice(0, 100).every((d) => d === 50)).toBe(true);
    expect(delays.slice(100, 103)).toEqual([100, 200, 300]);
  });
});

// ---- metrics -----------------------------------------------------------------------------------

describe('WorkQueue metrics', () => {
  function withMetrics() {
    const clock = new FakeClock(0);
    const seen = { added: 0, depth: [] as number[], queued: [] as number[], worked: [] as number[], retried: 0 };
    const queue = new WorkQueue({
      clock,
      metrics: {
        added: () => seen.added++,
        depth: (keys) => seen.depth.push(keys),
        queued: (seconds) => seen.queued.push(seconds),
        worked: (seconds) => seen.worked.push(seconds),
        retried: () => seen.retried++,
      },
    });
    return { clock, queue, seen };
  }

  test('adds count keys, not duplicate events; depth follows the queue', async () => {
    const { queue, seen } = withMetrics();
    queue.add('a');
    queue.add('a');
    queue.add('b');
    expect(seen.added).toBe(2);
    expect(seen.depth).toEqual([1, 2]);
    await drain(queue);
    expect(seen.depth).toEqual([1, 2, 1, 0]);
  });

  test('queue latency is add to get, work duration is get to done', async () => {
    const { clock, queue, seen } = withMetrics();
    queue.add('a');
    clock.advance(250);
    const key = (await queue.get())!;
    clock.advance(1500);
    queue.done(key);
    expect(seen.queued).toEqual([0.25]);
    expect(seen.worked).toEqual([1.5]);
  });

  test('a key added while in progress counts once and waits from its add', async () => {
    const { clock, queue, seen } = withMetrics();
    queue.add('a');
    const key = (await queue.get())!;
    clock.advance(100);
    queue.add('a');
    queue.add('a');
    clock.advance(100);
    queue.done(key);
    clock.advance(300);
    await queue.get();
    expect(seen.added).toBe(2);
    expect(seen.queued).toEqual([0, 0.4]);
  });

  test('retries are counted', () => {
    const { queue, seen } = withMetrics();
    queue.addRateLimited('a');
    queue.addRateLimited('a');
    expect(seen.retried).toBe(2);
  });
});
