// A list-and-watch cache of one kind of object, with the robustness client-node's own informer
// lacks: it never stops by itself. A watch that ends is resumed from the last resourceVersion, a
// 410 Gone triggers a relist (diffed against the cache, so handlers see only real changes), any
// other failure restarts with exponential backoff, and a watchdog restarts a watch that stays open
// but delivers nothing (not even a bookmark) for too long.
import type { Logger } from 'pino';
import type { KubeClient, WatchEvent } from '../k8s/client.js';
import { isKubeError, retryAfterMs } from '../k8s/errors.js';
import type { Clock, Timer } from './clock.js';

export interface KubeObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export interface InformerHandlers<T> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  delete?(obj: T): void;
}

export interface InformerOptions<T> {
  name: string;
  client: KubeClient;
  /** Collection path, e.g. /api/v1/namespaces or /api/v1/namespaces/ops/secrets. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
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
  private readonly store = new Map<string, T>();
  private readonly byNamespace = new Map<string, Map<string, T>>();
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

  constructor(private readonly opts: InformerOptions<T>) {}

  on(handlers: InformerHandlers<T>): void {
    this.handlers.push(handlers);
  }

  get name(): string {
    return this.opts.name;
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

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  getIn(namespace: string, name: string): T | undefined {
    return this.byNamespace.get(namespace)?.get(name);
  }

  list(): IterableIterator<T> {
    return this.store.values();
  }

  listIn(namespace: string): Iterable<T> {
    return this.byNamespace.get(namespace)?.values() ?? [];
  }

  size(): number {
    return this.store.size;
  }

  /**
   * Write-through after our own successful write, so the next reconcile does not act on the
   * stale copy before the watch event arrives. Only a newer resourceVersion replaces the cache;
   * handlers are not called (the writer already knows) and the later watch event is a no-op.
   */
  noteWritten(obj: T): void {
    const transformed = this.opts.transform ? this.opts.transform(obj) : obj;
    const key = objectKey(transformed);
    const current = this.store.get(key);
    if (!current || isNewer(transformed.metadata?.resourceVersion, current.metadata?.resourceVersion)) this.put(key, transformed);
  }

  /** Removes an object we just deleted; the watch's DELETED event then finds nothing to do. */
  noteDeleted(key: string): void {
    const obj = this.store.get(key);
    if (obj) this.remove(key, obj);
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
        const gone = isKubeError(err, 'Gone');
        if (gone) needList = true;
        this.failures++;
        // The backoff grows only while nothing works: a watch that was established, or a re-list
        // that succeeded, resets it (watchOnce / relist set failures to 0). A server's Retry-After
        // is a floor.
        const backoff = gone ? 0 : Math.min(30_000, 250 * 2 ** Math.min(this.failures, 8)) * (0.5 + Math.random() / 2);
        const delay = Math.max(backoff, Math.min(retryAfterMs(err) ?? 0, 30_000));
        const reason = gone ? 'Gone' : (err as { idle?: boolean }).idle ? 'Idle' : isKubeError(err) ? err.kind : 'StreamError';
        this.opts.onRestart?.(this.opts.name, reason);
        this.opts.logger.warn({ informer: this.opts.name, reason, err: (err as Error).message, retryInMs: Math.round(delay) }, 'watch failed; restarting');
        if (delay > 0) await new Promise<void>((resolve) => this.opts.clock.setTimer(delay, resolve));
      }
    }
    this.watching = false;
  }

  private async relist(): Promise<void> {
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.opts.client.request<{ items: T[]; metadata: { resourceVersion: string; continue?: string } }>({
        method: 'GET',
        path: this.opts.path,
        query: { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector, limit: this.opts.pageSize ?? 500, continue: cont },
        sensitive: true,
      });
      for (const item of page.items) {
        const obj = this.opts.transform ? this.opts.transform(item) : item;
        fresh.set(objectKey(obj), obj);
      }
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (cont);
    // Replace the cache and tell handlers only what changed since the previous list.
    for (const [key, old] of [...this.store]) {
      if (!fresh.has(key)) {
        this.remove(key, old);
        this.emit((h) => h.delete?.(old));
      }
    }
    for (const [key, obj] of fresh) {
      const old = this.store.get(key);
      if (old && old.metadata?.resourceVersion === obj.metadata?.resourceVersion) continue;
      this.put(key, obj);
      this.emit((h) => (old ? h.update?.(old, obj) : h.add?.(obj)));
    }
    this.resourceVersion = rv;
    this.failures = 0;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private async watchOnce(): Promise<void> {
    const abort = new AbortController();
    this.abort = abort;
    const base = this.opts.watchTimeoutSeconds ?? 300;
    const timeoutSeconds = Math.floor(base + Math.random() * base);
    const idle = this.opts.idleTimeoutMs ?? 3 * 60_000;
    let idleFired = false;
    this.lastEventAt = this.opts.clock.now();
    const arm = () => {
      this.watchdog = this.opts.clock.setTimer(idle, () => {
        const quietFor = this.opts.clock.now() - this.lastEventAt;
        if (quietFor >= idle) {
          idleFired = true;
          this.watching = false;
          abort.abort();
        } else arm();
      });
    };
    arm();
    try {
      await this.opts.client.watch<T>(
        this.opts.path,
        {
          labelSelector: this.opts.labelSelector,
          fieldSelector: this.opts.fieldSelector,
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds,
        },
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
    this.lastEventAt = this.opts.clock.now();
    const rv = event.object.metadata?.resourceVersion;
    if (event.type === 'BOOKMARK') {
      if (rv) this.resourceVersion = rv;
      return;
    }
    const obj = this.opts.transform ? this.opts.transform(event.object) : event.object;
    const key = objectKey(obj);
    const old = this.store.get(key);
    if (event.type === 'DELETED') {
      if (old) this.remove(key, old);
      this.emit((h) => h.delete?.(old ?? obj));
    } else if (old && old.metadata?.resourceVersion === rv) {
      // already known (our own write-through, or a replay): nothing changed
    } else if (old && isNewer(old.metadata?.resourceVersion, rv)) {
      // an event older than what we already wrote through: ignore it
    } else {
      this.put(key, obj);
      this.emit((h) => (old ? h.update?.(old, obj) : h.add?.(obj)));
    }
    if (rv) this.resourceVersion = rv;
  }

  private put(key: string, obj: T): void {
    this.store.set(key, obj);
    const ns = obj.metadata?.namespace ?? '';
    let inNs = this.byNamespace.get(ns);
    if (!inNs) this.byNamespace.set(ns, (inNs = new Map()));
    inNs.set(obj.metadata?.name ?? '', obj);
  }

  private remove(key: string, obj: T): void {
    this.store.delete(key);
    const ns = obj.metadata?.namespace ?? '';
    const inNs = this.byNamespace.get(ns);
    inNs?.delete(obj.metadata?.name ?? '');
    if (inNs && inNs.size === 0) this.byNamespace.delete(ns);
  }

  private emit(fn: (h: InformerHandlers<T>) => void): void {
    for (const h of this.handlers) {
      try {
        fn(h);
      } catch (err) {
        this.opts.logger.error({ informer: this.opts.name, err: (err as Error).message }, 'event handler failed');
      }
    }
  }
}
