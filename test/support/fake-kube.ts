// An in-memory API server behind the operator's KubeApi interface (REST and watch), for
// in-process tests of the informer, the reconciler and the whole operator. It keeps what the
// operator relies on from the real one:
// - one resourceVersion counter for everything (etcd's revision), a new one on every write;
// - optimistic concurrency: a PUT, or a merge patch carrying metadata.resourceVersion, on an
//   object that changed since answers 409 Conflict; a create of an existing name 409
//   AlreadyExists; DELETE preconditions (uid, resourceVersion) 409 Conflict;
// - watches from a resourceVersion: the events since then, then live ones; a resourceVersion
//   older than the last compaction answers 410 Gone;
// - the status subresource of RegistryCredentials (the main resource ignores status, /status
//   changes only status), generation bumped on a spec change, finalizers holding a deletion;
// - paginated lists (limit / continue) and equality label selectors.
// Errors are built by k8s/errors.ts from a Status body, as the REST client builds them.
// Time comes from a FakeClock; nothing here sleeps. Faults are injected per request (failNext),
// and `beforeRequest` lets a test act as a concurrent editor at the exact moment of a request.
import { randomUUID } from 'node:crypto';
import type { KubeApi, RequestOptions, WatchQuery } from '../../src/k8s/client.js';
import { type KubeApiError, kubeErrorFromResponse } from '../../src/k8s/errors.js';
import type { WatchEvent } from '../../src/runtime/informer.js';
import type { FakeClock } from './fake-clock.js';

export interface StoredObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    generateName?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
    creationTimestamp?: string;
    ownerReferences?: unknown[];
  };
  [field: string]: unknown;
}

/** Where a path points: a collection (name undefined) or one object, maybe a subresource. */
export interface Target {
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

interface HistoryEntry {
  resourceVersion: number;
  resource: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: StoredObject;
}

interface Watcher {
  target: Target;
  labelSelector?: string;
  onEvent: (event: WatchEvent<StoredObject>) => void;
  end: () => void;
}

export interface RecordedRequest {
  method: string;
  path: string;
  target: Target;
}

/** A fault for the next matching request (or watch). */
export interface Fault {
  match: (request: RecordedRequest) => boolean;
  error: () => KubeApiError;
}

const CLUSTER_SCOPED = new Set(['namespaces', 'registrycredentials']);
/** Resources whose spec changes bump metadata.generation and that have a status subresource. */
const WITH_STATUS = new Set(['registrycredentials']);

export function parsePath(path: string): Target {
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  const rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  if (rest[0] === 'namespaces' && rest.length >= 3)
    return {
      namespace: rest[1],
      resource: rest[2]!,
      name: rest[3] && decodeURIComponent(rest[3]),
      subresource: rest[4],
    };
  return { resource: rest[0] ?? '', name: rest[1] && decodeURIComponent(rest[1]), subresource: rest[2] };
}

/** An API error as the REST client would have built it from the server's answer. */
export function apiError(
  code: number,
  reason: string,
  options: { message?: string; retryAfterSeconds?: number } = {},
): KubeApiError {
  const body = JSON.stringify({ kind: 'Status', code, reason, message: options.message ?? reason });
  return kubeErrorFromResponse(code, body, `fake ${reason}`, false, options.retryAfterSeconds?.toString());
}

export class FakeKube implements KubeApi {
  private readonly objects = new Map<string, Map<string, StoredObject>>();
  private readonly history: HistoryEntry[] = [];
  private readonly watchers = new Set<Watcher>();
  private revision = 1;
  /** Watches from a resourceVersion at or below this answer 410 Gone. */
  private compactedAt = 0;
  private readonly faults: Fault[] = [];
  /** Every request and watch, in order. */
  readonly requests: RecordedRequest[] = [];
  /** Called before each request is served: a test acts as another client at that moment. */
  beforeRequest?: (request: RecordedRequest) => void;
  /** When set, watches are established but deliver nothing (a stalled stream). */
  silentWatches = false;

  constructor(private readonly clock: FakeClock) {}

  // ---- what a test does as another client (events are delivered to watches) -------------------

