// A clock for in-process tests: time moves only when `advance` is called; due timers fire in order.
import type { Clock, Timer } from '../../src/runtime/clock.js';

export class FakeClock implements Clock {
  private timers: Array<{ at: number; seq: number; fn: () => void; cancelled: boolean }> = [];
  private seq = 0;

  constructor(private current = Date.UTC(2026, 10, 22, 0, 0, 0)) {}

  now(): number {
    return this.current;
  }

  setTimer(delayMs: number, fn: () => void): Timer {
    const timer = { at: this.current + Math.max(0, delayMs), seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => (timer.cancelled = true) };
  }

  /** Moves time forward, firing every timer that falls due, including timers set by timers. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      const due = this.timers
        .filter((t) => !t.cancelled && t.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      due.cancelled = true;
      this.current = Math.max(this.current, due.at);
      due.fn();
    }
    this.timers = this.timers.filter((t) => !t.cancelled);
    this.current = target;
  }

  /** When the earliest pending timer falls due (undefined when none is pending). */
  nextTimerAt(): number | undefined {
    const pending = this.timers.filter((t) => !t.cancelled).map((t) => t.at);
    return pending.length ? Math.min(...pending) : undefined;
  }

  pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
}
