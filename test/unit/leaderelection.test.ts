import { pino } from 'pino';
import { FakeClock } from '../support/fake-clock.js';
import {
  DEFAULT_TIMING,
  LeaderElector,
  type LockRecord,
  type LockStore,
  type StoredRecord,
} from '../../src/runtime/leaderelection.js';

// ---- builders ----------------------------------------------------------------------------------

class ConflictError extends Error {}

/** The lock as the API server keeps it: one record, a version bumped on every write, conflicts on stale writes. */
class FakeLockServer {
  stored?: StoredRecord;
  writes: Array<{ by: string; record: LockRecord }> = [];
  private version = 0;

  /** A candidate's view of the server; `link` decides whether its requests get through. */
  storeFor(name: string, link: { mode: 'up' | 'down' | 'hang' } = { mode: 'up' }): LockStore & { link: typeof link } {
    const call = <T>(fn: () => T): Promise<T> => {
      if (link.mode === 'down') return Promise.reject(new Error('connection refused'));
      if (link.mode === 'hang') return new Promise<T>(() => undefined);
      try {
        return Promise.resolve(fn());
      } catch (err) {
        return Promise.reject(err as Error);
      }
    };
    return {
      link,
      description: 'lease test/lock',
      get: () => call(() => (this.stored ? structuredClone(this.stored) : undefined)),
      create: (record) =>
        call(() => {
          if (this.stored) throw new ConflictError('AlreadyExists');
          return this.write(name, record);
        }),
      update: (record, version) =>
        call(() => {
          if (!this.stored || this.stored.version !== version) throw new ConflictError('Conflict');
          return this.write(name, record);
        }),
    };
  }

  /** Someone writes the record directly (another operator version, an admin). */
  put(record: LockRecord): void {
    this.write('outside', record);
  }

  private write(by: string, record: LockRecord): StoredRecord {
    this.stored = { record: structuredClone(record), version: String(++this.version) };
    this.writes.push({ by, record: structuredClone(record) });
    return structuredClone(this.stored);
  }
}

interface Candidate {
  name: string;
  elector: LeaderElector;
  store: ReturnType<FakeLockServer['storeFor']>;
  started: number[];
  lost: number[];
}

const silent = pino({ level: 'silent' });

function setup() {
  const clock = new FakeClock(0);
  const server = new FakeLockServer();
  const candidates: Candidate[] = [];
  const candidate = (name: string): Candidate => {
    const store = server.storeFor(name);
    const c: Candidate = { name, store, started: [], lost: [], elector: undefined as never };
    c.elector = new LeaderElector({
      store,
      identity: name,
      clock,
      logger: silent,
      ...DEFAULT_TIMING,
      random: () => 0, // no jitter: a candidate retries exactly every retry period
      onStartedLeading: () => c.started.push(clock.now()),
      onStoppedLeading: () => c.lost.push(clock.now()),
    });
    candidates.push(c);
    return c;
  };
  /** Lets the fake store's resolved promises run their callbacks. */
  const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  };
  /** Moves time in 100 ms steps; after each, at most one candidate may believe it leads. */
  const advance = async (ms: number) => {
    for (let t = 0; t < ms; t += 100) {
      clock.advance(100);
      await settle();
      expect(candidates.filter((c) => c.elector.isLeader()).map((c) => c.name).length).toBeLessThanOrEqual(1);
    }
  };
  return { clock, server, candidate, settle, advance };
}

// ---- acquiring ---------------------------------------------------------------------------------

