// Everything that waits or expires takes a Clock, so tests drive time instead of sleeping
// (test/support/fake-clock.ts).

export interface Timer {
  cancel(): void;
}

export interface Clock {
  now(): number; // epoch milliseconds
  setTimer(delayMs: number, fn: () => void): Timer;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(delayMs, fn) {
    const handle = setTimeout(fn, Math.max(0, delayMs));
    handle.unref?.();
    return { cancel: () => clearTimeout(handle) };
  },
};

/** Resolves after `delayMs` on `clock`. */
export function sleep(clock: Clock, delayMs: number): Promise<void> {
  return new Promise<void>((resolve) => clock.setTimer(delayMs, resolve));
}
