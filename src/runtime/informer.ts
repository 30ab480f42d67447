// A list-and-watch cache of one kind of object, with the robustness client-node's own informer
// lacks: it never stops by itself. A watch that ends is resumed from the last resourceVersion, a
// 410 Gone triggers a relist (diffed against the cache, so handlers see only real changes), any
// other failure restarts with exponential backoff, and a watchdog restarts a watch that stays open
// but delivers nothing (not even a bookmark) for too long.
//
// The informer knows no HTTP: it lists and watches through a ListerWatcher (k8s/listwatch.ts
// adapts the REST client; the in-process tests use an in-memory fake).
import type { Logger } from 'pino';
import { Backoff, notSoonerThan } from './backoff.js';
import { type Clock, sleep, type Timer } from './clock.js';

export interface KubeObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export interface InformerHandlers<T> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  delete?(obj: T): void;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface ListPage<T> {
  items: T[];
  resourceVersion: string;
  /** Set when there are more pages. */
  continue?: string;
}

export interface WatchOptions {
  resourceVersion: string;
  timeoutSeconds: number;
  allowWatchBookmarks: boolean;
}

/** How a failed list or watch is handled. */
export interface FailureKind {
  /** The resourceVersion is too old (410 Gone): list again. */
  gone: boolean;
  /** The server asked to wait this long before trying again. */
  retryAfterMs?: number;
  /** A label for logs and the watch-restart metric. */
  reason: string;
}

/** One collection (a kind, optionally narrowed by selectors), listed in pages and watched. */
export interface ListerWatcher<T> {
  list(options: { limit: number; continue?: string }): Promise<ListPage<T>>;
  /** Resolves when the stream ends (or `signal` aborts); `onOpen` runs once the server answered. */
  watch(
    options: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
    signal: AbortSignal,
    onOpen: () => void,
  ): Promise<void>;
  classify(err: unknown): FailureKind;
}

/**
 * The objects of one namespace in the cache: a short array while there are few (a namespace's
 * ServiceAccounts, its copy of a credential), a Map keyed by name beyond SMALL_BUCKET. A Map costs
 * about 300 bytes before its first entry; an array of three, about 70.
 */
type Bucket<T> = T[] | Map<string, T>;
const SMALL_BUCKET = 8;

/** Watch restarts: 0.25-0.5 s, 0.5-1 s, ... up to 15-30 s (equal jitter). */
export const WATCH_RESTART_BACKOFF = { initialMs: 500, maxMs: 30_000, jitter: true };

export interface InformerOptions<T> {
  name: string;
  source: ListerWatcher<T>;
  /** Applied to every object before it is cached (e.g. to drop managedFields and save memory). */
  transform?: (obj: T) => T;
  clock: Clock;
  logger: Logger;
  pageSize?: number;
  /** Restart a watch that delivered nothing for this long. The API server sends bookmarks about once a minute. */
  idleTimeoutMs?: number;
  /** Ask the server to end each watch after a random time in [min, 2*min) seconds; we then resume it. */
  watchTimeoutSeconds?: number;
  onRestart?: (informer: string, reason: string) => void;
}