  /** Creates or replaces an object as another client would; returns the stored copy. */
  put(resource: string, object: StoredObject): StoredObject {
    const existing = this.find(resource, object.metadata.namespace, object.metadata.name);
    if (!existing) return this.store(resource, 'ADDED', this.fresh(resource, object));
    const next = clone(object);
    next.metadata = { ...existing.metadata, ...next.metadata, uid: existing.metadata.uid };
    if (WITH_STATUS.has(resource)) {
      next.status ??= existing.status;
      this.bumpGeneration(existing, next);
    }
    return this.store(resource, 'MODIFIED', next);
  }

  /** Deletes an object as another client would (finalizers hold it, as on the real server). */
  remove(resource: string, namespace: string | undefined, name: string): void {
    const existing = this.find(resource, namespace, name);
    if (existing) this.deleteObject(resource, existing);
  }

  get(resource: string, namespace: string | undefined, name: string): StoredObject | undefined {
    const found = this.find(resource, namespace, name);
    return found && clone(found);
  }

  list(resource: string, namespace?: string): StoredObject[] {
    return [...(this.objects.get(resource)?.values() ?? [])]
      .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
      .map(clone);
  }

  /** Forgets the event history: a watch from an older resourceVersion now gets 410 Gone. */
  compact(): void {
    this.compactedAt = this.revision;
    this.history.length = 0;
  }

  /** Ends every open watch, as the server does at its timeout or when a connection drops. */
  endWatches(): void {
    for (const watcher of [...this.watchers]) watcher.end();
  }

  openWatches(): number {
    return this.watchers.size;
  }

  failNext(match: (request: RecordedRequest) => boolean, error: () => KubeApiError, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push({ match, error });
  }

  currentResourceVersion(): string {
    return String(this.revision);
  }

  // ---- KubeApi -------------------------------------------------------------------------------

  async request<T>(req: RequestOptions): Promise<T> {
    const target = parsePath(req.path);
    const recorded = { method: req.method, path: req.path, target };
    this.requests.push(recorded);
    this.beforeRequest?.(recorded);
    this.injectFault(recorded);
    const result = this.serve(req, target);
    return clone(result) as T;
  }

  watch<T>(
    path: string,
    query: WatchQuery,
    onEvent: (event: WatchEvent<T>) => void,
    signal: AbortSignal,
    onOpen?: () => void,
  ): Promise<void> {
    const target = parsePath(path);
    const recorded = { method: 'WATCH', path, target };
    this.requests.push(recorded);
    try {
      this.beforeRequest?.(recorded);
      this.injectFault(recorded);
    } catch (err) {
      return Promise.reject(err);
    }
    const from = Number(query.resourceVersion ?? 0);
    if (from && from < this.compactedAt)
      return Promise.reject(
        apiError(410, 'Expired', { message: `too old resource version: ${from} (${this.compactedAt})` }),
      );
    if (signal.aborted) return Promise.resolve();
    const labelSelector = query.labelSelector === undefined ? undefined : String(query.labelSelector);
    return new Promise<void>((resolve) => {
      const deliver = onEvent as (event: WatchEvent<StoredObject>) => void;
      const watcher: Watcher = {
        target,
        labelSelector,
        onEvent: (event) => queueMicrotask(() => this.watchers.has(watcher) && !this.silentWatches && deliver(event)),
        end: () => {
          this.watchers.delete(watcher);
          signal.removeEventListener('abort', watcher.end);
          resolve();
        },
      };
      signal.addEventListener('abort', watcher.end, { once: true });
      this.watchers.add(watcher);
      onOpen?.();
      for (const entry of this.history) {
        if (entry.resourceVersion > from && this.matches(watcher, entry.resource, entry.object))
          watcher.onEvent({ type: entry.type, object: clone(entry.object) });
      }
    });
  }

  // ---- serving -------------------------------------------------------------------------------

