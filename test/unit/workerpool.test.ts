// The worker pool over a real WorkQueue on a fake clock: one worker per key at a time, different
// keys in parallel, success forgets the key's failures, requeue-after, a failure retried with
// backoff (at least the error's Retry-After), a logger per reconcile, and stop().
import { pino } from 'pino';
import { type ReconcileFn, type ReconcileResult, WorkerPool } from '../../src/runtime/workerpool.js';
import { WorkQueue } from '../../src/runtime/workqueue.js';
import { FakeClock } from '../support/fake-clock.js';
import { flush } from '../support/settle.js';

/** A reconcile a test finishes by hand: `release(key)` resolves (or rejects) the oldest running call of the key. */
function manualReconcile() {
  const running = new Map<string, Array<{ resolve: (r?: ReconcileResult) => void; reject: (e: unknown) => void }>>();
  const started: string[] = [];
  let concurrent = 0;
  let maxConcurrent = 0;
  const perKey = new Map<string, number>();
  let maxPerKey = 0;
  const reconcile: ReconcileFn = (key) => {
    started.push(key);
    concurrent++;
    maxConcurrent = Math.max(maxConcurrent, concurrent);
    perKey.set(key, (perKey.get(key) ?? 0) + 1);
    maxPerKey = Math.max(maxPerKey, perKey.get(key)!);
    return new Promise<ReconcileResult | void>((resolve, reject) => {
      const done = () => {
        concurrent--;
        perKey.set(key, perKey.get(key)! - 1);
      };
      const calls = running.get(key) ?? [];
      calls.push({ resolve: (r) => (done(), resolve(r)), reject: (e) => (done(), reject(e)) });
      running.set(key, calls);
    });
  };
  const take = (key: string) => {
    const call = running.get(key)?.shift();
    if (!call) throw new Error(`${key} is not running`);
    return call;
  };
  return {
    reconcile,
    started,
    release: (key: string, result?: ReconcileResult) => take(key).resolve(result),
    fail: (key: string, err: unknown) => take(key).reject(err),
    stats: () => ({ maxConcurrent, maxPerKey }),
  };
}

function setup(
  options: { workers?: number; reconcile?: ReconcileFn; logFields?: (key: string) => Record<string, string> } = {},
) {
  const bursts: string[] = [];
  const clock = new FakeClock(0);
  const queue = new WorkQueue({ clock });
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const observed: Array<[string, string]> = [];
  const manual = manualReconcile();
  const pool = new WorkerPool({
    queue,
    reconcile: options.reconcile ?? manual.reconcile,
    workers: options.workers ?? 2,
    logger,
    logFields: options.logFields,
    observe: (key, result, seconds) => {
      expect(seconds).toBeGreaterThanOrEqual(0);
      observed.push([key, result]);
    },
    onBurstEnded: () => bursts.push(`ended after ${observed.map(([key]) => key).join(',')}`),
  });
  pool.start();
  return { clock, queue, pool, lines, observed, bursts, ...manual };
}

describe('WorkerPool: who works on what', () => {
  test('different keys run in parallel, up to the number of workers', async () => {
    const t = setup({ workers: 2 });
    for (const key of ['a', 'b', 'c']) t.queue.add(key);
    await flush();
    expect(t.started).toEqual(['a', 'b']);
    t.release('a');
    await flush();
    expect(t.started).toEqual(['a', 'b', 'c']);
    expect(t.stats().maxConcurrent).toBe(2);
    await t.pool.stop(0);
  });

  test('a key added while it is being reconciled runs again after, never twice at once', async () => {
    const t = setup({ workers: 4 });
    t.queue.add('a');
    await flush();
    t.queue.add('a');
    t.queue.add('a');
    await flush();
    expect(t.started).toEqual(['a']);
    t.release('a');
    await flush();
    expect(t.started).toEqual(['a', 'a']);
    t.release('a');
    await flush();
    expect(t.started).toEqual(['a', 'a']); // the two adds collapsed into one reconcile
    expect(t.stats().maxPerKey).toBe(1);
    await t.pool.stop(0);
  });
});

describe('WorkerPool: the end of a burst', () => {
  test('signalled once no key waits and no other worker holds one, not before', async () => {
    const t = setup({ workers: 2 });
    for (const key of ['a', 'b', 'c']) t.queue.add(key);
    await flush();
    t.release('a'); // c is handed out: not the end
    await flush();
    t.release('b'); // c still runs
    await flush();
    expect(t.bursts).toEqual([]);
    t.release('c');
    await flush();
    expect(t.bursts).toEqual(['ended after a,b,c']);
    await t.pool.stop(0);
  });

  test('a key re-added while it ran is more of the same burst; a failure ends it too', async () => {
    const t = setup({ workers: 2 });
    t.queue.add('a');
    await flush();
    t.queue.add('a');
    t.release('a');
    await flush();
    expect(t.bursts).toEqual([]);
    t.fail('a', new Error('boom')); // its retry is delayed: nothing waits now
    await flush();
    expect(t.bursts).toEqual(['ended after a,a']);
    await t.pool.stop(0);
  });
});

