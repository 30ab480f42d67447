// A keyed work queue in the manner of client-go's workqueue:
// - a key is queued at most once, however many events name it (N events -> one reconcile);
// - a key being processed is never handed to a second worker; if it is added meanwhile it is
//   marked dirty and queued again once the worker calls done();
// - delayed adds (requeue-after) and per-key exponential backoff for failures.
import type { Clock, Timer } from './clock.js';

export interface WorkQueueOptions {
  clock: Clock;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly waiting = new Map<string, { at: number; timer: Timer }>();
  private readonly failures = new Map<string, number>();
  private readonly getters: Array<(key: string | undefined) => void> = [];
  private shuttingDown = false;
  private readonly clock: Clock;
  private readonly baseBackoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(opts: WorkQueueOptions) {
    this.clock = opts.clock;
    this.baseBackoffMs = opts.baseBackoffMs ?? 50; // 50 ms, 100 ms, ... 5 min: a blip (e.g. an API server restart) costs little
    this.maxBackoffMs = opts.maxBackoffMs ?? 5 * 60_000;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // re-queued by done()
    const getter = this.getters.shift();
    if (getter) {
      this.dirty.delete(key);
      this.processing.add(key);
      getter(key);
    } else {
      this.queue.push(key);
    }
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
   * Re-adds a failed key with exponential backoff: base * 2^(failures-1), capped; never sooner than
   * `atLeastMs` (a server's Retry-After).
   */
  addRateLimited(key: string, atLeastMs = 0): number {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const delay = Math.max(Math.min(this.maxBackoffMs, this.baseBackoffMs * 2 ** Math.min(n - 1, 30)), Math.min(atLeastMs, this.maxBackoffMs));
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
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.getters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  /** Keys waiting to be processed (not counting delayed adds or keys in progress). */
  len(): number {
    return this.queue.length;
  }

  inProgress(): number {
    return this.processing.size;
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
}