  private serve(req: RequestOptions, target: Target): unknown {
    const { resource, namespace, name, subresource } = target;
    switch (req.method) {
      case 'GET': {
        if (name === undefined) return this.listPage(target, req.query ?? {});
        const found = this.find(resource, namespace, name);
        if (!found) throw apiError(404, 'NotFound', { message: `${resource} "${name}" not found` });
        return found;
      }
      case 'POST': {
        if (resource === 'pods' && subresource === 'eviction') return this.evict(target, req.body);
        const body = clone(req.body as StoredObject);
        body.metadata = { ...body.metadata, namespace: CLUSTER_SCOPED.has(resource) ? undefined : namespace };
        if (!body.metadata.name && body.metadata.generateName)
          body.metadata.name = `${body.metadata.generateName}${randomUUID().slice(0, 5)}`;
        if (this.find(resource, namespace, body.metadata.name))
          throw apiError(409, 'AlreadyExists', { message: `${resource} "${body.metadata.name}" already exists` });
        return this.store(resource, 'ADDED', this.fresh(resource, body));
      }
      case 'PUT': {
        const existing = this.existing(target);
        const body = clone(req.body as StoredObject);
        this.checkVersion(existing, body.metadata?.resourceVersion);
        const next: StoredObject = {
          ...body,
          metadata: {
            ...body.metadata,
            uid: existing.metadata.uid,
            namespace: existing.metadata.namespace,
            creationTimestamp: existing.metadata.creationTimestamp,
          },
        };
        return this.update(resource, subresource, existing, next);
      }
      case 'PATCH': {
        if (req.contentType !== 'application/merge-patch+json')
          throw apiError(415, 'UnsupportedMediaType', {
            message: `the fake serves merge patches only, not ${req.contentType}`,
          });
        const existing = this.existing(target);
        const patch = clone(req.body) as { metadata?: { resourceVersion?: string } };
        this.checkVersion(existing, patch.metadata?.resourceVersion);
        const merged = mergePatch(existing, patch) as StoredObject;
        merged.metadata = {
          ...merged.metadata,
          name: existing.metadata.name,
          namespace: existing.metadata.namespace,
          uid: existing.metadata.uid,
        };
        return this.update(resource, subresource, existing, merged);
      }
      case 'DELETE': {
        const existing = this.existing(target);
        const preconditions = (req.body as { preconditions?: { uid?: string; resourceVersion?: string } } | undefined)
          ?.preconditions;
        if (preconditions?.uid && preconditions.uid !== existing.metadata.uid)
          throw apiError(409, 'Conflict', { message: 'Precondition failed: UID in precondition does not match' });
        if (preconditions?.resourceVersion && preconditions.resourceVersion !== existing.metadata.resourceVersion) {
          throw apiError(409, 'Conflict', {
            message: 'Precondition failed: ResourceVersion in precondition does not match',
          });
        }
        this.deleteObject(resource, existing);
        return { kind: 'Status', status: 'Success' };
      }
    }
  }

  /** The Eviction API, without PodDisruptionBudgets (inject a 429 with failNext to play one). */
  private evict(target: Target, body: unknown): unknown {
    const existing = this.existing(target);
    const uid = (body as { deleteOptions?: { preconditions?: { uid?: string } } }).deleteOptions?.preconditions?.uid;
    if (uid && uid !== existing.metadata.uid)
      throw apiError(409, 'Conflict', { message: 'Precondition failed: UID in precondition does not match' });
    this.deleteObject('pods', existing);
    return { kind: 'Status', status: 'Success', code: 201 };
  }

  private listPage(target: Target, query: Record<string, string | number | boolean | undefined>): unknown {
    const all = [...(this.objects.get(target.resource)?.values() ?? [])]
      .filter((o) => target.namespace === undefined || o.metadata.namespace === target.namespace)
      .filter((o) => matchesLabels(o, query.labelSelector === undefined ? undefined : String(query.labelSelector)))
      .sort((a, b) => objectKey(a).localeCompare(objectKey(b)));
    const start = Number(query.continue ?? 0);
    const limit = Number(query.limit ?? all.length) || all.length;
    const items = all.slice(start, start + limit);
    const next = start + limit < all.length ? String(start + limit) : undefined;
    return { items, metadata: { resourceVersion: String(this.revision), ...(next ? { continue: next } : {}) } };
  }

  private existing(target: Target): StoredObject {
    const found = target.name === undefined ? undefined : this.find(target.resource, target.namespace, target.name);
    if (!found) throw apiError(404, 'NotFound', { message: `${target.resource} "${target.name}" not found` });
    return found;
  }

