// One exponential backoff for everything that retries: the REST client's retries of transient
// failures, the informer's watch restarts, the work queue's per-key retries and token renewals.
// Each caller picks its first delay and its cap (their costs differ: a watch restart is cheap, an
// AWS token request is rate-limited by AWS); the shape is the same everywhere:
//
//   delay(n) = min(maxMs, initialMs * 2^(n-1))        n = 1 after the first failure
//
// optionally with "equal jitter": a delay drawn in [delay/2, delay), so that many retriers of one
// outage do not come back in lock-step.

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** Draw each delay in [d/2, d) instead of using d itself. */
  jitter?: boolean;
}

export class Backoff {
  constructor(
    readonly policy: BackoffPolicy,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before retry number `failures` (1 = after the first failure). */
  delayMs(failures: number, random: number = this.policy.jitter ? this.random() : 0): number {
    const exponent = Math.min(Math.max(failures - 1, 0), 30);
    const delay = Math.min(this.policy.maxMs, this.policy.initialMs * 2 ** exponent);
    return this.policy.jitter ? delay / 2 + (delay / 2) * random : delay;
  }
}

/**
 * A server's answer (Retry-After) as a floor under a delay: never retry sooner than it asked,
 * but never wait longer than `capMs` on its word alone.
 */
export function notSoonerThan(delayMs: number, serverAskedMs: number | undefined, capMs: number): number {
  return Math.max(delayMs, Math.min(serverAskedMs ?? 0, capMs));
}