describe('LeaderElector acquiring', () => {
  test('no lock yet: the first try creates it and leads at once', async () => {
    const { server, candidate, settle } = setup();
    const a = candidate('a');
    a.elector.run();
    await settle();
    expect(a.started).toEqual([0]);
    expect(a.elector.current).toBe('leading');
    expect(server.stored?.record).toEqual({
      holderIdentity: 'a',
      leaseDurationSeconds: 15,
      acquireTime: 0,
      renewTime: 0,
      leaseTransitions: 0,
    });
  });

  test('a held lock that is renewed is never taken', async () => {
    const { server, candidate, settle, advance } = setup();
    const a = candidate('a');
    const b = candidate('b');
    a.elector.run();
    await settle();
    b.elector.run();
    await advance(120_000);
    expect(b.started).toEqual([]);
    expect(b.elector.current).toBe('candidate');
    expect(a.lost).toEqual([]);
    // the leader renews every retry period; the candidate only reads
    expect(server.writes.filter((w) => w.by === 'b')).toEqual([]);
    expect(server.writes.filter((w) => w.by === 'a').length).toBe(1 + 120_000 / DEFAULT_TIMING.retryPeriodMs);
    expect(server.stored?.record).toMatchObject({
      holderIdentity: 'a',
      acquireTime: 0,
      renewTime: 120_000,
      leaseTransitions: 0,
    });
  });

  test.each<[string, number]>([
    ['renewTime far in the future (a skewed clock wrote it)', 3_600_000],
    ['renewTime far in the past', -3_600_000],
    ['renewTime now', 0],
  ])(
    'an abandoned lock is taken a lease duration after it was first seen, whatever its timestamps: %s',
    async (_name, skew) => {
      const { clock, server, candidate, advance } = setup();
      clock.advance(5_000);
      server.put({
        holderIdentity: 'dead',
        leaseDurationSeconds: 15,
        acquireTime: clock.now() + skew,
        renewTime: clock.now() + skew,
        leaseTransitions: 3,
      });
      const b = candidate('b');
      b.elector.run();
      await advance(14_900);
      expect(b.started).toEqual([]);
      await advance(2_200);
      expect(b.started.length).toBe(1);
      expect(b.started[0]! - 5_000).toBeGreaterThanOrEqual(15_000);
      expect(server.stored?.record).toMatchObject({ holderIdentity: 'b', leaseTransitions: 4 });
    },
  );

  test("the lease duration written by the holder counts, not the candidate's own", async () => {
    const { clock, server, candidate, advance } = setup();
    server.put({ holderIdentity: 'slow', leaseDurationSeconds: 60, acquireTime: 0, renewTime: 0, leaseTransitions: 0 });
    const b = candidate('b');
    b.elector.run();
    await advance(58_000);
    expect(b.started).toEqual([]);
    await advance(4_000);
    expect(b.started.length).toBe(1);
    expect(clock.now()).toBeGreaterThanOrEqual(60_000);
  });

  test('a released lock (empty holder) is taken on the next try', async () => {
    const { server, candidate, settle } = setup();
    server.put({ holderIdentity: '', leaseDurationSeconds: 1, acquireTime: 0, renewTime: 0, leaseTransitions: 2 });
    const b = candidate('b');
    b.elector.run();
    await settle();
    expect(b.started).toEqual([0]);
    expect(server.stored?.record.leaseTransitions).toBe(3);
  });

  test('two candidates racing for an abandoned lock: exactly one wins', async () => {
    const { server, candidate, advance } = setup();
    server.put({ holderIdentity: 'dead', leaseDurationSeconds: 15, acquireTime: 0, renewTime: 0, leaseTransitions: 0 });
    const b = candidate('b');
    const c = candidate('c');
    b.elector.run();
    c.elector.run();
    await advance(60_000);
    expect(b.started.length + c.started.length).toBe(1);
    expect([b.lost, c.lost]).toEqual([[], []]);
    expect(['b', 'c']).toContain(server.stored?.record.holderIdentity);
  });

  test('unreachable lock: the candidate keeps trying and takes it when it can', async () => {
    const { candidate, advance } = setup();
    const b = candidate('b');
    b.store.link.mode = 'down';
    b.elector.run();
    await advance(30_000);
    expect(b.started).toEqual([]);
    b.store.link.mode = 'up';
    await advance(2_100);
    expect(b.started.length).toBe(1);
  });

  test("jitter spreads a candidate's tries over retryPeriod × [1, 2.2)", async () => {
    const clock = new FakeClock(0);
    const server = new FakeLockServer();
    server.put({
      holderIdentity: 'other',
      leaseDurationSeconds: 15,
      acquireTime: 0,
      renewTime: 0,
      leaseTransitions: 0,
    });
    const reads: number[] = [];
    const store = server.storeFor('b');
    const counting: LockStore = { ...store, get: () => (reads.push(clock.now()), store.get()) };
    const elector = new LeaderElector({
      store: counting,
      identity: 'b',
      clock,
      logger: silent,
      ...DEFAULT_TIMING,
      random: () => 0.5,
      onStartedLeading: () => undefined,
      onStoppedLeading: () => undefined,
    });
    const settle = async () => {
      for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    };
    elector.run();
    await settle();
    for (let t = 0; t < 10_000; t += 100) {
      clock.advance(100);
      await settle();
    }
    const gaps = reads.slice(1).map((t, i) => t - reads[i]!);
    expect(gaps.length).toBeGreaterThan(0);
    for (const gap of gaps) expect(gap).toBe(2_000 * (1 + 0.5 * 1.2));
  });
});

