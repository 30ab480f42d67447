// Running in-process systems (informers, queue, workers on the in-memory API) to quiet, on a fake
// clock: no sleeping, no real timers.
import type { FakeClock } from './fake-clock.js';

/** Lets every promise and immediate callback that is ready run, `turns` event-loop turns deep. */
export async function flush(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

export interface SettleOptions {
  /** Timers due within this long from now are fired (the clock advances to each in turn). */
  horizonMs?: number;
  /** Work still in progress (e.g. keys queued or being reconciled): keep flushing. */
  busy?: () => boolean;
}

/**
 * Flushes ready work; while a timer falls due within the horizon, advances the fake clock to it
 * and flushes again. Returns once nothing is ready and no timer is due within the horizon.
 */
export async function settle(clock: FakeClock, options: SettleOptions = {}): Promise<void> {
  const deadline = clock.now() + (options.horizonMs ?? 15_000);
  for (let round = 0; round < 100_000; round++) {
    await flush();
    if (options.busy?.()) continue;
    const next = clock.nextTimerAt();
    if (next === undefined || next > deadline) return;
    clock.advance(Math.max(0, next - clock.now()));
  }
  throw new Error('the system did not settle: it keeps working or keeps setting timers');
}