  private checkVersion(existing: StoredObject, resourceVersion: string | undefined): void {
    if (resourceVersion && resourceVersion !== existing.metadata.resourceVersion) {
      throw apiError(409, 'Conflict', {
        message: 'the object has been modified; please apply your changes to the latest version and try again',
      });
    }
  }

  private bumpGeneration(existing: StoredObject, next: StoredObject): void {
    const changed = JSON.stringify(existing.spec ?? null) !== JSON.stringify(next.spec ?? null);
    next.metadata.generation = (existing.metadata.generation ?? 1) + (changed ? 1 : 0);
  }

  /**
   * Stores an update (PUT or merge patch). With a status subresource, /status changes only the
   * status and the main resource never does; a spec change bumps the generation. An update that
   * removed the last finalizer of an object being deleted deletes it.
   */
  private update(
    resource: string,
    subresource: string | undefined,
    existing: StoredObject,
    next: StoredObject,
  ): StoredObject {
    if (WITH_STATUS.has(resource)) {
      if (subresource === 'status') return this.store(resource, 'MODIFIED', { ...existing, status: next.status });
      next.status = existing.status;
      this.bumpGeneration(existing, next);
    }
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) {
      this.store(resource, 'DELETED', next);
      return next;
    }
    return this.store(resource, 'MODIFIED', next);
  }

  private deleteObject(resource: string, existing: StoredObject): void {
    if ((existing.metadata.finalizers ?? []).length > 0) {
      if (!existing.metadata.deletionTimestamp) {
        this.store(resource, 'MODIFIED', {
          ...existing,
          metadata: { ...existing.metadata, deletionTimestamp: new Date(this.clock.now()).toISOString() },
        });
      }
      return;
    }
    this.store(resource, 'DELETED', existing);
  }

  private fresh(resource: string, object: StoredObject): StoredObject {
    const created = clone(object);
    created.metadata = {
      ...created.metadata,
      uid: created.metadata.uid ?? randomUUID(),
      creationTimestamp: new Date(this.clock.now()).toISOString(),
      ...(WITH_STATUS.has(resource) ? { generation: 1 } : {}),
    };
    if (resource === 'namespaces') created.status = { phase: 'Active', ...(created.status as object | undefined) };
    return created;
  }

  private store(resource: string, type: HistoryEntry['type'], object: StoredObject): StoredObject {
    this.revision++;
    const stored = clone(object);
    stored.metadata.resourceVersion = String(this.revision);
    let byKey = this.objects.get(resource);
    if (!byKey) this.objects.set(resource, (byKey = new Map()));
    if (type === 'DELETED') byKey.delete(objectKey(stored));
    else byKey.set(objectKey(stored), stored);
    const entry = { resourceVersion: this.revision, resource, type, object: stored };
    this.history.push(entry);
    for (const watcher of this.watchers)
      if (this.matches(watcher, resource, stored)) watcher.onEvent({ type, object: clone(stored) });
    return stored;
  }

  private find(resource: string, namespace: string | undefined, name: string | undefined): StoredObject | undefined {
    if (name === undefined) return undefined;
    return this.objects.get(resource)?.get(CLUSTER_SCOPED.has(resource) ? name : `${namespace}/${name}`);
  }

  private matches(watcher: Watcher, resource: string, object: StoredObject): boolean {
    if (watcher.target.resource !== resource) return false;
    if (watcher.target.namespace !== undefined && watcher.target.namespace !== object.metadata.namespace) return false;
    return matchesLabels(object, watcher.labelSelector);
  }

  private injectFault(request: RecordedRequest): void {
    const index = this.faults.findIndex((fault) => fault.match(request));
    if (index >= 0) throw this.faults.splice(index, 1)[0]!.error();
  }
}

function objectKey(object: StoredObject): string {
  return object.metadata.namespace ? `${object.metadata.namespace}/${object.metadata.name}` : object.metadata.name;
}

/** Equality selectors (`a=b,c=d`), the only kind the operator uses. */
function matchesLabels(object: StoredObject, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [key, value] = term.split('=');
    return object.metadata.labels?.[key!] === value;
  });
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const result: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

function clone<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}