describe('WorkerPool: results', () => {
  test('a success clears the failures of the key and is observed as success', async () => {
    const t = setup();
    t.queue.add('a');
    await flush();
    t.fail('a', new Error('boom'));
    await flush();
    expect(t.queue.failuresOf('a')).toBe(1);
    t.clock.advance(50);
    await flush();
    t.release('a');
    await flush();
    expect(t.queue.failuresOf('a')).toBe(0);
    expect(t.observed).toEqual([
      ['a', 'error'],
      ['a', 'success'],
    ]);
    await t.pool.stop(0);
  });

  test.each<[string, ReconcileResult | undefined, number]>([
    ['no result: the key is not queued again', undefined, 0],
    ['requeueAfterMs: the key waits that long', { requeueAfterMs: 30_000 }, 1],
    ['requeueAfterMs 0: the key is queued at once', { requeueAfterMs: 0 }, 0],
  ])('%s', async (_name, result, delayed) => {
    const t = setup();
    t.queue.add('a');
    await flush();
    t.release('a', result);
    await flush();
    expect(t.queue.delayed()).toBe(delayed);
    if (result?.requeueAfterMs) {
      t.clock.advance(result.requeueAfterMs - 1);
      await flush();
      expect(t.started).toEqual(['a']);
      t.clock.advance(1);
      await flush();
    }
    expect(t.started).toEqual(result?.requeueAfterMs !== undefined ? ['a', 'a'] : ['a']);
    await t.pool.stop(0);
  });

  test.each<[string, unknown, number]>([
    ['a plain error: the per-key backoff (50 ms first)', new Error('boom'), 50],
    [
      "an error with the server's Retry-After: at least that",
      Object.assign(new Error('slow down'), { retryAfterSeconds: 7 }),
      7000,
    ],
    ['a Retry-After that is not a number is ignored', Object.assign(new Error('x'), { retryAfterSeconds: '7' }), 50],
    ['a thrown non-Error is retried too', 'a string', 50],
  ])('%s', async (_name, err, retryInMs) => {
    const t = setup();
    t.queue.add('a');
    await flush();
    t.fail('a', err);
    await flush();
    t.clock.advance(retryInMs - 1);
    await flush();
    expect(t.started).toEqual(['a']);
    t.clock.advance(1);
    await flush();
    expect(t.started).toEqual(['a', 'a']);
    const warning = t.lines.find((line) => line.msg === 'reconcile failed; will retry');
    expect(warning).toMatchObject({ level: 40, key: 'a', retryInMs });
    await t.pool.stop(0);
  });
});

describe('WorkerPool: logging', () => {
  test("each reconcile gets a child logger with a fresh reconcileId and the key's fields", async () => {
    const ids: unknown[] = [];
    const t = setup({
      logFields: (key) => ({ registryCredential: key.toUpperCase() }),
      reconcile: async (_key, { logger }) => {
        logger.info('working');
        ids.push(t.lines.at(-1)?.reconcileId);
      },
    });
    t.queue.add('a');
    await flush();
    t.queue.add('a');
    await flush();
    const working = t.lines.filter((line) => line.msg === 'working');
    expect(working.map((line) => line.registryCredential)).toEqual(['A', 'A']);
    expect(working.every((line) => line.key === undefined)).toBe(true);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    await t.pool.stop(0);
  });
});

describe('WorkerPool.stop', () => {
  test('waits for the reconciles in flight, then the workers end; no key is handed out after', async () => {
    const t = setup({ workers: 1 });
    t.queue.add('a');
    t.queue.add('b');
    await flush();
    let stopped = false;
    const stopping = t.pool.stop().then(() => (stopped = true));
    await flush();
    expect(stopped).toBe(false);
    t.release('a');
    await stopping;
    expect(t.started).toEqual(['a']);
    t.queue.add('c');
    await flush();
    expect(t.started).toEqual(['a']);
  });

  test('gives up waiting after its timeout when a reconcile never ends', async () => {
    const t = setup({ workers: 1 });
    t.queue.add('a');
    await flush();
    await expect(t.pool.stop(0)).resolves.toBeUndefined();
    expect(t.started).toEqual(['a']);
  });
});
