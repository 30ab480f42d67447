// Which keys an event on a watched object should wake. Cheap and conservative: when in doubt a key
// is queued, because a reconcile that finds nothing to do writes nothing. The mappers read the API
// objects (a credential's spec is parsed from its cached object, once per generation) and the
// credential controller's published decision; they remember nothing of the controllers.
// Stuck-pod recovery keys (p/) are queued here only: a Pending Pod that waits on a pull, a
// namespace its key has just converged (its ServiceAccounts carry the entry now), a credential
// decision that changes what is recovered. Each is queued only where a Pod waits on a pull.
import type { V1Namespace, V1Pod, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import {
  ANNOTATION_INJECTED,
  deliversSecrets,
  LABEL_CREDENTIAL,
  parseSpec,
  type RegistryCredential,
  type RegistryCredentialSpec,
} from '../api/v1alpha1.js';
import type { Caches } from './caches.js';
import type { CredentialDecision } from './credentialstate.js';
import { isNamespaceSelected, isServiceAccountSelected } from './desired.js';
import { credentialKey, type Enqueuer, namespaceKey, podRecoveryKey } from './keys.js';
import { isWaitingOnPull, toSlimPod } from './podrecovery.js';
import { injectedBy, injectedFor } from './serviceaccounts.js';

export interface MapperOptions {
  caches: Caches;
  queue: Enqueuer;
  /** The source Secrets a spec reads (providers/). */
  sourceSecretNames(spec: RegistryCredentialSpec): string[];
  /** The status counts of a credential may have changed: recounted after the pause (reporting.ts). */
  statusMayChange(credential: string): void;
  /** Subscribes to the credential controller's decisions (credentialcontroller.ts: onDecision). */
  onDecision?(listener: (credential: string, decision: CredentialDecision) => void): void;
  /** Subscribes to namespaces converged by their namespace key (namespacecontroller.ts: onConverged). */
  onNamespaceConverged?(listener: (credential: string, namespace: string) => void): void;
}

/** The spec of a cached credential object, parsed once per uid and generation (undefined: invalid). */
export function specReader(): (cred: RegistryCredential) => RegistryCredentialSpec | undefined {
  const parsed = new Map<string, { version: string; spec?: RegistryCredentialSpec }>();
  return (cred) => {
    const version = `${cred.metadata.uid}/${cred.metadata.generation ?? 0}`;
    let entry = parsed.get(cred.metadata.name);
    if (!entry || entry.version !== version) {
      const result = parseSpec(cred.spec);
      parsed.set(cred.metadata.name, (entry = { version, spec: result.ok ? result.spec : undefined }));
    }
    return entry.spec;
  };
}

/** Whether the credential recovers stuck Pods in this namespace (an unknown namespace: maybe). */
function recoversIn(spec: RegistryCredentialSpec | undefined, namespace: V1Namespace | undefined): boolean {
  if (!spec?.podRecovery?.enabled || spec.suspend || !deliversSecrets(spec)) return false;
  return !namespace || isNamespaceSelected(namespace, spec);
}

export function registerMappers(options: MapperOptions): void {
  const { caches, queue } = options;
  const specOf = specReader();
  const credentials = () => caches.credentials.list();
  const hasPodsWaitingOnPull = (namespace: string) => {
    for (const pod of caches.pods.listIn(namespace)) if (isWaitingOnPull(toSlimPod(pod))) return true;
    return false;
  };

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
      // Counts are refreshed after a pause; once the namespace key has served the namespace, the
      // recount runs at once when the burst of work ends (reporting.ts): it never competes with the
      // namespace's own writes.
      options.statusMayChange(cred.metadata.name);
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
      for (const cred of credentials()) options.statusMayChange(cred.metadata.name);
    },
  });

  const onServiceAccount = (sa: V1ServiceAccount) => {
    const ns = sa.metadata!.namespace!;
    for (const cred of credentials()) {
      const spec = specOf(cred);
      if (!spec || isServiceAccountSelected(sa, spec) || injectedFor(sa, cred.metadata.name).length > 0)
        queue.add(namespaceKey(cred.metadata.name, ns));
    }
  };
  caches.serviceAccounts.on({
    add: (sa) => {
      // A namespace's first ServiceAccount: its keys may wait for it (namespacecontroller.ts:
      // firstServiceAccountWait), whichever ServiceAccounts they select.
      if (isOnly(caches.serviceAccounts.listIn(sa.metadata!.namespace!))) {
        for (const cred of credentials()) queue.add(namespaceKey(cred.metadata.name, sa.metadata!.namespace!));
      } else onServiceAccount(sa);
    },
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
      const spec = specOf(cred);
      if (!spec || options.sourceSecretNames(spec).includes(name)) queue.add(credentialKey(cred.metadata.name));
    }
  };
  caches.sourceSecrets.on({
    add: onSourceSecret,
    update: (_old, secret) => onSourceSecret(secret),
    delete: onSourceSecret,
  });

  // Stuck-pod recovery: a Pending Pod that waits on a pull wakes the pod-recovery key of every
  // credential that recovers Pods there.
  const onPod = (pod: V1Pod) => {
    if (!isWaitingOnPull(toSlimPod(pod))) return;
    const ns = pod.metadata!.namespace!;
    const namespace = caches.namespaces.get(ns);
    for (const cred of credentials())
      if (recoversIn(specOf(cred), namespace)) queue.add(podRecoveryKey(cred.metadata.name, ns));
  };
  caches.pods.on({ add: onPod, update: (_old, pod) => onPod(pod) });

  // A converged namespace: its ServiceAccounts carry the entry now, which may unblock Pods created
  // before they did (our own writes' watch events carry no change: the cache has them already).
  options.onNamespaceConverged?.((credential, ns) => {
    const cred = caches.credentials.get(credential);
    if (cred && recoversIn(specOf(cred), caches.namespaces.get(ns)) && hasPodsWaitingOnPull(ns))
      queue.add(podRecoveryKey(credential, ns));
  });

  // A decision that changes what is recovered (a first one, podRecovery turned on, a new Secret
  // name or registry): every namespace with Pods waiting on a pull is looked at again.
  options.onDecision?.((credential, decision) => {
    if (!recoversIn(decision.spec, undefined)) return;
    const namespaces = new Set<string>();
    for (const pod of caches.pods.list()) if (isWaitingOnPull(toSlimPod(pod))) namespaces.add(pod.metadata!.namespace!);
    for (const ns of namespaces)
      if (recoversIn(decision.spec, caches.namespaces.get(ns))) queue.add(podRecoveryKey(credential, ns));
  });
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

function isOnly(items: Iterable<unknown>): boolean {
  let count = 0;
  for (const _ of items) if (++count > 1) return false;
  return count === 1;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}
