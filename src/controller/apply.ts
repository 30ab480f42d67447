// The writes of a namespace key, each guarded by optimistic concurrency, fed back into its cache
// (write-through, so the next reconcile does not act on a stale copy) and recorded for the
// credential's Events. What to write is decided by the pure functions of desired.ts and
// serviceaccounts.ts; this file only carries it out.
import type { V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { RegistryCredential } from '../api/v1alpha1.js';
import { isKubeError } from '../k8s/errors.js';
import type { Resources } from '../k8s/resources.js';
import type { Caches } from './caches.js';
import { isOwnedBy, secretUpdate } from './desired.js';
import { serviceAccountEdit } from './serviceaccounts.js';

/** A namespace cannot be converged for a reason only a human can fix. */
export class NamespaceFailureError extends Error {
  override readonly name = 'NamespaceFailureError';
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** Where a write is logged (the reconcile's logger) and recorded (the credential's change log). */
export interface WriteContext {
  logger: Logger;
  changes?: { recordChange(reason: string, where: string): void };
}

/** Conflicts on one ServiceAccount are retried this often within one reconcile. */
export const MAX_CONFLICT_RETRIES = 5;

/** The caches a writer feeds its writes back into (and reads a namespace's objects from). */
export type WrittenCaches = Pick<Caches, 'managedSecrets' | 'serviceAccounts'>;

export class NamespaceWriter {
  constructor(
    private readonly resources: Resources,
    private readonly caches: WrittenCaches,
  ) {}

  /** Creates the desired Secret, or updates ours to match it. */
  async ensureSecret(
    cred: RegistryCredential,
    desired: V1Secret,
    cached: V1Secret | undefined,
    context: WriteContext,
  ): Promise<{ secret: V1Secret; wrote: boolean }> {
    const { resources, caches } = this;
    const namespace = desired.metadata!.namespace!;
    const name = desired.metadata!.name!;
    let existing = cached;
    if (!existing) {
      try {
        const created = await resources.createSecret(desired);
        caches.managedSecrets.noteWritten(created);
        context.logger.info({ secret: name }, 'created Secret');
        context.changes?.recordChange('SecretCreated', namespace);
        return { secret: created, wrote: true };
      } catch (err) {
        if (!isKubeError(err, 'AlreadyExists')) throw err;
        // Not in our cache: either someone else's Secret, or ours with its labels edited away.
        existing = await resources.getSecret(namespace, name);
        if (!isOwnedBy(existing, cred)) {
          throw new NamespaceFailureError(
            'SecretConflict',
            `Secret ${name} already exists and is not managed by this RegistryCredential; it is left untouched`,
          );
        }
      }
    }
    const update = secretUpdate(existing, desired);
    if (!update) return { secret: existing, wrote: false };
    const updated = await resources.updateSecret(update);
    caches.managedSecrets.noteWritten(updated);
    context.logger.info({ secret: name }, 'updated Secret');
    context.changes?.recordChange('SecretUpdated', namespace);
    return { secret: updated, wrote: true };
  }

  /** Deletes exactly the Secret we decided on (preconditions on uid and resourceVersion). */
  async deleteSecret(secret: V1Secret, context: WriteContext): Promise<boolean> {
    const namespace = secret.metadata!.namespace!;
    const name = secret.metadata!.name!;
    try {
      await this.resources.deleteSecret(namespace, name, secret.metadata?.uid, secret.metadata?.resourceVersion);
    } catch (err) {
      if (!isKubeError(err, 'NotFound')) throw err;
    }
    this.caches.managedSecrets.noteDeleted(`${namespace}/${name}`);
    context.logger.info({ secret: name }, 'deleted Secret');
    context.changes?.recordChange('SecretDeleted', namespace);
    return true;
  }

  /** Removes this credential's Secrets and SA entries from a namespace. Returns whether anything was written. */
  async cleanNamespace(credential: string, uid: string, namespace: string, context: WriteContext): Promise<boolean> {
    const owner = { metadata: { name: credential, uid } };
    let wrote = false;
    for (const secret of [...this.caches.managedSecrets.listIn(namespace)]) {
      if (isOwnedBy(secret, owner)) wrote = (await this.deleteSecret(secret, context)) || wrote;
    }
    for (const serviceAccount of [...this.caches.serviceAccounts.listIn(namespace)]) {
      wrote = (await this.applyServiceAccount(serviceAccount, credential, undefined, context)) || wrote;
    }
    return wrote;
  }

  /**
   * Brings one SA's imagePullSecrets in line: our entry `wanted` (undefined: none of ours).
   * Read-modify-write guarded by resourceVersion. On a conflict (someone else edited the SA
   * meanwhile) the SA is read again and the edit recomputed, so their change stays.
   */
  async applyServiceAccount(
    serviceAccount: V1ServiceAccount,
    credential: string,
    wanted: string | undefined,
    context: WriteContext,
  ): Promise<boolean> {
    const { resources, caches } = this;
    const namespace = serviceAccount.metadata!.namespace!;
    const name = serviceAccount.metadata!.name!;
    let current = serviceAccount;
    for (let attempt = 0; ; attempt++) {
      const edit = serviceAccountEdit(current, credential, wanted);
      if (!edit) return false;
      try {
        const updated = await resources.patchServiceAccountPullSecrets(current, edit.imagePullSecrets, edit.injected);
        caches.serviceAccounts.noteWritten(updated);
        const removed = wanted === undefined;
        context.logger.info(
          { serviceAccount: name },
          removed ? 'removed pull secret from ServiceAccount' : 'added pull secret to ServiceAccount',
        );
        context.changes?.recordChange(removed ? 'PullSecretRemoved' : 'PullSecretAdded', `${namespace}/${name}`);
        return true;
      } catch (err) {
        if (isKubeError(err, 'NotFound')) return false;
        if (!isKubeError(err, 'Conflict') || attempt >= MAX_CONFLICT_RETRIES) throw err;
        try {
          current = await resources.getServiceAccount(namespace, name);
        } catch (getErr) {
          if (isKubeError(getErr, 'NotFound')) return false;
          throw getErr;
        }
        caches.serviceAccounts.noteWritten(current);
      }
    }
  }
}
