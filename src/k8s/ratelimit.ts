// Client-side QPS/burst limit (a token bucket), like client-go's, so a large fan-out does not
// flood the API server and trip its priority-and-fairness limits.
import type { Clock } from '../runtime/clock.js';

export class TokenBucket {
  private tokens: number;
  private last: number;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly qps: number,
    private readonly burst: number,
    private readonly clock: Clock,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  /** Resolves when a token is available; callers are served in arrival order. */
  take(): Promise<void> {
    if (this.qps <= 0) return Promise.resolve();
    const next = this.chain.then(() => this.wait());
    this.chain = next;
    return next;
  }

  private wait(): Promise<void> {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    const waitMs = ((1 - this.tokens) / this.qps) * 1000;
    return new Promise((resolve) =>
      this.clock.setTimer(waitMs, () => {
        this.tokens = Math.min(this.burst, this.tokens + ((this.clock.now() - this.last) / 1000) * this.qps) - 1;
        this.last = this.clock.now();
        resolve();
      }),
    );
  }
}
