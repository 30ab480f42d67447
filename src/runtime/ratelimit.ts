// A token bucket (QPS with a burst), like golang.org/x/time/rate's Limiter that client-go uses:
// for the REST client's request rate (take: wait for a token) and the work queue's overall retry
// rate (reserve: how long until the reserved token is due). A reservation may overdraw the
// bucket; the debt is paid by waiting, so callers are served in the order they reserved.
import { type Clock, sleep } from './clock.js';

export class TokenBucket {
  private tokens: number;
  private last: number;

  /** `qps` <= 0 means no limit. */
  constructor(
    private readonly qps: number,
    private readonly burst: number,
    private readonly clock: Clock,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  /** Reserves one token; returns how long (ms) until it is due (0: now). */
  reserve(): number {
    if (this.qps <= 0) return 0;
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }

  /** Resolves when a token is available; callers are served in arrival order. */
  take(): Promise<void> {
    const waitMs = this.reserve();
    return waitMs > 0 ? sleep(this.clock, waitMs) : Promise.resolve();
  }
}