export function objectKey(obj: KubeObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name}` : (obj.metadata?.name ?? '');
}

/** Numeric comparison of resourceVersions (etcd revisions); unknown formats compare as older. */
export function isNewer(candidate: string | undefined, current: string | undefined): boolean {
  const a = Number(candidate);
  const b = Number(current);
  if (!Number.isFinite(a)) return false;
  if (!Number.isFinite(b)) return true;
  return a > b;
}

export class Informer<T extends KubeObject> {
  /**
   * The cache: namespace ('' for cluster-scoped objects) -> its objects (a Bucket), and no second
   * index by key: a lookup by key goes through its namespace's bucket, so each cached object costs
   * one entry in one index (the caches are most of the operator's memory).
   */
  private readonly byNamespace = new Map<string, Bucket<T>>();
  private count = 0;
  private readonly handlers: InformerHandlers<T>[] = [];
  private resourceVersion = '';
  private synced = false;
  private stopped = true;
  private abort?: AbortController;
  private watchdog?: Timer;
  private lastEventAt = 0;
  private failures = 0;
  private syncWaiters: Array<() => void> = [];
  private loop?: Promise<void>;
  private watching = false;
  private readonly backoff = new Backoff(WATCH_RESTART_BACKOFF);

  constructor(private readonly options: InformerOptions<T>) {}

  on(handlers: InformerHandlers<T>): void {
    this.handlers.push(handlers);
  }

  get name(): string {
    return this.options.name;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /**
   * True while a watch stream is established (the server answered it). False during a restart's
   * backoff, while a re-list or a new watch request is under way (a server that never answers
   * keeps it false), and from the moment the watchdog finds a stream silent for too long.
   */
  isHealthy(): boolean {
    return !this.stopped && this.synced && this.watching;
  }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** The object of `key` (objectKey: `namespace/name`, or the name of a cluster-scoped object). */
  get(key: string): T | undefined {
    const slash = key.indexOf('/');
    return slash < 0 ? this.getIn('', key) : this.getIn(key.slice(0, slash), key.slice(slash + 1));
  }

  getIn(namespace: string, name: string): T | undefined {
    const bucket = this.byNamespace.get(namespace);
    return Array.isArray(bucket) ? bucket.find((obj) => obj.metadata?.name === name) : bucket?.get(name);
  }

  *list(): IterableIterator<T> {
    for (const bucket of this.byNamespace.values()) yield* Array.isArray(bucket) ? bucket : bucket.values();
  }

  /** The objects of one namespace (a loop over them sees the namespace as it was when it began). */
  listIn(namespace: string): Iterable<T> {
    const bucket = this.byNamespace.get(namespace);
    return Array.isArray(bucket) ? bucket : (bucket?.values() ?? []);
  }

  size(): number {
    return this.count;
  }

  /**
   * Write-through after our own successful write, so the next reconcile does not act on the
   * stale copy before the watch event arrives. Only a newer resourceVersion replaces the cache;
   * handlers are not called (the writer already knows) and the later watch event is a no-op.
   */
  noteWritten(obj: T): void {
    const transformed = this.options.transform ? this.options.transform(obj) : obj;
    const current = this.find(transformed);
    if (!current || isNewer(transformed.metadata?.resourceVersion, current.metadata?.resourceVersion))
      this.put(transformed);
  }

  /** Removes an object we just deleted; the watch's DELETED event then finds nothing to do. */
  noteDeleted(key: string): void {
    const obj = this.get(key);
    if (obj) this.remove(obj);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.watchdog?.cancel();
    await this.loop;
  }

  private async run(): Promise<void> {
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        await this.watchOnce();
        this.failures = 0;
      } catch (err) {
        if (this.stopped) break;
        this.watching = false;
        const idle = (err as { idle?: boolean }).idle === true;
        const failure = idle ? { gone: false, reason: 'Idle' } : this.options.source.classify(err);
        if (failure.gone) needList = true;
        this.failures++;
        // The backoff grows only while nothing works: a watch that was established, or a re-list
        // that succeeded, resets it (watchOnce / relist set failures to 0). A server's Retry-After
        // is a floor.
        const backoff = failure.gone ? 0 : this.backoff.delayMs(this.failures);
        const delay = notSoonerThan(backoff, failure.retryAfterMs, WATCH_RESTART_BACKOFF.maxMs);
        this.options.onRestart?.(this.options.name, failure.reason);
        this.options.logger.warn(
          {
            informer: this.options.name,
            reason: failure.reason,
            err: (err as Error).message,
            retryInMs: Math.round(delay),
          },
          'watch failed; restarting',
        );
        if (delay > 0) await sleep(this.options.clock, delay);
      }
    }
    this.watching = false;
  }

  private async relist(): Promise<void> {
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.options.source.list({ limit: this.options.pageSize ?? 500, continue: cont });
      for (const item of page.items) {
        const obj = this.options.transform ? this.options.transform(item) : item;
        fresh.set(objectKey(obj), obj);
      }
      cont = page.continue || undefined;
      rv = page.resourceVersion;
    } while (cont);
    // Replace the cache and tell handlers only what changed since the previous list.
    for (const old of [...this.list()]) {
      if (!fresh.has(objectKey(old))) {
        this.remove(old);
        this.emit((handler) => handler.delete?.(old));
      }
    }
    for (const obj of fresh.values()) {
      const old = this.find(obj);
      if (old && old.metadata?.resourceVersion === obj.metadata?.resourceVersion) continue;
      this.put(obj);
      this.emit((handler) => (old ? handler.update?.(old, obj) : handler.add?.(obj)));
    }
    this.resourceVersion = rv;
    this.failures = 0;
    if (!this.synced) {
      this.synced = true;
      for (const waiter of this.syncWaiters.splice(0)) waiter();
    }
  }

  private async watchOnce(): Promise<void> {
    const abort = new AbortController();
    this.abort = abort;
    const base = this.options.watchTimeoutSeconds ?? 300;
    const timeoutSeconds = Math.floor(base + Math.random() * base);
    const idle = this.options.idleTimeoutMs ?? 3 * 60_000;
    let idleFired = false;
    this.lastEventAt = this.options.clock.now();
    const arm = () => {
      this.watchdog = this.options.clock.setTimer(idle, () => {
        const quietFor = this.options.clock.now() - this.lastEventAt;
        if (quietFor >= idle) {
          idleFired = true;
          this.watching = false;
          abort.abort();
        } else arm();
      });
    };
    arm();
    try {
      await this.options.source.watch(
        { resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
        (event) => this.apply(event),
        abort.signal,
        () => {
          // Established: the server answered. A stream that then delivers nothing is the watchdog's job.
          this.watching = true;
          this.failures = 0;
        },
      );
    } finally {
      this.watchdog?.cancel();
    }
    if (idleFired && !this.stopped) throw Object.assign(new Error(`no watch event for ${idle} ms`), { idle: true });
  }

  private apply(event: WatchEvent<T>): void {
    this.lastEventAt = this.options.clock.now();
    const rv = event.object.metadata?.resourceVersion;
    if (event.type === 'BOOKMARK') {
      if (rv) this.resourceVersion = rv;
      return;
    }
    const obj = this.options.transform ? this.options.transform(event.object) : event.object;
    const old = this.find(obj);
    if (event.type === 'DELETED') {
      if (old) this.remove(old);
      this.emit((handler) => handler.delete?.(old ?? obj));
    } else if (old && old.metadata?.resourceVersion === rv) {
      // already known (our own write-through, or a replay): nothing changed
    } else if (old && isNewer(old.metadata?.resourceVersion, rv)) {
      // an event older than what we already wrote through: ignore it
    } else {
      this.put(obj);
      this.emit((handler) => (old ? handler.update?.(old, obj) : handler.add?.(obj)));
    }
    if (rv) this.resourceVersion = rv;
  }

  /** The cached object with the same namespace and name as `obj`. */
  private find(obj: T): T | undefined {
    return this.getIn(obj.metadata?.namespace ?? '', obj.metadata?.name ?? '');
  }

  private put(obj: T): void {
    const ns = obj.metadata?.namespace ?? '';
    const name = obj.metadata?.name ?? '';
    const bucket = this.byNamespace.get(ns) ?? [];
    if (!Array.isArray(bucket)) {
      if (!bucket.has(name)) this.count++;
      bucket.set(name, obj);
      return;
    }
    // Arrays are replaced, never changed in place: a loop over listIn() is never disturbed.
    const index = bucket.findIndex((other) => other.metadata?.name === name);
    if (index >= 0) this.byNamespace.set(ns, bucket.with(index, obj));
    else {
      this.count++;
      this.byNamespace.set(
        ns,
        bucket.length < SMALL_BUCKET
          ? [...bucket, obj]
          : new Map([...bucket, obj].map((each) => [each.metadata?.name ?? '', each])),
      );
    }
  }

  private remove(obj: T): void {
    const ns = obj.metadata?.namespace ?? '';
    const name = obj.metadata?.name ?? '';
    const bucket = this.byNamespace.get(ns);
    if (!bucket) return;
    if (Array.isArray(bucket)) {
      const rest = bucket.filter((other) => other.metadata?.name !== name);
      if (rest.length === bucket.length) return;
      this.count--;
      if (rest.length > 0) this.byNamespace.set(ns, rest);
      else this.byNamespace.delete(ns);
    } else {
      if (bucket.delete(name)) this.count--;
      if (bucket.size === 0) this.byNamespace.delete(ns);
    }
  }

  private emit(fn: (h: InformerHandlers<T>) => void): void {
    for (const handler of this.handlers) {
      try {
        fn(handler);
      } catch (err) {
        this.options.logger.error({ informer: this.options.name, err: (err as Error).message }, 'event handler failed');
      }
    }
  }
}
