// Work-queue keys, one kind per controller (the kind is also the `kind` label of the reconcile
// metrics and the `name` of the work-queue metrics). Names cannot contain "/".
//   c/<credential>        credentialcontroller.ts: sources, finalizer, fan-out
//   n/<credential>/<ns>   namespacecontroller.ts: converge or clean one namespace
//   p/<credential>/<ns>   podrecoverycontroller.ts: recover the stuck Pods of one namespace
//   r/<credential>        readinesscontroller.ts: counts, verification rows, conditions, status

export type Key =
  | { kind: 'credential'; credential: string }
  | { kind: 'namespace'; credential: string; namespace: string }
  | { kind: 'podRecovery'; credential: string; namespace: string }
  | { kind: 'readiness'; credential: string };

/** What queues keys (the work queue, as the controllers and mappers see it). */
export interface Enqueuer {
  add(key: string): void;
  addAfter(key: string, delayMs: number): void;
}

export type KeyKind = Key['kind'];

export const KEY_KINDS: readonly KeyKind[] = ['credential', 'namespace', 'podRecovery', 'readiness'];

export const credentialKey = (credential: string): string => `c/${credential}`;
export const namespaceKey = (credential: string, namespace: string): string => `n/${credential}/${namespace}`;
export const podRecoveryKey = (credential: string, namespace: string): string => `p/${credential}/${namespace}`;
export const readinessKey = (credential: string): string => `r/${credential}`;

export function parseKey(key: string): Key {
  const [kind, credential = '', namespace = ''] = key.split('/');
  if (kind === 'n') return { kind: 'namespace', credential, namespace };
  if (kind === 'p') return { kind: 'podRecovery', credential, namespace };
  if (kind === 'r') return { kind: 'readiness', credential };
  return { kind: 'credential', credential };
}

/** The kind of a key, without parsing its names. */
export function kindOf(key: string): KeyKind {
  return parseKey(key).kind;
}
