// Stuck-pod recovery (spec.podRecovery), the decision: which Pods of a namespace are failing to
// pull only because they were created before their ServiceAccount carried this
// RegistryCredential's Secret, and what to do about each. Pure: the Pods come from the cache as
// slim copies, the caller evicts or records the Event.
//
// A Pod is recovered when all of these hold (docs/stuck-pods.md lists the same rules):
// - a container or init container is waiting with ErrImagePull or ImagePullBackOff;
// - that container's image is one this RegistryCredential serves, matched the way the kubelet
//   matches keys (host, port, path prefix, globs, docker.io normalization);
// - the Pod's ServiceAccount is one this RegistryCredential injects into, and now carries the Secret;
// - the Pod's own imagePullSecrets lack it (it was created before);
// - it has a controller owner (then: evict, its controller recreates it with the Secret); a bare
//   Pod is never deleted, it gets a Warning Event saying what to do.
import type { V1Pod } from '@kubernetes/client-node';
import { lookupCredentials } from '../registry/keyring.js';
import { parseImageReference } from '../registry/reference.js';
import type { ConditionInput } from './status.js';

/** What the operator keeps of a Pod (the cache holds only Pending Pods, and only these fields). */
export interface SlimPod {
  uid: string;
  namespace: string;
  name: string;
  serviceAccountName: string;
  imagePullSecrets: string[];
  /** kind/name of the controller owner (ReplicaSet, StatefulSet, DaemonSet, Job, ...), if any. */
  controller?: { kind: string; name: string };
  /** Every container and init container: its image, and its waiting reason if it waits. */
  containers: Array<{ name: string; image: string; waitingReason?: string }>;
}

export const PULL_FAILURE_REASONS = new Set(['ErrImagePull', 'ImagePullBackOff']);

/** The decision's view of a cached Pod. */
export function toSlimPod(pod: V1Pod): SlimPod {
  const waiting = new Map<string, string | undefined>();
  for (const status of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
    waiting.set(status.name, status.state?.waiting?.reason);
  }
  const controller = pod.metadata?.ownerReferences?.find((owner) => owner.controller);
  return {
    uid: pod.metadata?.uid ?? '',
    namespace: pod.metadata?.namespace ?? '',
    name: pod.metadata?.name ?? '',
    serviceAccountName: pod.spec?.serviceAccountName ?? 'default',
    imagePullSecrets: (pod.spec?.imagePullSecrets ?? []).map((reference) => reference.name ?? ''),
    ...(controller ? { controller: { kind: controller.kind, name: controller.name } } : {}),
    containers: [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((container) => ({
      name: container.name,
      image: container.image ?? '',
      ...(waiting.get(container.name) ? { waitingReason: waiting.get(container.name) } : {}),
    })),
  };
}

export type RecoveryAction =
  { kind: 'evict'; pod: SlimPod; images: string[] } | { kind: 'warnBarePod'; pod: SlimPod; images: string[] };

export interface RecoveryInput {
  /** The Pods of one selected namespace. */
  pods: SlimPod[];
  /** This RegistryCredential's Secret name in the namespace. */
  secretName: string;
  /** The `auths` keys of its document (what the kubelet would match images against). */
  servers: string[];
  /** ServiceAccounts of the namespace that this RegistryCredential injects into and that carry the Secret now. */
  carryingServiceAccounts: ReadonlySet<string>;
  /** Pod uids already acted on (evicted or warned): at most once per Pod. */
  handled: ReadonlySet<string>;
}

/** The Pods to recover in one namespace, in a stable order (by name). */
export function podsToRecover(input: RecoveryInput): RecoveryAction[] {
  const actions: RecoveryAction[] = [];
  const entries = input.servers.map((key) => ({ key, value: key }));
  for (const pod of [...input.pods].sort((a, b) => a.name.localeCompare(b.name))) {
    if (input.handled.has(pod.uid)) continue;
    if (pod.imagePullSecrets.includes(input.secretName)) continue;
    if (!input.carryingServiceAccounts.has(pod.serviceAccountName)) continue;
    const images = pod.containers
      .filter((container) => container.waitingReason !== undefined && PULL_FAILURE_REASONS.has(container.waitingReason))
      .map((container) => container.image)
      .filter((image) => servedImage(image, entries));
    if (images.length === 0) continue;
    actions.push(pod.controller ? { kind: 'evict', pod, images } : { kind: 'warnBarePod', pod, images });
  }
  return actions;
}

/** Is the Pod worth keeping in the cache at all (something waits on a pull)? */
export function isWaitingOnPull(pod: SlimPod): boolean {
  return pod.containers.some(
    (container) => container.waitingReason !== undefined && PULL_FAILURE_REASONS.has(container.waitingReason),
  );
}

function servedImage(image: string, entries: Array<{ key: string; value: string }>): boolean {
  try {
    return lookupCredentials(entries, parseImageReference(image).repository).length > 0;
  } catch {
    return false; // an invalid image name fails with InvalidImageName, not a pull error
  }
}

/**
 * A per-RegistryCredential budget of evictions per minute (a sliding window over the last 60 s,
 * from the injected clock's milliseconds).
 */
export class EvictionBudget {
  private readonly taken = new Map<string, number[]>();

  constructor(private readonly windowMs = 60_000) {}

  /** Take one from the credential's budget of `perMinute`; false when it is spent. */
  take(credential: string, perMinute: number, now: number): boolean {
    const recent = (this.taken.get(credential) ?? []).filter((time) => now - time < this.windowMs);
    if (recent.length >= perMinute) {
      this.taken.set(credential, recent);
      return false;
    }
    recent.push(now);
    this.taken.set(credential, recent);
    return true;
  }

  /** When the next one becomes available (ms from now), 0 when available now. */
  waitMs(credential: string, perMinute: number, now: number): number {
    const recent = (this.taken.get(credential) ?? []).filter((time) => now - time < this.windowMs);
    if (recent.length < perMinute) return 0;
    return recent[recent.length - perMinute] + this.windowMs - now;
  }

  forget(credential: string): void {
    this.taken.delete(credential);
  }
}

/** How long before a Pod whose eviction a PodDisruptionBudget refused is tried again. */
export const EVICTION_RETRY_MS = 30_000;

/** What the pod-recovery controller reports of one credential (the readiness controller reads it). */
export interface PodRecoverySnapshot {
  recoveredPods: number;
  /** Evictions a PodDisruptionBudget refused, by message. */
  blocked: readonly string[];
}

/** The PodRecovery condition: False while a PodDisruptionBudget refuses an eviction. */
export function podRecoveryStatus(snapshot: PodRecoverySnapshot): { condition: ConditionInput; recoveredPods: number } {
  const blocked = [...snapshot.blocked].sort((a, b) => a.localeCompare(b));
  const { recoveredPods } = snapshot;
  const evicted = `${recoveredPods} Pod${recoveredPods === 1 ? '' : 's'} evicted so far`;
  const condition: ConditionInput = blocked.length
    ? {
        type: 'PodRecovery',
        status: 'False',
        reason: 'EvictionBlocked',
        message:
          `${blocked.length} eviction${blocked.length === 1 ? '' : 's'} refused, ` +
          `retried every ${EVICTION_RETRY_MS / 1000} s; ` +
          `first: ${blocked[0]} (${evicted})`,
      }
    : { type: 'PodRecovery', status: 'True', reason: 'Enabled', message: evicted };
  return { condition, recoveredPods };
}
