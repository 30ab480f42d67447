// A pool of reconcile workers over a work queue (the workers of a controller-runtime Controller;
// what controller-runtime calls a Manager is Operator here). Each key is processed by one worker
// at a time; a failure requeues the key with per-key exponential backoff, a success clears its history, and a
// result may ask for the key again after a delay (time-based work such as token renewal).
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { WorkQueue } from './workqueue.js';

/** Errors may say how long to wait (e.g. a 429's Retry-After); the backoff is then at least that. */
function retryAfterOf(err: unknown): number {
  const ms = (err as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  return typeof ms === 'number' && Number.isFinite(ms) ? ms * 1000 : 0;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** What one reconcile is given besides its key. */
export interface ReconcileContext {
  /** A child logger for this reconcile only: it carries a fresh `reconcileId` and the key's fields. */
  logger: Logger;
}

export type ReconcileFn = (key: string, context: ReconcileContext) => Promise<ReconcileResult | void>;

export interface WorkerPoolOptions {
  queue: WorkQueue;
  reconcile: ReconcileFn;
  workers: number;
  logger: Logger;
  /** The log fields a key stands for (default: { key }). */
  logFields?: (key: string) => Record<string, string>;
  /** Called after every reconcile with the key, outcome and duration (metrics). */
  observe?: (key: string, result: 'success' | 'error', seconds: number) => void;
  /**
   * Called when a burst of work has ended: a reconcile finished, no other worker holds a key and
   * none is waiting. Policy that waits for the end of a burst listens here instead of reading
   * the queue's length.
   */
  onBurstEnded?: () => void;
}

export class WorkerPool {
  private workers: Promise<void>[] = [];

  constructor(private readonly options: WorkerPoolOptions) {}

  start(): void {
    for (let i = 0; i < this.options.workers; i++) this.workers.push(this.work());
  }

  /** Stops handing out keys and waits (up to `timeoutMs`) for the reconciles in flight. */
  async stop(timeoutMs = 20_000): Promise<void> {
    this.options.queue.shutDown();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.all(this.workers), timeout]);
    clearTimeout(timer);
  }

  private async work(): Promise<void> {
    const { queue, reconcile } = this.options;
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      const started = performance.now();
      // As controller-runtime: every reconcile logs with its own id, so its lines can be told apart.
      const logger = this.options.logger.child({
        reconcileId: randomUUID(),
        ...(this.options.logFields?.(key) ?? { key }),
      });
      try {
        const result = await reconcile(key, { logger });
        queue.forget(key);
        if (result?.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
        this.options.observe?.(key, 'success', (performance.now() - started) / 1000);
      } catch (err) {
        const retryInMs = queue.addRateLimited(key, retryAfterOf(err));
        this.options.observe?.(key, 'error', (performance.now() - started) / 1000);
        logger.warn({ err: (err as Error).message, retryInMs: Math.round(retryInMs) }, 'reconcile failed; will retry');
      } finally {
        queue.done(key);
      }
      // Keys handed out count as in progress from the moment get() returns them.
      if (queue.len() === 0 && queue.inProgress() === 0) this.options.onBurstEnded?.();
    }
  }
}