// ---- keeping and losing ------------------------------------------------------------------------

describe('LeaderElector keeping and losing', () => {
  test('renewal failures shorter than the renew deadline keep leadership', async () => {
    const { candidate, settle, advance } = setup();
    const a = candidate('a');
    a.elector.run();
    await settle();
    a.store.link.mode = 'down';
    await advance(7_000);
    a.store.link.mode = 'up';
    await advance(30_000);
    expect(a.lost).toEqual([]);
    expect(a.elector.current).toBe('leading');
  });

  test.each<['down' | 'hang']>([['down'], ['hang']])(
    'a leader cut off (%s) gives up at the renew deadline, before anyone may take over',
    async (mode) => {
      const { server, candidate, settle, advance } = setup();
      const a = candidate('a');
      const b = candidate('b');
      a.elector.run();
      await settle();
      b.elector.run();
      await advance(4_000);
      const lastRenew = server.stored!.record.renewTime;
      a.store.link.mode = mode;
      await advance(30_000);
      expect(a.lost.length).toBe(1);
      expect(a.lost[0]! - lastRenew).toBeLessThanOrEqual(DEFAULT_TIMING.renewDeadlineMs);
      expect(a.lost[0]! - lastRenew).toBeGreaterThanOrEqual(
        DEFAULT_TIMING.renewDeadlineMs - DEFAULT_TIMING.retryPeriodMs,
      );
      expect(b.started.length).toBe(1);
      expect(b.started[0]! - lastRenew).toBeGreaterThanOrEqual(DEFAULT_TIMING.leaseDurationMs);
      expect(b.started[0]!).toBeGreaterThan(a.lost[0]!);
      expect(a.elector.current).toBe('lost');
      expect(server.writes.filter((w) => w.by === 'a').every((w) => w.record.renewTime <= lastRenew)).toBe(true);
    },
  );

  test('a leader that sees another holder loses at once', async () => {
    const { clock, server, candidate, settle, advance } = setup();
    const a = candidate('a');
    a.elector.run();
    await settle();
    await advance(1_000);
    server.put({
      holderIdentity: 'intruder',
      leaseDurationSeconds: 15,
      acquireTime: clock.now(),
      renewTime: clock.now(),
      leaseTransitions: 1,
    });
    await advance(DEFAULT_TIMING.retryPeriodMs);
    expect(a.lost).toEqual([2_000]);
    expect(server.stored?.record.holderIdentity).toBe('intruder');
  });

  test('after losing, nothing more is written', async () => {
    const { server, candidate, settle, advance } = setup();
    const a = candidate('a');
    a.elector.run();
    await settle();
    a.store.link.mode = 'down';
    await advance(20_000);
    a.store.link.mode = 'up';
    const before = server.writes.length;
    await advance(60_000);
    expect(server.writes.length).toBe(before);
    expect(a.lost.length).toBe(1);
  });
});

