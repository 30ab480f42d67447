// The informer in process, on the in-memory API (test/support/fake-kube.ts) and a fake clock:
// the relist diff after 410 Gone, the restart backoff (growth, Retry-After, reset), the idle-watch
// watchdog, and write-through. The same code runs against a real API server in the integration
// and fault suites; here each path is driven on purpose.
import { pino } from 'pino';
import { listWatch } from '../../src/k8s/listwatch.js';
import { Informer, WATCH_RESTART_BACKOFF } from '../../src/runtime/informer.js';
import { FakeClock } from '../support/fake-clock.js';
import { apiError, FakeKube, type StoredObject } from '../support/fake-kube.js';
import { settle } from '../support/settle.js';

const silent = pino({ level: 'silent' });

function configMap(name: string, data: Record<string, string> = {}): StoredObject {
  return { metadata: { name, namespace: 'ops' }, data };
}

function setup(options: { idleTimeoutMs?: number } = {}) {
  const clock = new FakeClock(0);
  const kube = new FakeKube(clock);
  const seen: string[] = [];
  const restarts: string[] = [];
  const informer = new Informer<StoredObject>({
    name: 'configmaps',
    source: listWatch<StoredObject>(kube, { path: '/api/v1/namespaces/ops/configmaps' }),
    clock,
    logger: silent,
    pageSize: 2,
    idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
    onRestart: (_name, reason) => restarts.push(reason),
  });
  informer.on({
    add: (o) => seen.push(`add ${o.metadata.name}`),
    update: (old, o) => seen.push(`update ${o.metadata.name} ${JSON.stringify(old.data)}->${JSON.stringify(o.data)}`),
    delete: (o) => seen.push(`delete ${o.metadata.name}`),
  });
  return { clock, kube, informer, seen, restarts };
}

async function started(t: ReturnType<typeof setup>): Promise<void> {
  t.informer.start();
  await settle(t.clock);
  await t.informer.waitForSync();
}

/** The delay of the timer the informer just set (its restart backoff), then lets it fire. */
async function nextRestartDelay(t: ReturnType<typeof setup>): Promise<number> {
  await settle(t.clock, { horizonMs: 0 });
  const at = t.clock.nextTimerAt()!;
  return at - t.clock.now();
}

describe('Informer: list, watch and relist', () => {
  test('the first list (in pages) fills the cache and tells handlers; watch events follow', async () => {
    const t = setup();
    for (const name of ['a', 'b', 'c']) t.kube.put('configmaps', configMap(name));
    await started(t);
    expect(t.informer.size()).toBe(3);
    expect(t.informer.isHealthy()).toBe(true);
    t.kube.put('configmaps', configMap('d'));
    t.kube.put('configmaps', configMap('a', { k: 'v' }));
    t.kube.remove('configmaps', 'ops', 'b');
    await settle(t.clock);
    expect(t.seen).toEqual(['add a', 'add b', 'add c', 'add d', 'update a {}->{"k":"v"}', 'delete b']);
    expect(t.kube.requests.filter((r) => r.method === 'GET').length).toBe(2); // 3 objects, pages of 2
  });

  test.each<[string, (kube: FakeKube) => void, string[]]>([
    [
      'deleted, changed and added while the watch was down: exactly those three',
      (kube) => {
        kube.remove('configmaps', 'ops', 'a');
        kube.put('configmaps', configMap('b', { v: '2' }));
        kube.put('configmaps', configMap('z'));
      },
      ['delete a', 'update b {}->{"v":"2"}', 'add z'],
    ],
    [
      'only objects outside the collection changed: the relist tells handlers nothing',
      (kube) => kube.put('configmaps', { metadata: { name: 'a', namespace: 'elsewhere' } }),
      [],
    ],
    [
      'an object deleted and created again under the same name counts as changed',
      (kube) => {
        kube.remove('configmaps', 'ops', 'c');
        kube.put('configmaps', configMap('c'));
      },
      ['update c {}->{}'],
    ],
  ])('410 Gone on resume: relist, diffed against the cache: %s', async (_name, change, expected) => {
    const t = setup();
    for (const name of ['a', 'b', 'c', 'd']) t.kube.put('configmaps', configMap(name));
    await started(t);
    t.seen.length = 0;
    const lists = t.kube.requests.filter((r) => r.method === 'GET').length;
    // The stream drops; meanwhile the server changes and compacts past the informer's resourceVersion.
    t.kube.silentWatches = true;
    change(t.kube);
    t.kube.compact();
    t.kube.silentWatches = false;
    t.kube.endWatches();
    await settle(t.clock);
    expect(t.restarts).toEqual(['Gone']);
    expect(t.kube.requests.filter((r) => r.method === 'GET').length).toBeGreaterThan(lists);
    expect(t.seen).toEqual(expected);
    expect(t.informer.isHealthy()).toBe(true);
    expect([...t.informer.list()].map((o) => o.metadata.name).sort()).toEqual(
      t.kube
        .list('configmaps', 'ops')
        .map((o) => o.metadata.name)
        .sort(),
    );
  });

  test('a watch the server ends is resumed from its resourceVersion, without a relist', async () => {
    const t = setup();
    t.kube.put('configmaps', configMap('a'));
    await started(t);
    const lists = t.kube.requests.filter((r) => r.method === 'GET').length;
    t.kube.endWatches();
    t.kube.put('configmaps', configMap('b'));
    await settle(t.clock);
    expect(t.restarts).toEqual([]);
    expect(t.kube.requests.filter((r) => r.method === 'GET').length).toBe(lists);
    expect(t.seen).toEqual(['add a', 'add b']);
  });
});

