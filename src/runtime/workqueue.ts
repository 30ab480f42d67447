// A keyed work queue in the manner of client-go's workqueue:
// - a key is queued at most once, however many events name it (N events -> one reconcile);
// - a key being processed is never handed to a second worker; if it is added meanwhile it is
//   marked dirty and queued again once the worker calls done();
// - delayed adds (requeue-after);
// - rate-limited re-adds of failed keys, as client-go's DefaultControllerRateLimiter: the longer
//   of a per-key exponential backoff and an overall token bucket over all retries, so a mass
//   failure (an API server restart fails every key at once) does not retry faster than the bucket;
// - the metrics client-go's queue reports: adds, depth, queue latency, work duration, retries.
import { Backoff } from './backoff.js';
import type { Clock, Timer } from './clock.js';
import { TokenBucket } from './ratelimit.js';

/** What the queue reports (metrics.ts turns it into Prometheus series). Times in seconds. */
export interface WorkQueueMetrics {
  /** A key was added that was not already waiting. */
  added(): void;
  /** Keys waiting to be handed to a worker. */
  depth(keys: number): void;
  /** How long a key waited between its add and a worker taking it. */
  queued(seconds: number): void;
  /** How long a worker held a key (get to done). */
  worked(seconds: number): void;
  /** A failed key was re-added with backoff. */
  retried(): void;
}

export interface WorkQueueOptions {
  clock: Clock;
  /** Per-key backoff of failed keys: base * 2^(failures-1), capped (default 50 ms up to 5 min). */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** The overall bucket over all retries (client-go's default: 10 per second, burst 100). */
  retryQps?: number;
  retryBurst?: number;
  metrics?: WorkQueueMetrics;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly waiting = new Map<string, { at: number; timer: Timer }>();
  private readonly failures = new Map<string, number>();
  private readonly getters: Array<(key: string | undefined) => void> = [];
  /** When each dirty key was added, and when each key in progress was handed out (metrics). */
  private readonly addedAt = new Map<string, number>();
  private readonly startedAt = new Map<string, number>();
  private shuttingDown = false;
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private readonly retryBucket: TokenBucket;
  private readonly metrics?: WorkQueueMetrics;

  constructor(options: WorkQueueOptions) {
    this.clock = options.clock;
    // 50 ms, 100 ms, ... 5 min: a blip (e.g. an API server restart) costs little
    this.backoff = new Backoff({ initialMs: options.baseBackoffMs ?? 50, maxMs: options.maxBackoffMs ?? 5 * 60_000 });
    this.retryBucket = new TokenBucket(options.retryQps ?? 10, options.retryBurst ?? 100, options.clock);
    this.metrics = options.metrics;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.addedAt.set(key, this.clock.now());
    this.metrics?.added();
    if (this.processing.has(key)) return; // re-queued by done()
    this.enqueue(key);
  }

  /** Adds the key after `delayMs`; an earlier pending delayed add for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const at = this.clock.now() + delayMs;
    const pending = this.waiting.get(key);
    if (pending && pending.at <= at) return;
    pending?.timer.cancel();
    const timer = this.clock.setTimer(delayMs, () => {
      this.waiting.delete(key);
      this.add(key);
    });
    this.waiting.set(key, { at, timer });
  }

  /** Turns a pending delayed add of the key into an add now. Returns whether there was one. */
  expedite(key: string): boolean {
    const pending = this.waiting.get(key);
    if (!pending) return false;
    pending.timer.cancel();
    this.waiting.delete(key);
    this.add(key);
    return true;
  }

  /**
   * Re-adds a failed key after the longer of its own exponential backoff and the overall retry
   * bucket's wait; never sooner than `atLeastMs` (a server's Retry-After), capped at the maximum
   * backoff. Returns the delay.
   */
  addRateLimited(key: string, atLeastMs = 0): number {
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    const maxMs = this.backoff.policy.maxMs;
    const delay = Math.max(
      this.backoff.delayMs(failures),
      Math.min(this.retryBucket.reserve(), maxMs),
      Math.min(atLeastMs, maxMs),
    );
    this.metrics?.retried();
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the failure history of a key (after a success). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Resolves with the next key, or undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.handOut(key);
      this.metrics?.depth(this.queue.length);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.getters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    const started = this.startedAt.get(key);
    if (started !== undefined) {
      this.startedAt.delete(key);
      this.metrics?.worked((this.clock.now() - started) / 1000);
    }
    if (this.dirty.has(key) && !this.shuttingDown) this.enqueue(key);
  }

  /** Keys waiting to be processed (not counting delayed adds or keys in progress). */
  len(): number {
    return this.queue.length;
  }

  inProgress(): number {
    return this.processing.size;
  }

  /** Whether `key` is being worked on now. */
  isProcessing(key: string): boolean {
    return this.processing.has(key);
  }

  delayed(): number {
    return this.waiting.size;
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.waiting.values()) timer.cancel();
    this.waiting.clear();
    for (const getter of this.getters.splice(0)) getter(undefined);
  }

  /** A dirty key that is not in progress: straight to a waiting worker, or to the back of the queue. */
  private enqueue(key: string): void {
    const getter = this.getters.shift();
    if (getter) {
      this.handOut(key);
      getter(key);
    } else {
      this.queue.push(key);
      this.metrics?.depth(this.queue.length);
    }
  }

  private handOut(key: string): void {
    this.dirty.delete(key);
    this.processing.add(key);
    const now = this.clock.now();
    const added = this.addedAt.get(key);
    this.addedAt.delete(key);
    if (added !== undefined) this.metrics?.queued((now - added) / 1000);
    this.startedAt.set(key, now);
  }
}