// ---- stopping ----------------------------------------------------------------------------------

describe('LeaderElector stop', () => {
  test('a stopping leader releases the lock; a standby takes over within a retry period', async () => {
    const { clock, server, candidate, settle, advance } = setup();
    const a = candidate('a');
    const b = candidate('b');
    a.elector.run();
    await settle();
    b.elector.run();
    await advance(10_000);
    await a.elector.stop();
    expect(server.stored?.record).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 0 });
    const releasedAt = clock.now();
    await advance(DEFAULT_TIMING.retryPeriodMs + 100);
    expect(b.started.length).toBe(1);
    expect(b.started[0]! - releasedAt).toBeLessThanOrEqual(DEFAULT_TIMING.retryPeriodMs);
    expect(a.lost).toEqual([]); // released, not lost
    expect(server.stored?.record).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    const writesByA = server.writes.filter((w) => w.by === 'a').length;
    await advance(10_000);
    expect(server.writes.filter((w) => w.by === 'a').length).toBe(writesByA);
  });

  test('a stopping candidate writes nothing', async () => {
    const { server, candidate, settle, advance } = setup();
    const a = candidate('a');
    const b = candidate('b');
    a.elector.run();
    await settle();
    b.elector.run();
    await advance(3_000);
    const writes = server.writes.length;
    await b.elector.stop();
    expect(server.writes.filter((w) => w.by === 'b').length).toBe(0);
    expect(server.writes.length).toBe(writes);
    expect(server.stored?.record.holderIdentity).toBe('a');
  });

  test('stop() while the first read is in flight: nothing is taken', async () => {
    const { server, candidate, settle } = setup();
    const a = candidate('a');
    a.elector.run(); // the read is in flight
    await a.elector.stop();
    await settle();
    expect(a.started).toEqual([]);
    expect(server.writes).toEqual([]);
  });

  test('stop() while a create is in flight releases the lock that create took', async () => {
    const clock = new FakeClock(0);
    const server = new FakeLockServer();
    const store = server.storeFor('a');
    let letCreateThrough!: () => void;
    const gate = new Promise<void>((resolve) => (letCreateThrough = resolve));
    const gated: LockStore = { ...store, create: async (record) => (await gate, store.create(record)) };
    const started: number[] = [];
    const elector = new LeaderElector({
      store: gated,
      identity: 'a',
      clock,
      logger: silent,
      ...DEFAULT_TIMING,
      onStartedLeading: () => started.push(clock.now()),
      onStoppedLeading: () => undefined,
    });
    elector.run();
    await new Promise<void>((resolve) => setImmediate(resolve)); // the read is done, the create waits at the gate
    const stopped = elector.stop();
    letCreateThrough();
    await stopped;
    expect(started).toEqual([]); // never told to lead
    expect(server.writes.map((w) => w.record.holderIdentity)).toEqual(['a', '']);
  });

  test('stop() of a leader that cannot reach the lock still returns', async () => {
    const { candidate, settle } = setup();
    const a = candidate('a');
    a.elector.run();
    await settle();
    a.store.link.mode = 'down';
    await expect(a.elector.stop()).resolves.toBeUndefined();
    expect(a.lost).toEqual([]);
  });
});

test.each<[string, { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number }, RegExp]>([
  [
    'renew deadline not shorter than the lease',
    { leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
    /renew deadline/,
  ],
  [
    'retry period not shorter than the renew deadline',
    { leaseDurationMs: 15_000, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 },
    /retry period/,
  ],
])('rejects timings where two leaders could overlap: %s', (_name, timing, message) => {
  const server = new FakeLockServer();
  expect(
    () =>
      new LeaderElector({
        store: server.storeFor('a'),
        identity: 'a',
        clock: new FakeClock(0),
        logger: silent,
        ...timing,
        onStartedLeading: () => undefined,
        onStoppedLeading: () => undefined,
      }),
  ).toThrow(message);
});