describe('Informer: restart backoff', () => {
  const { initialMs, maxMs } = WATCH_RESTART_BACKOFF;
  /** The range the n-th consecutive failure's delay is drawn from (equal jitter). */
  const range = (n: number): [number, number] => {
    const full = Math.min(maxMs, initialMs * 2 ** (n - 1));
    return [full / 2, full];
  };

  test('grows while watches keep failing, is capped, and resets once a watch is established', async () => {
    const t = setup();
    await started(t);
    const isWatch = (r: { method: string }) => r.method === 'WATCH';
    t.kube.failNext(isWatch, () => apiError(500, 'InternalError'), 9);
    t.kube.endWatches();
    const delays: number[] = [];
    for (let i = 0; i < 9; i++) {
      const delay = await nextRestartDelay(t);
      delays.push(delay);
      expect(t.informer.isHealthy()).toBe(false);
      t.clock.advance(delay);
    }
    delays.forEach((delay, i) => {
      const [low, high] = range(i + 1);
      expect(delay).toBeGreaterThanOrEqual(low);
      expect(delay).toBeLessThan(high);
    });
    expect(Math.max(...delays)).toBeLessThan(maxMs);
    await settle(t.clock, { horizonMs: 0 });
    expect(t.informer.isHealthy()).toBe(true); // the 10th watch was answered: backoff reset
    expect(t.restarts).toEqual(Array(9).fill('Transient'));

    t.kube.failNext(isWatch, () => apiError(500, 'InternalError'));
    t.kube.endWatches();
    const afterReset = await nextRestartDelay(t);
    expect(afterReset).toBeGreaterThanOrEqual(range(1)[0]);
    expect(afterReset).toBeLessThan(range(1)[1]);
  });

  test("a server's Retry-After is a floor under the backoff, capped", async () => {
    const t = setup();
    await started(t);
    t.kube.failNext(
      (r) => r.method === 'WATCH',
      () => apiError(429, 'TooManyRequests', { retryAfterSeconds: 7 }),
    );
    t.kube.endWatches();
    expect(await nextRestartDelay(t)).toBe(7000);
  });

  test('410 Gone relists at once, without backoff', async () => {
    const t = setup();
    t.kube.put('configmaps', configMap('a'));
    await started(t);
    t.kube.compact();
    t.kube.put('configmaps', configMap('b'));
    t.kube.compact();
    t.kube.silentWatches = true;
    t.kube.endWatches();
    t.kube.silentWatches = false;
    await settle(t.clock, { horizonMs: 0 });
    expect(t.restarts).toEqual(['Gone']);
    expect(t.informer.get('ops/b')).toBeDefined();
    expect(t.informer.isHealthy()).toBe(true);
  });
});

