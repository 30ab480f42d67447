// Which keys an event on a watched object should wake. Cheap and conservative: when in doubt a key
// is queued, because a reconcile that finds nothing to do writes nothing.
import type { V1Namespace, V1Pod, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import {
  ANNOTATION_INJECTED,
  LABEL_CREDENTIAL,
  type RegistryCredential,
  type RegistryCredentialSpec,
} from '../api/v1alpha1.js';
import { isNamespaceSelected, isServiceAccountSelected } from './desired.js';
import { isWaitingOnPull, toSlimPod } from './podrecovery.js';
import { credentialKey, namespaceKey } from './keys.js';
import { STATUS_DELAY_BASE_MS } from './timing.js';
import type { Caches } from './caches.js';
import { injectedBy, injectedFor } from './serviceaccounts.js';

export interface Enqueuer {
  add(key: string): void;
  addAfter(key: string, delayMs: number): void;
}

export interface MapperOptions {
  caches: Caches;
  queue: Enqueuer;
  specOf(credential: string): RegistryCredentialSpec | undefined;
  /** The source Secrets a spec reads (providers/). */
  sourceSecretNames(spec: RegistryCredentialSpec): string[];
  /** Delay for credential keys woken only to refresh status counts (default STATUS_DELAY_BASE_MS). */
  statusDelay?(credential: string): number;
}

export function registerMappers(options: MapperOptions): void {
  const { caches, queue } = options;
  const delay = (credential: string) => options.statusDelay?.(credential) ?? STATUS_DELAY_BASE_MS;
  const credentials = () => caches.credentials.list();

  caches.credentials.on({
    add: (cred) => queue.add(credentialKey(cred.metadata.name)),
    update: (old, cred) => {
      // Our own status writes come back as updates: only spec, deletion and finalizers matter.
      if (credentialChanged(old, cred)) queue.add(credentialKey(cred.metadata.name));
    },
    delete: (cred) => queue.add(credentialKey(cred.metadata.name)),
  });

  const onNamespace = (ns: V1Namespace) => {
    const name = ns.metadata!.name!;
    for (const cred of credentials()) {
      queue.add(namespaceKey(cred.metadata.name, name));
      // Counts are refreshed after a pause (statusDelay). A namespace joining the selection of a
      // Ready credential makes its status stale until then, so the namespace key, once it has
      // served the namespace, runs the recount at once when no other work is queued or in flight
      // (StatusPacer.namespaceChanged, statuspacing.ts): the recount never competes with the
      // namespace's own writes.
      queue.addAfter(credentialKey(cred.metadata.name), delay(cred.metadata.name));
    }
  };
  caches.namespaces.on({
    add: onNamespace,
    update: (old, ns) => {
      if (
        !sameJson(old.metadata?.labels, ns.metadata?.labels) ||
        old.status?.phase !== ns.status?.phase ||
        old.metadata?.deletionTimestamp !== ns.metadata?.deletionTimestamp
      )
        onNamespace(ns);
    },
    delete: () => {
      for (const cred of credentials()) queue.addAfter(credentialKey(cred.metadata.name), delay(cred.metadata.name));
    },
  });

  const onServiceAccount = (sa: V1ServiceAccount) => {
    const ns = sa.metadata!.namespace!;
    for (const cred of credentials()) {
      const spec = options.specOf(cred.metadata.name);
      if (!spec || isServiceAccountSelected(sa, spec) || injectedFor(sa, cred.metadata.name).length > 0)
        queue.add(namespaceKey(cred.metadata.name, ns));
    }
  };
  caches.serviceAccounts.on({
    add: onServiceAccount,
    update: (old, sa) => {
      // Labels matter for serviceAccountSelector: an SA relabelled in is selected now, one relabelled
      // out still carries our entry (injectedFor), so onServiceAccount queues its namespace either way.
      if (
        !sameJson(old.imagePullSecrets, sa.imagePullSecrets) ||
        old.metadata?.annotations?.[ANNOTATION_INJECTED] !== sa.metadata?.annotations?.[ANNOTATION_INJECTED] ||
        !sameJson(old.metadata?.labels, sa.metadata?.labels)
      )
        onServiceAccount(sa);
    },
    delete: onServiceAccount,
  });

  const onManagedSecret = (secret: V1Secret) => {
    const cred = secret.metadata?.labels?.[LABEL_CREDENTIAL];
    if (cred) queue.add(namespaceKey(cred, secret.metadata!.namespace!));
  };
  caches.managedSecrets.on({
    add: onManagedSecret,
    update: (_old, secret) => onManagedSecret(secret),
    delete: onManagedSecret,
  });

  const onSourceSecret = (secret: V1Secret) => {
    const name = secret.metadata?.name ?? '';
    for (const cred of credentials()) {
      const spec = options.specOf(cred.metadata.name);
      if (!spec || options.sourceSecretNames(spec).includes(name)) queue.add(credentialKey(cred.metadata.name));
    }
  };
  caches.sourceSecrets.on({
    add: onSourceSecret,
    update: (_old, secret) => onSourceSecret(secret),
    delete: onSourceSecret,
  });

  // Stuck-pod recovery: a Pending Pod that waits on a pull wakes the namespace key of every
  // credential that recovers Pods there.
  const onPod = (pod: V1Pod) => {
    if (!isWaitingOnPull(toSlimPod(pod))) return;
    const ns = pod.metadata!.namespace!;
    const namespace = caches.namespaces.get(ns);
    for (const cred of credentials()) {
      const spec = options.specOf(cred.metadata.name);
      if (!spec?.podRecovery?.enabled || spec.suspend) continue;
      if (namespace && !isNamespaceSelected(namespace, spec)) continue;
      queue.add(namespaceKey(cred.metadata.name, ns));
    }
  };
  caches.pods.on({ add: onPod, update: (_old, pod) => onPod(pod) });
}

/** After a restart: every credential, and every namespace holding something of a credential that no longer exists. */
export function enqueueEverything(caches: Caches, queue: Enqueuer): void {
  const known = new Set<string>();
  for (const cred of caches.credentials.list()) {
    known.add(cred.metadata.name);
    queue.add(credentialKey(cred.metadata.name));
  }
  for (const secret of caches.managedSecrets.list()) {
    const cred = secret.metadata?.labels?.[LABEL_CREDENTIAL];
    if (cred && !known.has(cred)) queue.add(namespaceKey(cred, secret.metadata!.namespace!));
  }
  for (const sa of caches.serviceAccounts.list()) {
    for (const cred of new Set(Object.values(injectedBy(sa))))
      if (!known.has(cred)) queue.add(namespaceKey(cred, sa.metadata!.namespace!));
  }
}

function credentialChanged(old: RegistryCredential, current: RegistryCredential): boolean {
  return (
    old.metadata.generation !== current.metadata.generation ||
    old.metadata.deletionTimestamp !== current.metadata.deletionTimestamp ||
    !sameJson(old.metadata.finalizers, current.metadata.finalizers) ||
    old.metadata.uid !== current.metadata.uid
  );
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}
