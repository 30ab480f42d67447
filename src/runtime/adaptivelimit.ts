// A limit on requests in flight that adapts to what the server signals, like a congestion window
// (TCP's AIMD; the idea of Netflix's concurrency-limits): it halves when the server throttles (a
// 429, e.g. API Priority and Fairness rejecting a request, or a 503 with Retry-After), shrinks by a
// fifth while requests are slow, and grows back by one per window of good answers up to its
// maximum. A bound on requests in flight rather than on their rate: a server that answers slower
// gets fewer requests per second by itself, and one that answers fast is not held back.
//
// A throttled answer lowers the bound once per window, like TCP's one reduction per window of data in
// flight: answers to requests sent before the last decrease say nothing about the bound since.
//
// An answer is good when it is not slow itself: it grows the limit even while the average still
// remembers a slow period, so the limit recovers as soon as the server does. It shrinks for
// slowness only on a slow answer while the recent average is slow too (one slow answer among fast
// ones is noise).
//
// Slow means both: the recent latency of single-object requests (an average over about ten) is
// above `slowMs` (a quarter of the API server's 1 s latency SLO for such calls by default), and
// above `tolerance` times the fastest answer of the last minute (what the server does without a
// queue). The first keeps a busy but healthy server from throttling us; the second keeps a far
// server (high latency without pressure) from pinning the limit at its minimum.
import type { Clock } from './clock.js';

export interface AdaptiveLimitOptions {
  clock: Clock;
  /** The most requests in flight; the limit starts here. */
  max: number;
  /** The least (default 1). */
  min?: number;
  /** false: a fixed limit of `max`, no adaptation. */
  adaptive?: boolean;
  slowMs?: number;
  tolerance?: number;
  /** Called when the limit changes (a metric). */
  onChange?: (limit: number) => void;
}

/** How a request ended, as far as the limit is concerned. */
export interface Outcome {
  /** The server said it is overloaded (429, or 503 with Retry-After). */
  throttled?: boolean;
  /** Latency of a single-object request (lists, whose time grows with their size, give none). */
  latencyMs?: number;
}

export const SLOW_MS = 250;
export const TOLERANCE = 4;
/** Two decreases for slowness are at least this far apart (the average of latencies follows slowly). */
const SLOW_DECREASE_INTERVAL_MS = 1000;
const LATENCY_AVERAGE = 0.1;
/** The fastest answer is tracked per bucket; the baseline is the minimum over the last few. */
const MIN_BUCKET_MS = 10_000;
const MIN_BUCKETS = 6;

export class AdaptiveLimit {
  private current: number;
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly min: number;
  private recentMs?: number;
  private lastSlowDecreaseAt = -Infinity;
  /** Counts decreases; a request remembers the count it was sent under (its ticket). */
  private decreases = 0;
  private readonly fastest: Array<{ since: number; ms: number }> = [];

  constructor(private readonly options: AdaptiveLimitOptions) {
    this.current = options.max;
    this.min = Math.max(1, Math.min(options.min ?? 1, options.max));
  }

  /** The limit now (whole requests). */
  get limit(): number {
    return Math.floor(this.current);
  }

  get active(): number {
    return this.inFlight;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Waits for a slot; callers are served in arrival order. Returns the ticket to release it with. */
  acquire(): Promise<number> {
    if (this.inFlight < this.limit && this.waiting.length === 0) {
      this.inFlight++;
      return Promise.resolve(this.decreases);
    }
    return new Promise((resolve) => this.waiting.push(() => resolve(this.decreases)));
  }

  /** Gives the slot back and learns from how the request went. */
  release(ticket: number, outcome: Outcome = {}): void {
    this.inFlight--;
    if (this.options.adaptive !== false) this.learn(ticket, outcome);
    while (this.waiting.length > 0 && this.inFlight < this.limit) {
      this.inFlight++;
      this.waiting.shift()!();
    }
  }

  private learn(ticket: number, outcome: Outcome): void {
    const now = this.options.clock.now();
    if (outcome.latencyMs !== undefined) {
      this.recentMs =
        this.recentMs === undefined
          ? outcome.latencyMs
          : this.recentMs + LATENCY_AVERAGE * (outcome.latencyMs - this.recentMs);
      this.noteFastest(now, outcome.latencyMs);
    }
    if (outcome.throttled) {
      if (ticket === this.decreases) this.decrease(0.5);
      return;
    }
    if (outcome.latencyMs === undefined) return;
    if (!this.isSlow(outcome.latencyMs)) this.set(Math.min(this.options.max, this.current + 1 / this.current));
    else if (this.isSlow(this.recentMs!) && now - this.lastSlowDecreaseAt >= SLOW_DECREASE_INTERVAL_MS) {
      this.lastSlowDecreaseAt = now;
      this.decrease(0.8);
    }
  }

  /** Slow by both measures: above `slowMs` and above `tolerance` times the fastest of the last minute. */
  private isSlow(ms: number): boolean {
    const baseline = Math.min(...this.fastest.map((bucket) => bucket.ms));
    return ms > (this.options.slowMs ?? SLOW_MS) && ms > (this.options.tolerance ?? TOLERANCE) * baseline;
  }

  private decrease(factor: number): void {
    this.decreases++;
    this.set(Math.max(this.min, this.current * factor));
  }

  private set(limit: number): void {
    const before = this.limit;
    this.current = limit;
    if (this.limit !== before) this.options.onChange?.(this.limit);
  }

  private noteFastest(now: number, ms: number): void {
    const last = this.fastest[this.fastest.length - 1];
    if (last && now - last.since < MIN_BUCKET_MS) last.ms = Math.min(last.ms, ms);
    else {
      this.fastest.push({ since: now, ms });
      if (this.fastest.length > MIN_BUCKETS) this.fastest.shift();
    }
  }
}
