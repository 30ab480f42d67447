// Pure: what the caches keep of each object (the informers' transforms). Only the fields the
// controller reads, never managedFields, and the strings that repeat across thousands of objects
// (a namespace's name in each of its ServiceAccounts, the payload every copy of a credential
// carries, our record annotation) kept once: the caches are most of the heap, and grow with the cluster.
import type {
  V1ContainerStatus,
  V1Namespace,
  V1OwnerReference,
  V1Pod,
  V1Secret,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import type { KubeObject } from '../runtime/informer.js';

/**
 * Hands out one instance per distinct string among the last few hundred seen. Objects arrive
 * grouped (a list is ordered by namespace; the copies of a fan-out carry the same payload), so a
 * small table finds nearly every repeat; it is emptied when full, so it never grows with the cluster.
 */
export class StringPool {
  private readonly seen = new Map<string, string>();
  constructor(private readonly capacity = 256) {}

  share<S extends string | undefined>(value: S): S {
    if (value === undefined) return value;
    const known = this.seen.get(value);
    if (known !== undefined) return known as S;
    if (this.seen.size >= this.capacity) this.seen.clear();
    this.seen.set(value, value);
    return value;
  }

  /** The map with its values shared (a new object only when there is a map). */
  shareValues(map: Record<string, string> | undefined): Record<string, string> | undefined {
    if (map === undefined) return undefined;
    const out: Record<string, string> = {};
    for (const key in map) if (Object.prototype.hasOwnProperty.call(map, key)) out[key] = this.share(map[key]!);
    return out;
  }
}

/**
 * Hands out one frozen instance per distinct small value (a label or annotation map, a list of
 * pull secrets) among the last thousand seen, found by its content in JSON (unambiguous, whatever
 * the strings hold). Emptied when full, like StringPool.
 */
export class ValuePool {
  private readonly seen = new Map<string, unknown>();
  constructor(private readonly capacity = 1024) {}

  /** A map equal to `map`, shared and frozen. */
  map(map: Record<string, string> | undefined): Record<string, string> | undefined {
    if (map === undefined) return undefined;
    return this.share(`m${JSON.stringify(map)}`, () => ({ ...map }));
  }

  /** A list of references equal to `list` (names only), shared and frozen. */
  references(list: Array<{ name?: string }> | undefined): Array<{ name?: string }> | undefined {
    if (list === undefined) return undefined;
    return this.share(`r${JSON.stringify(list.map((entry) => entry.name ?? ''))}`, () =>
      list.map((entry) => Object.freeze({ name: entry.name })),
    );
  }

  /** Owner references equal to `owners`, shared and frozen. */
  owners(owners: V1OwnerReference[] | undefined): V1OwnerReference[] | undefined {
    if (owners === undefined) return undefined;
    return this.share(`o${JSON.stringify(owners)}`, () => owners.map((owner) => Object.freeze({ ...owner })));
  }

  private share<V extends object>(signature: string, make: () => V): V {
    const known = this.seen.get(signature);
    if (known !== undefined) return known as V;
    if (this.seen.size >= this.capacity) this.seen.clear();
    const value = Object.freeze(make());
    this.seen.set(signature, value);
    return value;
  }
}

/** The transforms of the caches, sharing strings and small values through their own pools. */
export function cacheTransforms() {
  // names and label or annotation values share one pool (a namespace's name is also its
  // kubernetes.io/metadata.name label); payloads have their own, so that names never push them out
  const strings = new StringPool(1024);
  const payloads = new StringPool(16);
  // label and annotation maps and pull-secret lists that many objects carry alike (every copy of a
  // credential; the ServiceAccounts it edited)
  const shared = new ValuePool();

  function withoutManagedFields<T extends KubeObject & { metadata?: { managedFields?: unknown } }>(obj: T): T {
    if (obj.metadata?.managedFields === undefined) return obj;
    return { ...obj, metadata: { ...obj.metadata, managedFields: undefined } };
  }

  function namespace(ns: V1Namespace): V1Namespace {
    const meta = ns.metadata ?? {};
    return {
      metadata: {
        name: strings.share(meta.name),
        resourceVersion: meta.resourceVersion,
        labels: strings.shareValues(meta.labels),
        deletionTimestamp: meta.deletionTimestamp,
      },
      status: shared.map(ns.status?.phase === undefined ? {} : { phase: ns.status.phase }),
    };
  }

  function serviceAccount(sa: V1ServiceAccount): V1ServiceAccount {
    const meta = sa.metadata ?? {};
    return {
      metadata: {
        name: meta.name,
        namespace: strings.share(meta.namespace),
        resourceVersion: meta.resourceVersion,
        labels: shared.map(meta.labels), // for serviceAccountSelector
        annotations: shared.map(meta.annotations),
      },
      imagePullSecrets: shared.references(sa.imagePullSecrets),
    };
  }

  /** A copy we manage: everything but managedFields, with its payload, labels and owner shared with its siblings. */
  function managedSecret(secret: V1Secret): V1Secret {
    const meta = secret.metadata ?? {};
    return {
      apiVersion: secret.apiVersion,
      kind: secret.kind,
      metadata: {
        ...meta,
        managedFields: undefined,
        namespace: strings.share(meta.namespace),
        labels: shared.map(meta.labels),
        annotations: shared.map(meta.annotations),
        ownerReferences: shared.owners(meta.ownerReferences),
      },
      type: strings.share(secret.type),
      data: secret.data && payloads.shareValues(secret.data),
      immutable: secret.immutable,
    };
  }

  return { withoutManagedFields, namespace, serviceAccount, managedSecret, pod: slimPod };
}

/** A Pending Pod as stuck-pod recovery needs it: who owns it, its SA and pull secrets, its images and why they wait. */
export function slimPod(pod: V1Pod): V1Pod {
  const meta = pod.metadata ?? {};
  const slimStatus = (statuses: V1ContainerStatus[] | undefined) =>
    statuses?.map((status) => ({
      name: status.name,
      image: status.image,
      imageID: '',
      ready: status.ready,
      restartCount: 0,
      state: status.state?.waiting ? { waiting: { reason: status.state.waiting.reason } } : {},
    }));
  const images = (containers: Array<{ name: string; image?: string }> | undefined) =>
    containers?.map((container) => ({ name: container.name, image: container.image }));
  return {
    metadata: {
      name: meta.name,
      namespace: meta.namespace,
      uid: meta.uid,
      resourceVersion: meta.resourceVersion,
      ownerReferences: meta.ownerReferences?.filter((owner) => owner.controller),
      deletionTimestamp: meta.deletionTimestamp,
    },
    spec: {
      serviceAccountName: pod.spec?.serviceAccountName,
      imagePullSecrets: pod.spec?.imagePullSecrets,
      containers: images(pod.spec?.containers) ?? [],
      initContainers: images(pod.spec?.initContainers),
    },
    status: {
      phase: pod.status?.phase,
      containerStatuses: slimStatus(pod.status?.containerStatuses),
      initContainerStatuses: slimStatus(pod.status?.initContainerStatuses),
    },
  };
}