describe('Informer: idle watchdog', () => {
  test('a watch that delivers nothing for the idle timeout is restarted (reason Idle), and is unhealthy until then answered', async () => {
    const t = setup({ idleTimeoutMs: 60_000 });
    await started(t);
    t.kube.silentWatches = true;
    t.clock.advance(59_999);
    await settle(t.clock, { horizonMs: 0 });
    expect(t.restarts).toEqual([]);
    expect(t.informer.isHealthy()).toBe(true);
    t.clock.advance(1);
    await settle(t.clock, { horizonMs: 0 });
    expect(t.restarts).toEqual(['Idle']);
    expect(t.informer.isHealthy()).toBe(false);
    // The restart (after its backoff) gets an answered, live watch again.
    t.kube.silentWatches = false;
    await settle(t.clock, { horizonMs: WATCH_RESTART_BACKOFF.initialMs });
    expect(t.informer.isHealthy()).toBe(true);
    t.kube.put('configmaps', configMap('after'));
    await settle(t.clock, { horizonMs: 0 });
    expect(t.informer.get('ops/after')).toBeDefined();
  });

  test('events keep the watchdog quiet', async () => {
    const t = setup({ idleTimeoutMs: 60_000 });
    await started(t);
    for (let i = 0; i < 5; i++) {
      t.clock.advance(40_000);
      t.kube.put('configmaps', configMap(`m${i}`));
      await settle(t.clock, { horizonMs: 0 });
    }
    expect(t.restarts).toEqual([]);
    expect(t.informer.isHealthy()).toBe(true);
  });
});

describe('Informer: write-through', () => {
  test('our own write is cached at once; its watch event is then a no-op, an older event is ignored', async () => {
    const t = setup();
    const first = t.kube.put('configmaps', configMap('a'));
    await started(t);
    t.seen.length = 0;
    t.kube.silentWatches = true;
    const written = t.kube.put('configmaps', configMap('a', { mine: 'yes' }));
    t.informer.noteWritten(written);
    expect(t.informer.get('ops/a')?.data).toEqual({ mine: 'yes' });
    t.informer.noteWritten(first); // older: ignored
    expect(t.informer.get('ops/a')?.metadata.resourceVersion).toBe(written.metadata.resourceVersion);
    t.kube.silentWatches = false;
    t.kube.endWatches(); // resumes and replays the event of our own write
    await settle(t.clock, { horizonMs: 0 });
    expect(t.seen).toEqual([]);
  });
});

describe('Informer: the cache by namespace', () => {
  // A namespace's objects are held in a short array up to 8, in a Map beyond: both must answer alike.
  test.each([3, 8, 9, 20])('%i objects in one namespace: get, list, listIn, size and removals agree', async (n) => {
    const t = setup();
    const names = Array.from({ length: n }, (_, i) => `cm-${i}`);
    for (const name of names) t.kube.put('configmaps', configMap(name, { v: '1' }));
    await started(t);
    expect(t.informer.size()).toBe(n);
    expect([...t.informer.listIn('ops')].map((o) => o.metadata.name).sort()).toEqual([...names].sort());
    expect([...t.informer.list()]).toHaveLength(n);
    expect(t.informer.getIn('ops', 'cm-2')?.data).toEqual({ v: '1' });
    expect(t.informer.get('ops/cm-2')).toBe(t.informer.getIn('ops', 'cm-2'));
    expect(t.informer.getIn('ops', 'missing')).toBeUndefined();
    expect(t.informer.getIn('other', 'cm-2')).toBeUndefined();

    t.kube.put('configmaps', configMap('cm-2', { v: '2' }));
    t.kube.remove('configmaps', 'ops', 'cm-0');
    await settle(t.clock, { horizonMs: 0 });
    expect(t.informer.size()).toBe(n - 1);
    expect(t.informer.getIn('ops', 'cm-2')?.data).toEqual({ v: '2' });
    expect(t.informer.getIn('ops', 'cm-0')).toBeUndefined();

    for (const name of names.slice(1)) t.kube.remove('configmaps', 'ops', name);
    await settle(t.clock, { horizonMs: 0 });
    expect(t.informer.size()).toBe(0);
    expect([...t.informer.listIn('ops')]).toEqual([]);
  });

  test('a loop over listIn sees the namespace as it was when it began', async () => {
    const t = setup();
    for (const name of ['a', 'b', 'c']) t.kube.put('configmaps', configMap(name));
    await started(t);
    const seen: string[] = [];
    for (const obj of t.informer.listIn('ops')) {
      seen.push(obj.metadata.name);
      if (obj.metadata.name === 'a') t.informer.noteDeleted('ops/b');
    }
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(t.informer.getIn('ops', 'b')).toBeUndefined();
    expect(t.informer.size()).toBe(2);
  });
});
